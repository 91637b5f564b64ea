#!/usr/bin/env bash
# PFO's trust-region effect at CPU scale: ppo_pfo_atari.py on ALE/Phoenix-v5 in the paper's ALE setting (the script's
# defaults), PFO (coefficient 1) against plain PPO (0), 8 epochs (the paper's collapsing setting), 600k frames
# (200k agent steps), seeds 1-2, one torch thread per run. The collapse the paper shows comes tens of millions of
# frames later (experiments/pfo_phoenix.sh is the paper-scale grid); these runs can only show the early excess
# ratio and feature drift. Finished runs are committed under experiments/results/; a second call skips them:
#   bash experiments/pfo_phoenix_cpu.sh                 # WORKERS=2 runs two at a time
#   python scripts/plot.py experiments/results/pfo_phoenix_cpu --out docs/pfo_phoenix_cpu --tags "$TAGS"
# with TAGS='pfo/|repr_after/actor_(approx_rank|dead|preactivation_norm|feature_norm)|repr/critic_(approx_rank|dead)'
# (the paper's quantities: the actor after the update, as its figures; the critic's from the rollout, all it logs).
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} python scripts/sweep.py \
  "python ppo_pfo_atari.py --env-id ALE/Phoenix-v5 --pfo-coef {pfo} --epochs 8 --total-timesteps 600000 --seed {seed} --no-cuda" \
  --grid pfo=0,1 seed=1:2 --out experiments/results/pfo_phoenix_cpu --workers "${WORKERS:-1}"
