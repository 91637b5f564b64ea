#!/usr/bin/env bash
# README results for ppo_etf_classic.py: CartPole-v1 and Acrobot-v1, 500k steps, seeds 1-5, --etf vs --no-etf.
# Two runs at a time (one per core, one torch thread each); TensorBoard logs land in runs/.
# Then: python scripts/plot.py runs --variants "^ppo_classic" --out docs/classic_ppo
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
for env in CartPole-v1 Acrobot-v1; do
  for variant in etf no-etf; do
    for seed in 1 2 3 4 5; do
      echo "$env $variant $seed"
    done
  done
done | xargs -P "$jobs" -L 1 bash -c 'OMP_NUM_THREADS=1 python ppo_etf_classic.py --env-id "$0" --"$1" --seed "$2" \
  --exp-name "ppo_classic_$1" > /dev/null 2>&1 && echo "done $0 $1 $2" || echo "FAILED $0 $1 $2 rc=$?"'
