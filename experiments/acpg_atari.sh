#!/usr/bin/env bash
# ACPG on Atari at CPU scale: ppo_etf_atari.py, the fixed ETF head against the learned head, one torch thread per run.
#   breakout: ALE/Breakout-v5 without sticky actions (as experiments/atari_port_vs_upstream.sh), 400k agent steps,
#             seeds 1-3, ETF and --no-etf. `ppo_etf_atari.py --no-etf` trains bit-identically to
#             ppo_atari_ale_vector.py (tests/test_ppo_etf_atari.py), so its returns repeat the port's runs; it is
#             run for the learned head's collapse and representation metrics, which the port does not log;
#   phoenix:  the README's first command, `--env-id ALE/Phoenix-v5 --epochs 8`, ETF and --no-etf, 300k agent steps,
#             seeds 1-2.
# Finished runs are committed under experiments/results/; a second call skips them, so the grid grows call by call:
#   bash experiments/acpg_atari.sh [breakout|phoenix]      # both when no argument; WORKERS=2 runs two at a time
#   python scripts/plot.py experiments/results/acpg_atari_breakout --out docs/acpg_atari_breakout --tags "$TAGS"
#   python scripts/plot.py experiments/results/acpg_atari_phoenix --out docs/acpg_atari_phoenix --tags "$TAGS"
# with TAGS='entropy|nc1|equiangularity$|mean_cosine|self_duality|present|largest|rank|dead|feature_norm' (the
# metrics that show collapse; left out: the nonfinite fractions, the norm spreads, equiangularity_std, zero_fraction).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
case $which in breakout | phoenix | both) ;; *) echo "error: give breakout, phoenix or nothing, not $which" >&2; exit 1 ;; esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ "$which" != phoenix ]; then
  python scripts/sweep.py \
    "python ppo_etf_atari.py --env-id ALE/Breakout-v5 --repeat-action-probability 0 --total-timesteps 400000 \
--{variant} --seed {seed} --no-cuda" \
    --grid variant=etf,no-etf seed=1:3 --out experiments/results/acpg_atari_breakout --workers "${WORKERS:-1}"
fi
if [ "$which" != breakout ]; then
  python scripts/sweep.py \
    "python ppo_etf_atari.py --env-id ALE/Phoenix-v5 --epochs 8 --total-timesteps 300000 --{variant} --seed {seed} --no-cuda" \
    --grid variant=etf,no-etf seed=1:2 --out experiments/results/acpg_atari_phoenix --workers "${WORKERS:-1}"
fi
