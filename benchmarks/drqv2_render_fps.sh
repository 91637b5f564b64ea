#!/usr/bin/env bash
# Software (CPU) rendering speed of an 84x84 DMC frame, as drqv2_reset_rule.py renders it (walker_walk, camera 0):
# Mesa's llvmpipe (the default behind MUJOCO_GL=egl without a GPU), its thread count, softpipe, and MuJoCo's
# shadow map (model.vis.quality.shadowsize, 2048 here) and 4x multisampling (offsamples), which --fast-render
# switches off. Each line: frames per second over N renders after a first (context-creating) render.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${N:-100}
bench() {
  python - "$n" "$@" <<'PY'
import os, sys, time
os.environ.setdefault("MUJOCO_GL", "egl")
from dm_control import suite
n, variant = int(sys.argv[1]), sys.argv[2]
env = suite.load("walker", "walk", task_kwargs={"random": 0})
env.reset()
vis = env.physics.model.vis
size = (240, 320) if variant == "240x320" else (84, 84)
if variant in ("no-shadows", "fast-render"):
    vis.quality.shadowsize = 0
if variant in ("no-multisampling", "fast-render"):
    vis.quality.offsamples = 0
t = time.time()
env.physics.render(*size, camera_id=0)
first = time.time() - t
t = time.time()
for _ in range(n):
    env.physics.render(*size, camera_id=0)
label = f"{variant} MUJOCO_GL={os.environ['MUJOCO_GL']} GALLIUM_DRIVER={os.environ.get('GALLIUM_DRIVER', '-')} " \
        f"LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', '-')}"
print(f"{label}: {n / (time.time() - t):.1f} frames/s (first render {first:.2f} s)", flush=True)
PY
}
bench default
LP_NUM_THREADS=1 bench default
LP_NUM_THREADS=0 bench default
GALLIUM_DRIVER=softpipe N=$((n / 5)) bench default
bench 240x320
bench no-shadows
bench no-multisampling
bench fast-render
if python -c "import ctypes.util, sys; sys.exit(ctypes.util.find_library('OSMesa') is None)"; then
  MUJOCO_GL=osmesa bench default
  MUJOCO_GL=osmesa bench fast-render
else
  echo "MUJOCO_GL=osmesa: libOSMesa is not installed (Debian: libosmesa6), not measured"
fi
