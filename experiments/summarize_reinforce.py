"""Markdown table of finished reinforce_etf.py runs, mean ± std over seeds (population std, as in
experiments/summarize.py) of:
  final return   the average episodic return over the last 10% of training (episodes logged at a global
                 step >= 90% of the run's final step);
  steps to 195   (CartPole-v1 only) the first global step at which the mean return of the last 10 logged
                 episodes reaches 195, over the seeds that reach it; "reached" counts them;
  SPS            the run's final steps per second (mean).

    python experiments/summarize_reinforce.py runs --prefix reinforce_

Run directories are named {env_id}__{exp_name}__{seed}__{time} (CleanRL's convention); rows group by
env_id and exp_name. REINFORCE updates on whole episodes, so a run ends up to one batch past its budget:
a run whose final step is below 98% of its group's largest is left out as unfinished.
"""

import argparse
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

THRESHOLDS = {"CartPole-v1": 195.0}
WINDOW = 10  # episodes in the moving average for "steps to threshold"


def run_summary(run_dir, last_fraction, threshold):
    """(final return, first step the 10-episode mean reaches `threshold` or None, last SPS, final step)."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    if "charts/episodic_return" not in accumulator.Tags()["scalars"]:
        return None
    returns = accumulator.Scalars("charts/episodic_return")
    sps = accumulator.Scalars("charts/SPS")
    final_step = sps[-1].step
    tail = [e.value for e in returns if e.step >= (1 - last_fraction) * final_step]
    reached = None
    if threshold is not None:
        values = np.array([e.value for e in returns])
        if len(values) >= WINDOW:
            moving = np.convolve(values, np.ones(WINDOW) / WINDOW, mode="valid")  # moving[i]: episodes i..i+9
            hits = np.flatnonzero(moving >= threshold)
            reached = returns[hits[0] + WINDOW - 1].step if hits.size else None
    return float(np.mean(tail)), reached, sps[-1].value, final_step


def natural_key(name):
    """Sort exp names by the numbers in them: reinforce_eps0_etf < reinforce_eps0.05_etf < reinforce_eps0.2_etf."""
    parts = re.split(r"(\d+(?:\.\d+)?)", name)
    return [float(part) if i % 2 else part for i, part in enumerate(parts)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--prefix", default="reinforce_", help="keep exp_names starting with this")
    parser.add_argument("--last-fraction", type=float, default=0.1)
    args = parser.parse_args()

    groups = defaultdict(list)
    for run_dir in sorted(args.runs.iterdir()):
        match = re.fullmatch(r"(.+?)__(.+?)__(\d+)__\d+", run_dir.name)
        if not match or not match.group(2).startswith(args.prefix):
            continue
        summary = run_summary(run_dir, args.last_fraction, THRESHOLDS.get(match.group(1)))
        if summary is not None:
            groups[match.group(1), match.group(2)].append((int(match.group(3)), *summary))

    print(
        f"| env | variant | seeds | return, last {args.last_fraction:.0%} (mean ± std) | steps to 195 "
        "(10-episode mean; mean ± std) | reached 195 | steps | SPS (mean) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (env_id, exp_name), rows in sorted(groups.items(), key=lambda item: (item[0][0], natural_key(item[0][1]))):
        rows = [row for row in rows if row[4] >= 0.98 * max(r[4] for r in rows)]  # unfinished runs left out
        seeds, returns, reached, sps, steps = zip(*rows)
        if env_id in THRESHOLDS:
            hits = [step for step in reached if step is not None]
            to_threshold = f"{np.mean(hits):.0f} ± {np.std(hits):.0f}" if hits else "never"
            reached_cell = f"{len(hits)}/{len(rows)}"
        else:
            to_threshold = reached_cell = "—"
        print(
            f"| {env_id} | {exp_name} | {','.join(map(str, sorted(seeds)))} | "
            f"{np.mean(returns):.2f} ± {np.std(returns):.2f} | {to_threshold} | {reached_cell} | "
            f"{min(steps)}–{max(steps)} | {np.mean(sps):.0f} |"
        )


if __name__ == "__main__":
    main()
