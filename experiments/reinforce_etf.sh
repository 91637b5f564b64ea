#!/usr/bin/env bash
# reinforce_etf.py's results (docs/acpg.md), every run at the same budget (TOTAL env steps; default 500k, as in
# classic_ppo.sh):
# - CartPole-v1 and Acrobot-v1, seeds 1-5, --etf vs --no-etf, epsilon 0 (exp names reinforce_eps0_{etf,no-etf});
# - exploration ablation on CartPole-v1: epsilon 0.05 and 0.2, --etf vs --no-etf, seeds 1-5
#   (reinforce_eps{0.05,0.2}_{etf,no-etf}); its epsilon = 0 rows are the CartPole-v1 runs above;
# - Acrobot-v1 with epsilon 0.2, --etf vs --no-etf, seeds 1-5 (--etf at epsilon 0 fails on 2 of 5 seeds there).
# Through scripts/sweep.py into sweeps/reinforce_etf (run again to resume), WORKERS runs at a time (default 2: one
# per core, one torch thread each), the main Acrobot runs first. Then:
#   python scripts/plot.py sweeps/reinforce_etf --out docs/reinforce_etf --threshold 195
set -euo pipefail
cd "$(dirname "$0")/.."
sweep() {
  OMP_NUM_THREADS=1 python scripts/sweep.py \
    "python reinforce_etf.py --env-id {env} --{variant} --seed {seed} --epsilon {eps} \
--total-timesteps ${TOTAL:-500000} --exp-name reinforce_eps{eps}_{variant}" \
    --grid "$@" --out sweeps/reinforce_etf --workers "${WORKERS:-2}"
}
failed=0
sweep env=Acrobot-v1,CartPole-v1 eps=0 variant=etf,no-etf seed=1:5 || failed=1
sweep env=CartPole-v1 eps=0.05,0.2 variant=etf,no-etf seed=1:5 || failed=1
sweep env=Acrobot-v1 eps=0.2 variant=etf,no-etf seed=1:5 || failed=1
exit "$failed"
