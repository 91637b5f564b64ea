#!/usr/bin/env bash
# The Phoenix comparison of "No Representation, No Trust" (Moalla et al., NeurIPS 2024, Fig. 6): PFO (coefficient 1)
# vs plain PPO (0), 4/6/8 epochs, seeds 1-5, 100M frames each, in the paper's ALE setting (the script's defaults).
# Meant for GPU machines:
#   WORKERS=4 bash experiments/pfo_phoenix.sh            # or add --executor slurm --partition ... to SWEEP_ARGS
#   python scripts/plot.py sweeps/pfo_phoenix --out docs/pfo_phoenix
# FRAMES=... shortens every run (docs/pfo.md says which budget a figure used).
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/sweep.py \
  "python ppo_pfo_atari.py --env-id ALE/Phoenix-v5 --pfo-coef {pfo} --epochs {epochs} --seed {seed} --total-timesteps ${FRAMES:-100000000}" \
  --grid pfo=0,1 epochs=4,6,8 seed=1:5 --out sweeps/pfo_phoenix --workers "${WORKERS:-2}" ${SWEEP_ARGS:-}
