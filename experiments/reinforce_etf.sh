#!/usr/bin/env bash
# README results for reinforce_etf.py, every run at the same budget (TOTAL env steps; default 500k, as in
# classic_ppo.sh):
# - CartPole-v1 and Acrobot-v1, seeds 1-5, --etf vs --no-etf, epsilon 0 (exp names reinforce_eps0_{etf,no-etf});
# - exploration ablation on CartPole-v1: epsilon 0.05 and 0.2, --etf vs --no-etf, seeds 1-5
#   (reinforce_eps{0.05,0.2}_{etf,no-etf}); its epsilon = 0 rows are the CartPole-v1 runs above;
# - Acrobot-v1 with epsilon 0.2, --etf vs --no-etf, seeds 1-5 (--etf at epsilon 0 fails on 2 of 5 seeds there).
# Two runs at a time (one per core, one torch thread each), the main Acrobot runs first; logs land in runs/.
# Then: python experiments/summarize_reinforce.py runs --prefix reinforce_
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
total=${TOTAL:-500000}
{
  for env in Acrobot-v1 CartPole-v1; do
    for variant in etf no-etf; do
      for seed in 1 2 3 4 5; do
        echo "$env $variant $seed 0"
      done
    done
  done
  for eps in 0.05 0.2; do
    for variant in etf no-etf; do
      for seed in 1 2 3 4 5; do
        echo "CartPole-v1 $variant $seed $eps"
      done
    done
  done
  for variant in etf no-etf; do
    for seed in 1 2 3 4 5; do
      echo "Acrobot-v1 $variant $seed 0.2"
    done
  done
} | xargs -P "$jobs" -L 1 bash -c 'OMP_NUM_THREADS=1 python reinforce_etf.py --env-id "$0" --"$1" --seed "$2" \
  --epsilon "$3" --total-timesteps '"$total"' --exp-name "reinforce_eps$3_$1" > /dev/null 2>&1 \
  && echo "done $0 $1 $2 eps=$3" || echo "FAILED $0 $1 $2 eps=$3 rc=$?"'
