#!/usr/bin/env bash
# ACPG across environments (docs/acpg.md, "Breadth"): ETF head vs learned head with PPO (ppo_etf_classic.py,
# CleanRL's ppo.py defaults) on every discrete classic-control and toy-text env that runs, 5 seeds, two runs at a time,
# one torch thread each. CartPole-v1 and Acrobot-v1 at 500k steps are experiments/classic_ppo.sh's runs; the others at
# CPU-sized budgets (100k: MountainCar-v0, LunarLander-v3, Taxi-v4, CliffWalking-v1, FrozenLake-v1). Then:
#   python scripts/plot.py sweeps/acpg_breadth --tags 'policy_entropy|self_duality|mean_cosine|nc1|largest_class|approx_rank' --out docs/acpg_breadth
set -euo pipefail
cd "$(dirname "$0")/.."
sweep() {  # envs budget
  OMP_NUM_THREADS=1 python scripts/sweep.py \
    "python ppo_etf_classic.py --env-id {env} --{variant} --seed {seed} --total-timesteps $2" \
    --grid env="$1" variant=etf,no-etf seed=1:5 --out sweeps/acpg_breadth --workers "${WORKERS:-2}"
}
sweep CliffWalking-v1,FrozenLake-v1 100000
sweep Taxi-v4,MountainCar-v0,LunarLander-v3 100000
