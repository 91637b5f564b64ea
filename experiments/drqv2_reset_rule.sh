#!/usr/bin/env bash
# The Figure 5 comparison of "Understanding Learned Representations and Action Collapse in Visual RL" (needs a GPU:
# one run is about 1.1M frames, days on a CPU): DrQ-v2 with and without the reset rule on walker_walk, hopper_stand
# and finger_spin, seeds 1..SEEDS (default 10), DrQ-v2's easy settings and replay (the script's defaults). WORKERS
# runs at a time (default 1; a 24 GB GPU holds several; or add --executor slurm --partition ... to SWEEP_ARGS). Each
# run's replay buffer takes up to 11.7 GB of RAM (every frame of the run): lower --replay-buffer-size with
# WORKERS > 1 on small machines. Through scripts/sweep.py into sweeps/drqv2_reset_rule (run again to resume; exp
# names drqv2_reset_rule, drqv2_no_reset_rule). Then:
#   python scripts/plot.py sweeps/drqv2_reset_rule --out docs/drqv2_reset_rule
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/sweep.py "python drqv2_reset_rule.py --env-id {env} --{variant} --seed {seed} --exp-name drqv2_{variant}" \
  --grid env=walker_walk,hopper_stand,finger_spin seed=1:"${SEEDS:-10}" variant=reset_rule,no_reset_rule \
  --out sweeps/drqv2_reset_rule --workers "${WORKERS:-1}" ${SWEEP_ARGS:-}
