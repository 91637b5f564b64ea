#!/usr/bin/env bash
# Does the ETF's logit scale explain REINFORCE's stuck Acrobot seeds? --etf-scale 1, 4, 16 with REINFORCE
# (reinforce_etf.py) and PPO (ppo_etf_classic.py) on Acrobot-v1, 5 seeds, 200k steps each (the learned head as the
# reference), two runs at a time, one torch thread each.
# Then: python scripts/plot.py sweeps/acpg_etf_scale --out docs/acpg_etf_scale
set -euo pipefail
cd "$(dirname "$0")/.."
for algo in reinforce_etf ppo_etf_classic; do
  OMP_NUM_THREADS=1 python scripts/sweep.py \
    "python $algo.py --env-id Acrobot-v1 --etf-scale {scale} --seed {seed} --total-timesteps 200000 --exp-name ${algo}_scale{scale}" \
    --grid scale=1,4,16 seed=1:5 --out "sweeps/acpg_etf_scale/$algo" --workers "${WORKERS:-2}"
  OMP_NUM_THREADS=1 python scripts/sweep.py \
    "python $algo.py --env-id Acrobot-v1 --no-etf --seed {seed} --total-timesteps 200000 --exp-name ${algo}_learned" \
    --grid seed=1:5 --out "sweeps/acpg_etf_scale/$algo-learned" --workers "${WORKERS:-2}"
done
