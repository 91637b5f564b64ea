#!/usr/bin/env bash
# README demonstration of the reset rule in real training, sized for a 2-core CPU (about 1.5 hours):
# drqv2_reset_rule.py on cartpole_swingup, 50,000 frames, seed 1, the rule on, two runs side by side:
#   start=dead-mlp1-start     the actor starts collapsed (mlp1 dead: one action for every image, no gradient);
#                             the rule should reset training at the end of the first window, the fresh agent escape;
#   start=no-dead-mlp1-start  DrQ-v2's initialisation: it should escape in its first updates and never be reset.
# Departures from the easy settings, for CPU time only: batch 64 (an update takes 0.39 s instead of 3.0 s at 256),
# a 10,000-frame window (default 200,000), 5 evaluation episodes every 5,000 frames, --fast-render, a replay
# capacity that holds the whole run. Then:
#   python scripts/plot.py sweeps/drqv2_reset_demo --out docs/drqv2_reset_demo
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python scripts/sweep.py \
  "python drqv2_reset_rule.py --env-id cartpole_swingup --{start} --seed {seed} --num-train-frames 50000 \
--batch-size 64 --reset-window 10000 --eval-every-frames 5000 --num-eval-episodes 5 --fast-render \
--replay-buffer-size 50000" \
  --grid start=dead-mlp1-start,no-dead-mlp1-start seed=1 --out sweeps/drqv2_reset_demo --workers "${WORKERS:-2}"
