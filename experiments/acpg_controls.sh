#!/usr/bin/env bash
# ACPG's controls (docs/acpg.md): ppo_etf_classic.py on CartPole-v1 and Acrobot-v1, seeds 1-5, 200k steps each.
# - the head: the fixed ETF (--etf), a learned head started at that ETF (--etf-init: --no-etf's nn.Linear, its
#   weight etf_scale * W at step 0) and the default learned head (--no-etf); --etf-scale 0.1, 0.3, 1 for the first two;
# - exploration: --exploration mixture ((1-eps) pi + eps/K) vs greedy (argmax pi w.p. 1-eps, else uniform) for
#   --epsilon 0, 0.05, 0.1, 0.2, with the fixed ETF (scale 1).
# Every run has the same grid keys in the same order, so a point two grids share (--etf, scale 1, mixture, eps 0)
# runs once: 140 runs of 1-2 min, WORKERS at a time (default 2, one torch thread each), about 2 h.
# Results in sweeps/acpg_controls (run again to resume). Then:
#   python scripts/plot.py sweeps/acpg_controls --variants 'scale=1,expl=mixture,eps=0$' \
#     --tags 'policy_entropy|self_duality' --out docs/acpg_controls/heads
#   python scripts/plot.py sweeps/acpg_controls --variants 'head=etf(-init)?,.*expl=mixture,eps=0$' \
#     --tags 'policy_entropy|self_duality' --out docs/acpg_controls/scale
#   python scripts/plot.py sweeps/acpg_controls --variants 'head=etf,scale=1,' --tags 'policy_entropy|self_duality' \
#     --out docs/acpg_controls/exploration_etf
set -euo pipefail
cd "$(dirname "$0")/.."
sweep() {
  OMP_NUM_THREADS=1 python scripts/sweep.py \
    "python ppo_etf_classic.py --env-id {env} --{head} --etf-scale {scale} --exploration {expl} --epsilon {eps} \
--seed {seed} --total-timesteps ${TOTAL:-200000} --exp-name ppo_etf_classic_{head}_scale{scale}_{expl}{eps}" \
    --grid env=CartPole-v1,Acrobot-v1 "$@" seed=1:5 --out sweeps/acpg_controls --workers "${WORKERS:-2}"
}
failed=0
sweep head=etf,etf-init scale=0.1,0.3,1 expl=mixture eps=0 || failed=1
sweep head=etf scale=1 expl=greedy,mixture eps=0,0.05,0.1,0.2 || failed=1
exit "$failed"
