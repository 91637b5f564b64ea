#!/usr/bin/env bash
# ACPG's exploration ablation (docs/acpg.md; the paper's Table 2 is on PPO): ppo_etf_classic.py with
# --epsilon 0, 0.05, 0.1, 0.2 (actions from the uniform mixture (1-eps) pi + eps/K, its log-probability in the ratio),
# ETF and learned head, 5 seeds, two runs at a time, one torch thread each: CartPole-v1 and Acrobot-v1 at 100k steps,
# LunarLander-v3 at 200k (it barely starts learning by 100k; 40 runs of about 50 s, 17 min).
# Then: python scripts/plot.py sweeps/acpg_epsilon --tags 'policy_entropy|self_duality' --out docs/acpg_epsilon
set -euo pipefail
cd "$(dirname "$0")/.."
sweep() {
  OMP_NUM_THREADS=1 python scripts/sweep.py \
    "python ppo_etf_classic.py --env-id {env} --{head} --epsilon {eps} --seed {seed} --total-timesteps $1 \
--exp-name ppo_etf_classic_eps{eps}_{head}" \
    --grid "${@:2}" --out sweeps/acpg_epsilon --workers "${WORKERS:-2}"
}
failed=0
sweep 100000 env=CartPole-v1,Acrobot-v1 eps=0,0.05,0.1,0.2 head=etf,no-etf seed=1:5 || failed=1
sweep 200000 env=LunarLander-v3 eps=0,0.05,0.1,0.2 head=etf,no-etf seed=1:5 || failed=1
exit "$failed"
