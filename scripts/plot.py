"""Figures and a markdown table from the TensorBoard runs of one or more sweeps.

    python scripts/plot.py sweeps/classic --out docs/classic

Finds every TensorBoard run below the given folders. Runs are grouped into variants: by their sweep
folder's name without its seed (scripts/sweep.py), or else by env id and exp_name from CleanRL's run
name {env_id}__{exp_name}__{seed}__{time}. Writes, per environment:
  returns_<env>.png   episodic return against steps: mean over seeds, shaded min-max band, a second panel
                      for evaluation returns (eval/episodic_return) where runs log them, dotted lines at resets;
  metrics_<env>.png   each collapse/, repr/, pfo/, capacity/ and reset/ tag over time, the same way
                      (`--tags REGEX` keeps the tags it matches);
and table.md: per variant, mean +- std over seeds (population std) of the average episodic return over
the last 10% of training and over the first 10% (and of the evaluation return over the last 10%, where runs
log one), and the mean of the runs' final steps per second; a run that stopped short of its variant's longest
run is left out of the table as unfinished.
"""

import argparse
import math
import re
import warnings
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

RUN_NAME = re.compile(r"(?P<env>.+?)__(?P<exp>.+?)__(?P<seed>\d+)__\d+")
METRIC_PREFIXES = ("collapse/", "repr/", "pfo/", "capacity/", "reset/")
RETURN_TAGS = {"charts/episodic_return": "episodic return", "eval/episodic_return": "evaluation return"}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # bad input: one line on stderr, no usage block
        raise SystemExit(f"error: {message} (see --help)")


def check_args(args):
    """Stop with one line at the first bad argument, before reading any run."""
    for flag in ("variants", "tags"):
        try:
            re.compile(getattr(args, flag))
        except re.error as problem:
            raise SystemExit(f"error: --{flag} {getattr(args, flag)!r} is not a regular expression ({problem})") from None
    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        raise SystemExit(f"error: no such folder: {', '.join(missing)}")
    if not 0 < args.last_fraction <= 1:
        raise SystemExit(f"error: --last-fraction {args.last_fraction} must be in (0, 1]")
    if args.out.exists() and not args.out.is_dir():
        raise SystemExit(f"error: --out {args.out} is a file; give a folder")


def read_run(run_dir):
    """{tag: (steps, values)} of one TensorBoard run directory."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: (np.array([e.step for e in events]), np.array([e.value for e in events]))
        for tag in accumulator.Tags()["scalars"]
        for events in [accumulator.Scalars(tag)]
    }


def variant_of(run_dir):
    """(env, variant label, seed) of a run directory."""
    match = RUN_NAME.fullmatch(run_dir.name)
    env, exp, seed = (match["env"], match["exp"], int(match["seed"])) if match else ("?", run_dir.name, 0)
    sweep_run = next((p for p in run_dir.parents if (p / "log.txt").exists()), None)  # written when a run starts
    if sweep_run is not None:
        exp = ",".join(part for part in sweep_run.name.split(",") if not part.startswith("seed="))
    return env, exp, seed


def collect(folders, pattern=""):
    """{env: {variant: [run scalars]}} for every run below `folders` whose variant matches the regex `pattern`."""
    runs = defaultdict(lambda: defaultdict(list))
    run_dirs = sorted({event.parent for folder in folders for event in Path(folder).rglob("events.out.tfevents.*")})
    for run_dir in run_dirs:
        env, variant, _ = variant_of(run_dir)
        if re.search(pattern, variant):
            runs[env][variant].append(read_run(run_dir))
    return runs


def binned(steps, values, edges):
    """Mean of the values in each step bin, carried forward through empty bins (NaN before the first)."""
    out = np.full(len(edges) - 1, np.nan)
    index = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, len(edges) - 2)
    for b in np.unique(index):
        out[b] = values[index == b].mean()
    for b in range(1, len(out)):
        if np.isnan(out[b]):
            out[b] = out[b - 1]
    return out


def plot_band(ax, runs, tag, label, colour, bins=60):
    """Mean over runs with a min-max band, for one tag of one variant."""
    runs = [run[tag] for run in runs if tag in run and len(run[tag][0])]
    if not runs:
        return
    edges = np.linspace(0, max(steps.max() for steps, _ in runs) + 1, bins + 1)
    curves = np.array([binned(steps, values, edges) for steps, values in runs])
    centres = (edges[:-1] + edges[1:]) / 2
    with warnings.catch_warnings():  # bins before a run's first event are NaN in every run: left blank
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high = np.nanmean(curves, 0), np.nanmin(curves, 0), np.nanmax(curves, 0)
    sparse = np.count_nonzero(np.isfinite(mean)) < 3  # e.g. reset/frame: a lone point needs a marker to show
    ax.plot(centres, mean, label=f"{label} (n={len(runs)})", color=colour, marker="o" if sparse else None)
    ax.fill_between(centres, low, high, color=colour, alpha=0.2)


def colours(variants):
    """One colour per variant, the same in every panel (a variant with no data in a panel keeps its colour)."""
    return {variant: f"C{i % 10}" for i, variant in enumerate(sorted(variants))}


def mark_resets(ax, runs, colour):
    """A dotted line at each reset (reset/frame) of the runs."""
    for run in runs:
        for frame in run.get("reset/frame", ([], []))[0]:
            ax.axvline(frame, color=colour, linestyle=":", linewidth=1)


def returns_figure(env, variants, path):
    tags = [tag for tag in RETURN_TAGS if any(tag in run for runs in variants.values() for run in runs)]
    fig, axes = plt.subplots(1, len(tags), figsize=(6.4 * len(tags), 4.0), squeeze=False)
    colour = colours(variants)
    for ax, tag in zip(axes.flat, tags):
        for variant, runs in sorted(variants.items()):
            plot_band(ax, runs, tag, variant, colour[variant])
            mark_resets(ax, runs, colour[variant])
        ax.set(title=f"{env}: {RETURN_TAGS[tag]} (mean, min-max over seeds)", xlabel="environment steps")
        ax.set_ylabel("return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def metrics_figure(env, variants, path, pattern=""):
    tags = {t for runs in variants.values() for run in runs for t in run if t.startswith(METRIC_PREFIXES)}
    tags = sorted(t for t in tags if re.search(pattern, t))
    if not tags:
        return False
    cols = 4
    rows = math.ceil(len(tags) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    colour = colours(variants)
    for ax, tag in zip(axes.flat, tags):
        for variant, runs in sorted(variants.items()):
            plot_band(ax, runs, tag, variant, colour[variant])
        ax.set_title(tag, fontsize=10)
        if tag.endswith("grad_norm"):  # spans orders of magnitude and reaches 0 (a collapsed or saturated actor)
            ax.set_yscale("symlog", linthresh=1e-8)
        ax.set_xlabel("environment steps", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(tags) :]:
        ax.axis("off")
    legend = {label: h for ax in axes.flat for h, label in zip(*ax.get_legend_handles_labels())}  # every variant
    labels, handles = list(legend), list(legend.values())
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=10)
    fig.suptitle(f"{env}: per-iteration metrics (mean, min-max over seeds)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def window_return(run, start, stop, tag="charts/episodic_return"):
    """Average of `tag` between fractions `start` and `stop` of the run's steps; None without a value there."""
    steps, values = run.get(tag, (np.array([]), np.array([])))
    end = run["charts/SPS"][0].max() if "charts/SPS" in run else steps.max(initial=0)
    window = values[(steps >= start * end) & (steps <= stop * end)]
    return float(window.mean()) if len(window) else None


