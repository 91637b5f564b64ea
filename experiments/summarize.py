"""Markdown table of finished runs: mean +- std over seeds of the average episodic return over the last
10% of training (population std), and of the final steps per second. Runs that stopped short of
their group's longest run are left out as unfinished.

    python experiments/summarize.py runs --prefix ppo_classic

Run directories are named {env_id}__{exp_name}__{seed}__{time} (CleanRL's convention); rows group by
env_id and exp_name.
"""

import argparse
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def run_summary(run_dir, last_fraction):
    """(average return over the last `last_fraction` of the run's steps, last SPS), or None if unfinished."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    if "charts/episodic_return" not in accumulator.Tags()["scalars"]:
        return None
    returns = accumulator.Scalars("charts/episodic_return")
    sps = accumulator.Scalars("charts/SPS")
    final_step = sps[-1].step
    tail = [e.value for e in returns if e.step >= (1 - last_fraction) * final_step]
    return float(np.mean(tail)), sps[-1].value, final_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--prefix", default="", help="keep exp_names starting with this")
    parser.add_argument("--last-fraction", type=float, default=0.1)
    args = parser.parse_args()

    groups = defaultdict(list)
    for run_dir in sorted(args.runs.iterdir()):
        match = re.fullmatch(r"(.+?)__(.+?)__(\d+)__\d+", run_dir.name)
        if not match or not match.group(2).startswith(args.prefix):
            continue
        summary = run_summary(run_dir, args.last_fraction)
        if summary is not None:
            groups[match.group(1), match.group(2)].append((int(match.group(3)), *summary))

    print(f"| env | variant | seeds | return, last {args.last_fraction:.0%} (mean ± std) | steps | SPS (mean) |")
    print("|---|---|---|---|---|---|")
    for (env_id, exp_name), rows in sorted(groups.items()):
        rows = [row for row in rows if row[3] == max(r[3] for r in rows)]  # unfinished runs left out
        seeds, returns, sps, steps = zip(*rows)
        print(
            f"| {env_id} | {exp_name} | {','.join(map(str, sorted(seeds)))} | "
            f"{np.mean(returns):.2f} ± {np.std(returns):.2f} | {max(steps)} | {np.mean(sps):.0f} |"
        )


if __name__ == "__main__":
    main()
