#!/usr/bin/env bash
# Paper 003's Figure 5 comparison (needs a GPU: one run is about 1.1M frames, days on a CPU): DrQ-v2 with and
# without the reset rule on walker_walk, hopper_stand and finger_spin, seeds 1..SEEDS (default 10), DrQ-v2's easy
# settings (the script's defaults). JOBS runs at a time (default 1; a 24 GB GPU holds several). Each run's replay
# buffer takes up to 12.7 GB of RAM at the default capacity: lower --replay-buffer-size (frames) with JOBS > 1
# on small machines. TensorBoard logs land in runs/ (exp names drqv2_reset_rule, drqv2_no_reset_rule).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-1}
seeds=${SEEDS:-10}
for env in walker_walk hopper_stand finger_spin; do
  for seed in $(seq 1 "$seeds"); do
    for variant in reset-rule no-reset-rule; do
      echo "$env $variant $seed"
    done
  done
done | xargs -P "$jobs" -L 1 bash -c 'python drqv2_reset_rule.py --env-id "$0" --"$1" --seed "$2" \
  --exp-name "drqv2_${1//-/_}" > /dev/null 2>&1 && echo "done $0 $1 $2" || echo "FAILED $0 $1 $2 rc=$?"'
