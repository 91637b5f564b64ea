#!/usr/bin/env bash
# The reset rule in real training (docs/drqv2_reset_rule.md), sized for a 2-core CPU (about 1.5 hours):
# drqv2_reset_rule.py on cartpole_swingup, 40,000 frames, seed 1, the rule on, two runs side by side:
#   start=dead-mlp1-start     the actor starts collapsed (mlp1 dead: one action for every image, no gradient);
#                             the rule must reset training at the end of the first window;
#   start=no-dead-mlp1-start  DrQ-v2's initialisation: the rule resets it only if it stays collapsed.
# Scaled down from the easy settings for CPU time, keeping the paper's proportions: the noise schedule decays
# over 10,000 steps, so the window m is 20,000 frames (paper: 100,000 steps, 200,000 frames), and the rule reads
# the gradient norm at an evaluation every 1,000 frames (paper: 10,000), 20 readings a window as in the paper.
# Also batch 64 (an update takes 0.39 s instead of 3.0 s at 256), 1 evaluation episode, --fast-render, a replay
# capacity that holds the whole run, and --replay uniform (the sampler the committed results in docs/ were made
# with; drop it for DrQ-v2's loader, the script's default). Then:
#   python scripts/plot.py sweeps/drqv2_reset_demo --out docs/drqv2_reset_demo --tags 'action_std|mlp1_|reset/'
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python scripts/sweep.py \
  "python drqv2_reset_rule.py --env-id cartpole_swingup --{start} --seed {seed} --num-train-frames 40000 \
--stddev-schedule linear(1.0,0.1,10000) --eval-every-frames 1000 --num-eval-episodes 1 --batch-size 64 \
--fast-render --replay-buffer-size 40000 --replay uniform" \
  --grid start=dead-mlp1-start,no-dead-mlp1-start seed=1 --out sweeps/drqv2_reset_demo --workers "${WORKERS:-2}"
