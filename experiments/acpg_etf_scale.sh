#!/usr/bin/env bash
# Does the ETF's logit scale explain REINFORCE's stuck Acrobot seeds? --etf-scale 1, 4, 16 with REINFORCE
# (reinforce_etf.py) and PPO (ppo_etf_classic.py) on Acrobot-v1, 5 seeds, 200k steps each, and the learned head as the
# reference; two runs at a time, one torch thread each. Then, per algorithm:
#   python scripts/plot.py sweeps/acpg_etf_scale/reinforce_etf --out docs/acpg_etf_scale/reinforce_etf
#   python scripts/plot.py sweeps/acpg_etf_scale/ppo_etf_classic --out docs/acpg_etf_scale/ppo_etf_classic
set -euo pipefail
cd "$(dirname "$0")/.."
for algo in reinforce_etf ppo_etf_classic; do
  sweep="python scripts/sweep.py --out sweeps/acpg_etf_scale/$algo --workers ${WORKERS:-2}"
  OMP_NUM_THREADS=1 $sweep "python $algo.py --env-id Acrobot-v1 --{head} --etf-scale {scale} --seed {seed} \
    --total-timesteps 200000" --grid head=etf scale=1,4,16 seed=1:5
  OMP_NUM_THREADS=1 $sweep "python $algo.py --env-id Acrobot-v1 --{head} --seed {seed} --total-timesteps 200000" \
    --grid head=no-etf seed=1:5
done
