#!/usr/bin/env bash
# Does the port learn as its parent does? ppo_atari_ale_vector.py on ALE/Breakout-v5 without sticky actions (as the
# v4 ids) against CleanRL's ppo_atari.py at fe8d8a03 on BreakoutNoFrameskip-v4, in its own venv with CleanRL's pins;
# 400k agent steps, seeds 1-3 (port) and 1-2 (upstream), one torch thread per run, CPU. Finished runs are committed
# under experiments/results/; a second call skips them, so the grid can grow over several calls:
#   CLEANRL=~/cleanrl bash experiments/atari_port_vs_upstream.sh [port|upstream]   # both when no argument
#   python scripts/plot.py experiments/results/atari_port_vs_upstream --same-game --out docs/atari_port_vs_upstream
# CLEANRL: a CleanRL checkout (any commit: fe8d8a03's files are taken from its git history, or used as they are
# if it is no git clone); without it the commit's archive is downloaded. The upstream venv is made in sweeps/.
set -euo pipefail
cd "$(dirname "$0")/.."
COMMIT=fe8d8a03c41a7ef5b523e2e354bd01c363e786bb
STEPS=${STEPS:-400000}
OUT=experiments/results/atari_port_vs_upstream
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

upstream_checkout() {  # CleanRL's files at $COMMIT in sweeps/cleanrl (cleanrl/ and cleanrl_utils/)
  local dest=sweeps/cleanrl
  mkdir -p "$dest"
  # gymnasium 0.29 knows the v4 ids once ale_py is imported, which ppo_atari.py does not do itself
  printf 'try:\n    import ale_py  # noqa: F401\nexcept ImportError:\n    pass\n' > "$dest/sitecustomize.py"
  [ -f "$dest/cleanrl/ppo_atari.py" ] && return
  if [ -n "${CLEANRL:-}" ] && git -C "$CLEANRL" cat-file -e "$COMMIT" 2>/dev/null; then
    git -C "$CLEANRL" archive "$COMMIT" cleanrl/ppo_atari.py cleanrl_utils | tar -x -C "$dest"
  elif [ -n "${CLEANRL:-}" ]; then
    [ -f "$CLEANRL/cleanrl/ppo_atari.py" ] || { echo "error: CLEANRL=$CLEANRL has no cleanrl/ppo_atari.py" >&2; exit 1; }
    echo "note: CLEANRL=$CLEANRL is no git clone holding $COMMIT; its files are used as they are" >&2
    cp -r "$CLEANRL/cleanrl" "$CLEANRL/cleanrl_utils" "$dest/"
  else
    curl -fsSL "https://codeload.github.com/vwxyzjn/cleanrl/tar.gz/$COMMIT" 2>/dev/null |
      tar -xz -C "$dest" --strip-components=1 2>/dev/null ||
      { echo "error: cannot download CleanRL $COMMIT (offline?); set CLEANRL to a CleanRL checkout" >&2; exit 1; }
  fi
}

upstream_venv() {  # CleanRL's pins for ppo_atari.py (gymnasium 0.29, ale-py 0.9 with its ROMs, numpy < 2)
  local venv=sweeps/venv_upstream
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import ale_py, cv2, gymnasium, torch, tyro" 2>/dev/null && return
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q gymnasium==0.29.1 ale-py==0.9.1 opencv-python-headless==4.11.0.86 numpy==1.26.4 \
    tyro==1.0.17 tensorboard==2.21.0 torch==2.13.0
}

which=${1:-both}
case $which in port | upstream | both) ;; *) echo "error: give port, upstream or nothing, not $which" >&2; exit 1 ;; esac
if [ "$which" != upstream ]; then
  "$PY" scripts/sweep.py \
    "python ppo_atari_ale_vector.py --exp-name {exp_name} --env-id ALE/Breakout-v5 --repeat-action-probability 0 \
--total-timesteps $STEPS --seed {seed} --no-cuda" \
    --grid exp_name=ppo_atari_ale_vector seed=1:3 --out "$OUT" --workers "${WORKERS:-1}" &
fi
if [ "$which" != port ]; then
  upstream_checkout
  upstream_venv
  PYTHONPATH="$PWD/sweeps/cleanrl" "$PY" scripts/sweep.py \
    "sweeps/venv_upstream/bin/python sweeps/cleanrl/cleanrl/ppo_atari.py --exp-name {exp_name} \
--env-id BreakoutNoFrameskip-v4 --total-timesteps $STEPS --seed {seed} --no-cuda" \
    --grid exp_name=ppo_atari seed=1:2 --out "$OUT" --workers "${WORKERS:-1}" &
fi
wait
