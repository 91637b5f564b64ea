#!/usr/bin/env bash
# Follow-up to experiments/drqv2_reset_demo.sh: the same settings from DrQ-v2's own initialisation, seeds 2 and 3,
# for 22,000 frames (just past the first window's end at 20,000): the rule resets a seed whose actor collapses by
# itself and stays collapsed, and leaves one that escapes. Two runs side by side, about 40 minutes. --replay uniform
# as the committed results in docs/ (drop it for DrQ-v2's loader, the script's default). Then:
#   python scripts/plot.py sweeps/drqv2_reset_natural --out docs/drqv2_reset_natural --tags 'action_std|mlp1_|reset/'
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python scripts/sweep.py \
  "python drqv2_reset_rule.py --env-id cartpole_swingup --{start} --seed {seed} --num-train-frames 22000 \
--stddev-schedule linear(1.0,0.1,10000) --eval-every-frames 1000 --num-eval-episodes 1 --batch-size 64 \
--fast-render --replay-buffer-size 22000 --replay uniform" \
  --grid start=no-dead-mlp1-start seed=2,3 --out sweeps/drqv2_reset_natural --workers "${WORKERS:-2}"
