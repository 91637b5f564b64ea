"""Training frames per second of drqv2_reset_rule.py, with a per-phase breakdown and the OpenGL renderer in use.

1. renderer: a tiny MuJoCo context under MUJOCO_GL (egl unless set) prints GL_RENDERER; llvmpipe, softpipe or
   swrast means software rendering on the CPU (on a GPU machine, EGL should name the GPU);
2. frames/s: steady state between the script's per-episode `SPS` lines --window (seed phase and warm-up left
   out), runs alternated with the script at --ref if given; evaluation only at frame 0 (before the window) and
   the rule off (`--no-reset-rule`: with no evaluation it would never read), so the rate is training alone;
3. breakdown: a sampling profile of the real script over the same episodes (benchmarks/phase_profile.py: env step
   + render, act, replay sample, host-to-device copies, update, ...).

python benchmarks/drqv2_fps.py --env-id walker_walk --window 6 16
"""

import argparse
import os
import re
import shlex
import subprocess
import sys

import sps

SCRIPT = sps.ROOT / "drqv2_reset_rule.py"
PROBE = """import mujoco
context = mujoco.GLContext(64, 64)
context.make_current()
from OpenGL import GL
print(GL.glGetString(GL.GL_RENDERER).decode(), "|", GL.glGetString(GL.GL_VERSION).decode())
context.free()
"""


def renderer():
    """The GL renderer string under MUJOCO_GL (egl by default, as the script), and whether it is software."""
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    if out.returncode:
        return f"MUJOCO_GL={env['MUJOCO_GL']}: no context ({out.stderr.strip().splitlines()[-1:]})", True
    software = re.search(r"llvmpipe|softpipe|swrast|swiftshader", out.stdout, re.I) is not None
    return f"MUJOCO_GL={env['MUJOCO_GL']}: {out.stdout.strip()}", software


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="walker_walk")
    parser.add_argument("--script-args", default="", help="extra flags, one string: --script-args='--a 1'")
    parser.add_argument("--window", type=int, nargs=2, default=(6, 16), metavar=("FIRST", "LAST"),
                        help="the rate is taken between these SPS lines (one per episode)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=sps.default_threads())
    parser.add_argument("--cuda", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--ref", help="a git commit: also run the script as it was there")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--timeout", type=int, default=540)
    args = parser.parse_args()
    first, last = args.window
    if not 1 <= first < last:
        raise SystemExit(f"error: --window {first} {last}: need 1 <= FIRST < LAST")
    extra = shlex.split(args.script_args)
    episode = int(extra[extra.index("--max-episode-frames") + 1]) if "--max-episode-frames" in extra else 1000

    def script_flags(frames, eval_every):
        flags = ["--env-id", args.env_id, "--num-train-frames", frames, "--eval-every-frames", eval_every]
        return list(map(str, flags + ["--num-eval-episodes", 1, "--no-reset-rule", *extra] + ["--no-cuda"] * (not args.cuda)))

    flags = script_flags((last + 1) * episode, 10**9)  # the only evaluation at frame 0, before the window
    env = sps.process_env(args.threads)
    runs = {"now": ([sys.executable, str(SCRIPT), *flags], env)}
    if args.ref:
        old = sps.ref_script(args.ref, SCRIPT)
        runs[f"at {args.ref}"] = ([sys.executable, str(old), *flags], sps.process_env(args.threads, (old.parent,)))

    text, software = renderer()
    print(f"### DrQ-v2 frames/s: {args.env_id} {args.script_args}\n")
    print(f"{sps.machine_line(args.threads)}; {'CUDA if available' if args.cuda else '--no-cuda'}\n")
    print(f"Renderer: {text}{' (software rendering, on the CPU)' if software else ''}\n")
    rates, cumulative = sps.alternate(runs, args.rounds, episode, args.window, args.timeout, sps.log)
    print(f"Steady state between SPS lines {first} and {last} ({episode}-frame episodes), {args.rounds} alternated rounds:\n")
    print("| run | frames/s, steady (median) | each run | the script's cumulative SPS at line LAST |\n|---|---|---|---|")
    for name in runs:
        each = ", ".join(f"{rate:.1f}" for rate in rates[name])
        print(f"| drqv2_reset_rule.py {name} | {sps.median(rates[name]):.1f} | {each} | {sps.median(cumulative[name]):.1f} |")
    if args.ref:
        print(f"\nnow / at {args.ref} = {sps.median(rates['now']) / sps.median(rates[f'at {args.ref}']):.2f}")
    if args.profile:
        report = sps.profile(sys.executable, SCRIPT, flags, "drqv2", args.threads, first, last - first)
        print(f"\nPhases (sampling profile of the real script, SPS lines {first} to {last}, CUDA_LAUNCH_BLOCKING=1):\n")
        print(sps.profile_table(report).replace("iterations", "episodes").replace("s per iteration", "s per episode"))
    print()


if __name__ == "__main__":
    main()