def mean_std(values):
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "n/a"


def table(runs_by_env, last_fraction=0.1):
    with_eval = any("eval/episodic_return" in run for v in runs_by_env.values() for runs in v.values() for run in runs)
    eval_column = f" eval return, last {last_fraction:.0%} |" if with_eval else ""
    lines = [
        f"| env | variant | runs | return, last {last_fraction:.0%} of training | return, first {last_fraction:.0%} "
        f"|{eval_column} steps | SPS |",
        "|---|---|---|---|---|" + "---|" * with_eval + "---|---|",
    ]
    for env, variants in sorted(runs_by_env.items()):
        for variant, runs in sorted(variants.items()):
            runs = [run for run in runs if "charts/SPS" in run]
            steps = max((run["charts/SPS"][0][-1] for run in runs), default=0)
            # unfinished runs left out; 2% of slack for budgets that end on a whole batch of episodes (REINFORCE)
            runs = [run for run in runs if run["charts/SPS"][0][-1] >= 0.98 * steps]
            final = [r for r in (window_return(run, 1 - last_fraction, 1) for run in runs) if r is not None]
            early = [r for r in (window_return(run, 0, last_fraction) for run in runs) if r is not None]
            sps = [run["charts/SPS"][1][-1] for run in runs]
            scores = f"{mean_std(final)} | {mean_std(early)}"
            if with_eval:
                evals = [window_return(run, 1 - last_fraction, 1, "eval/episodic_return") for run in runs]
                scores += f" | {mean_std([r for r in evals if r is not None])}"
            lines.append(f"| {env} | {variant} | {len(final)} | {scores} | {steps} | {np.mean(sps):.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--last-fraction", type=float, default=0.1)
    parser.add_argument("--variants", default="", help="regex: keep the variants it matches")
    parser.add_argument("--tags", default="", help="regex: the metrics figure keeps the tags it matches")
    args = parser.parse_args()
    check_args(args)
    runs = collect(args.folders, args.variants)
    if not runs:
        raise SystemExit(f"error: no TensorBoard runs below {', '.join(map(str, args.folders))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for env, variants in runs.items():
        name = env.replace("/", "-")
        returns_figure(env, variants, args.out / f"returns_{name}.png")
        metrics_figure(env, variants, args.out / f"metrics_{name}.png", args.tags)
    (args.out / "table.md").write_text(table(runs, args.last_fraction))
    print((args.out / "table.md").read_text(), end="")
    print(f"figures in {args.out}")


if __name__ == "__main__":
    main()
