#!/usr/bin/env bash
# ppo_etf_classic.py against CleanRL's ppo.py (docs/acpg.md): CartPole-v1 and Acrobot-v1, 500k steps, seeds 1-5,
# --etf vs --no-etf, two runs at a time, one torch thread each; then the table and figures:
#   python scripts/plot.py sweeps/classic_ppo --out docs/classic_ppo
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python scripts/sweep.py \
  "python ppo_etf_classic.py --env-id {env} --{variant} --seed {seed}" \
  --grid env=CartPole-v1,Acrobot-v1 variant=etf,no-etf seed=1:5 --out sweeps/classic_ppo --workers "${WORKERS:-2}"
