#!/usr/bin/env bash
# Follow-up to experiments/drqv2_reset_demo.sh: the same settings from DrQ-v2's own initialisation, seeds 2 and 3,
# for 22,000 frames (just past the first window's end at 20,000): the rule resets a seed whose actor collapses by
# itself and stays collapsed, and leaves one that escapes. Two runs side by side, about 40 minutes.
#   bash experiments/drqv2_reset_natural.sh [loader|uniform]   # the replay sampler, loader (DrQ-v2's) when omitted
#   python scripts/plot.py sweeps/drqv2_reset_natural --variants replay=loader --out docs/drqv2_reset_natural_loader \
#     --tags 'action_std|mlp1_|reset/'
# docs/drqv2_reset_natural was made with uniform: the same plot with --variants replay=uniform, to that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
replay=${1:-loader}
case $replay in loader | uniform) ;; *) echo "error: give loader, uniform or nothing, not $replay" >&2; exit 1 ;; esac
OMP_NUM_THREADS=1 python scripts/sweep.py \
  "python drqv2_reset_rule.py --env-id cartpole_swingup --{start} --seed {seed} --num-train-frames 22000 \
--stddev-schedule linear(1.0,0.1,10000) --eval-every-frames 1000 --num-eval-episodes 1 --batch-size 64 \
--fast-render --replay-buffer-size 22000 --replay {replay}" \
  --grid replay="$replay" start=no-dead-mlp1-start seed=2,3 --out sweeps/drqv2_reset_natural --workers "${WORKERS:-2}"
