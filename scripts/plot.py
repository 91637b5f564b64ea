"""Figures, tidy CSVs and a markdown table from the TensorBoard runs of one or more sweeps.

    python scripts/plot.py sweeps/classic_ppo --out docs/classic_ppo
    python scripts/plot.py sweeps/reinforce_etf --out docs/reinforce_etf --threshold 195

Finds every TensorBoard run below the given folders. Runs are grouped into variants: by their sweep
folder's name without its seed (scripts/sweep.py), or else by env id and exp_name from CleanRL's run
name {env_id}__{exp_name}__{seed}__{time}; the x axis is named after what the run's script counts (X_UNITS,
from the exp_name). Writes, per environment:
  returns_<env>.png   episodic return against steps: mean over seeds, shaded min-max band, both drawn only
                      where every run of the variant has a value; a panel for evaluation returns
                      (eval/episodic_return) where runs log them; a panel against wall-clock time
                      (TensorBoard's wall_time, from the run's first event); dotted lines at resets;
  metrics_<env>.png   each collapse/, repr/, pfo/, capacity/ and reset/ tag over time, the same way
                      (`--tags REGEX` keeps the tags it matches);
  <figure>.csv        beside each figure, its data in tidy form: run, variant, seed, step, tag, value, at most
                      100 evenly spaced points per run and tag (tag wall_clock_s: the seconds since the run's
                      first event at each episodic return);
and table.md, over each variant's finished runs (a run that stopped short of its variant's longest is left out):
the average episodic return over the last 10% of training (one score per run) as an interquartile mean (IQM)
with a 95% confidence interval and as mean ± sd; the same over the first 10% (mean ± sd) and for the evaluation
return over the last 10% where runs log one; the final steps per second; with --threshold T, the steps to T (the
first step at which the mean of the run's last 10 episodic returns reaches T; mean ± sd over the runs that reach it)
and how many runs reach it. Then, for each pair of variants of an environment, the probability that a run of one
scores higher than a run of the other, P(X > Y), with its CI.
With --cleanrl-statistic, a column with the return as CleanRL's docs state theirs (docs/rl-algorithms/ppo.md,
computed by openrlbenchmark.rlops): per run, the mean of its last 100 episodic returns; then mean ± the population
sd (numpy's default, ddof=0) over the runs. With --reference FOLDER, every environment whose name is a task of
DrQ-v2's published curves (CSV files with columns task, seed, frame, episode_reward, as the drqv2 repository's
curves/; docs/reference/drqv2) gets them under its evaluation returns, in frames: each seed thin and grey, their
mean in black, up to the runs' last frame, labelled "DrQ-v2 (published)" and written to the figure's CSV.

Statistics (numpy only; the definitions of rliable, Agarwal et al. 2021): sd is the sample standard deviation
(ddof=1); the IQM is the mean of the scores left once int(n/4) are cut from each end (scipy's trim_mean(x, 0.25));
P(X > Y) counts the pairs (x, y) with x > y, ties as 1/2, over all n*m pairs (the Mann-Whitney U statistic over
n*m); each CI is the 2.5-97.5 percentile of the statistic over 2,000 bootstrap resamples, each variant's runs
drawn with replacement (rliable's stratified bootstrap, one stratum per variant and environment), rng seed 0.
"""

import argparse
import csv
import itertools
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# What each training script's global_step (the logs' x axis) counts, by the start of the run's exp_name (the
# script's name unless --exp-name says otherwise; the experiments/ scripts keep the prefix). Other runs: "steps".
X_UNITS = {
    "ppo_classic": "agent steps",
    "ppo_etf_classic": "agent steps",
    "reinforce": "agent steps",  # reinforce_etf.py; experiments/reinforce_etf.sh names its runs reinforce_eps*
    "ppo_etf_atari": "agent steps",
    "ppo_atari_ale_vector": "agent steps",
    "ppo_pfo_atari": "frames",  # global_step += num_envs * frame_skip, as the authors log
    "drqv2": "frames",  # drqv2_reset_rule.py logs global_frame = global_step * action_repeat
}
RUN_NAME = re.compile(r"(?P<env>.+?)__(?P<exp>.+?)__(?P<seed>\d+)__\d+")
METRIC_PREFIXES = ("collapse/", "repr/", "pfo/", "capacity/", "reset/")
TRAIN, EVAL = "charts/episodic_return", "eval/episodic_return"
RETURN_TAGS = {TRAIN: "episodic return", EVAL: "evaluation return"}
CSV_POINTS = 100  # at most this many rows per run and tag in a figure's CSV
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 2000, 0
CLEANRL_EPISODES = 100  # openrlbenchmark.rlops' metric_last_n_average_window, which made CleanRL's tables
REFERENCE = "DrQ-v2 (published)"


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
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise SystemExit(f"error: --threshold {args.threshold} must be finite")
    if args.out.exists() and not args.out.is_dir():
        raise SystemExit(f"error: --out {args.out} is a file; give a folder")
    if args.reference is not None and not any(args.reference.glob("*.csv")):
        raise SystemExit(f"error: --reference {args.reference} holds no .csv file; give a folder of curves")


class Series(NamedTuple):
    steps: np.ndarray
    values: np.ndarray
    wall: np.ndarray  # seconds since the run's first event


EMPTY = Series(np.array([], int), np.array([]), np.array([]))


@dataclass
class Run:
    path: str  # its TensorBoard directory
    variant: str
    seed: int
    unit: str  # what its steps count
    scalars: dict  # {tag: Series}


def read_run(run_dir):
    """{tag: Series} of one TensorBoard run directory."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    start = accumulator.FirstEventTimestamp()  # written when the run's SummaryWriter is made
    scalars = {}
    for tag in accumulator.Tags()["scalars"]:
        events = accumulator.Scalars(tag)
        steps, values, wall = (np.array(column) for column in zip(*((e.step, e.value, e.wall_time) for e in events)))
        scalars[tag] = Series(steps, values, wall - start)
    return scalars


def variant_of(run_dir):
    """(env, variant label, seed, exp_name) of a run directory."""
    match = RUN_NAME.fullmatch(run_dir.name)
    env, exp, seed = (match["env"], match["exp"], int(match["seed"])) if match else ("?", run_dir.name, 0)
    variant = exp
    sweep_run = next((p for p in run_dir.parents if (p / "log.txt").exists()), None)  # written when a run starts
    if sweep_run is not None:
        variant = ",".join(part for part in sweep_run.name.split(",") if not part.startswith("seed="))
    return env, variant, seed, exp


def x_unit(exp):
    return next((unit for prefix, unit in X_UNITS.items() if exp.startswith(prefix)), "steps")


def collect(folders, pattern=""):
    """{env: {variant: [Run]}} for every run below `folders` whose variant matches the regex `pattern`."""
    runs = defaultdict(lambda: defaultdict(list))
    run_dirs = sorted({event.parent for folder in folders for event in Path(folder).rglob("events.out.tfevents.*")})
    for run_dir in run_dirs:
        env, variant, seed, exp = variant_of(run_dir)
        if re.search(pattern, variant):
            runs[env][variant].append(Run(str(run_dir), variant, seed, x_unit(exp), read_run(run_dir)))
    return runs


def read_reference(folder):
    """{task: [Run]} from published curves, one Run per seed (its frames, evaluation returns, hours as wall clock)."""
    points = defaultdict(lambda: defaultdict(list))
    for path in sorted(Path(folder).glob("*.csv")):
        with open(path, newline="") as file:
            reader = csv.DictReader(file)
            if not {"task", "seed", "frame", "episode_reward", "hour"} <= set(reader.fieldnames or ()):
                raise SystemExit(f"error: --reference {path} lacks DrQ-v2's columns task, seed, frame, episode_reward, hour")
            for r in reader:
                points[r["task"]][int(r["seed"])].append((float(r["frame"]), float(r["episode_reward"]), float(r["hour"])))
    reference = {}
    for task, seeds in points.items():
        reference[task] = []
        for seed, rows in sorted(seeds.items()):
            frames, returns, hours = np.array(sorted(rows)).T
            series = Series(frames.astype(int), returns, hours * 3600)
            reference[task].append(Run(str(folder), REFERENCE, seed, "frames", {EVAL: series}))
    return reference


def binned(x, values, edges):
    """Mean of the values in each bin of x, carried forward through empty bins; NaN before the first value and
    after the last (a run that ended early, or sooner on the wall clock, is not drawn on)."""
    out = np.full(len(edges) - 1, np.nan)
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    for b in np.unique(index):
        out[b] = values[index == b].mean()
    for b in range(1, index.max() + 1):
        if np.isnan(out[b]):
            out[b] = out[b - 1]
    return out


def steps(series):
    return series.steps


def plot_band(ax, runs, tag, label, colour, x=steps, bins=60):
    """Mean over runs with a min-max band, for one tag of one variant, against x(series), drawn only where every
    run has a value: past a run's end (e.g. a run that is faster on the wall clock) the mean of the runs left
    would jump, not show learning."""
    series = [run.scalars[tag] for run in runs if tag in run.scalars and len(run.scalars[tag].steps)]
    if not series:
        return
    edges = np.linspace(0, max(x(s).max() for s in series) + 1, bins + 1)
    curves = np.array([binned(x(s), s.values, edges) for s in series])
    centres = (edges[:-1] + edges[1:]) / 2
    mean, low, high = curves.mean(0), curves.min(0), curves.max(0)  # NaN in a bin where a run has no value
    sparse = np.count_nonzero(np.isfinite(mean)) < 3  # e.g. reset/frame: a lone point needs a marker to show
    ax.plot(centres, mean, label=f"{label} (n={len(series)})", color=colour, marker="o" if sparse else None)
    ax.fill_between(centres, low, high, color=colour, alpha=0.2)


def plot_reference(ax, reference, last):
    """Each seed of a published curve thin and grey, their mean in black, up to frame `last`."""
    series = [run.scalars[EVAL] for run in reference]
    for s in series:
        ax.plot(s.steps[s.steps <= last], s.values[s.steps <= last], color="grey", linewidth=0.6, alpha=0.6)
    frames, values = np.concatenate([s.steps for s in series]), np.concatenate([s.values for s in series])
    shown = np.unique(frames[frames <= last])
    mean = [values[frames == frame].mean() for frame in shown]
    ax.plot(shown, mean, color="black", linewidth=1.2, label=f"{REFERENCE} (n={len(series)})")


def colours(variants):
    """One colour per variant, the same in every panel (a variant with no data in a panel keeps its colour)."""
    return {variant: f"C{i % 10}" for i, variant in enumerate(sorted(variants))}


def mark_resets(ax, runs, colour, x=steps):
    """A dotted line at each reset (reset/frame) of the runs."""
    for run in runs:
        if "reset/frame" in run.scalars:
            for position in x(run.scalars["reset/frame"]):
                ax.axvline(position, color=colour, linestyle=":", linewidth=1)


def x_label(variants):
    """What the steps of the runs count (X_UNITS), e.g. "agent steps"."""
    return " / ".join(sorted({run.unit for runs in variants.values() for run in runs}))


def clock(seconds):
    """(divisor, unit) that shows a duration of `seconds` in seconds, minutes or hours."""
    return (3600, "hours") if seconds > 7200 else (60, "minutes") if seconds > 120 else (1, "seconds")


def write_csv(path, variants, columns):
    """A figure's data in tidy form, at most CSV_POINTS evenly spaced points per run and tag;
    `columns`: (tag written, tag read, the series' field written as value: "values" or "wall")."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["run", "variant", "seed", "step", "tag", "value"])
        for (variant, runs), (name, tag, field) in itertools.product(sorted(variants.items()), columns):
            for run in runs:
                series = run.scalars.get(tag, EMPTY)
                n = len(series.steps)
                for i in np.unique(np.linspace(0, n - 1, min(n, CSV_POINTS)).round().astype(int)):
                    value = getattr(series, field)[i]
                    writer.writerow([Path(run.path).name, variant, run.seed, series.steps[i], name, f"{value:.6g}"])


def returns_figure(env, variants, path, reference=()):
    """Returns against steps (and evaluation returns where logged) and against wall-clock time; False without any.
    `reference`: published runs (read_reference) drawn under the evaluation returns."""
    runs = [run for runs in variants.values() for run in runs]
    tags = [tag for tag in RETURN_TAGS if any(tag in run.scalars for run in runs)]
    if not tags:
        return False
    panels = [(tag, RETURN_TAGS[tag], x_label(variants), steps) for tag in tags]
    if TRAIN in tags:
        divisor, unit = clock(max(run.scalars[TRAIN].wall.max(initial=0) for run in runs if TRAIN in run.scalars))
        xlabel = f"wall-clock {unit} since the run's start"
        panels.append((TRAIN, "episodic return by wall-clock time", xlabel, lambda series: series.wall / divisor))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.0), squeeze=False)
    colour = colours(variants)
    for ax, (tag, title, xlabel, x) in zip(axes.flat, panels):
        if reference and tag == EVAL:
            plot_reference(ax, reference, max(run.scalars[EVAL].steps.max() for run in runs if EVAL in run.scalars))
        for variant, runs in sorted(variants.items()):
            plot_band(ax, runs, tag, variant, colour[variant], x)
            mark_resets(ax, runs, colour[variant], x)
        ax.set(title=f"{env}: {title} (mean, min-max over seeds)", xlabel=xlabel, ylabel="return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    columns = [(t, t, "values") for t in tags] + [("wall_clock_s", TRAIN, "wall")]
    write_csv(path.with_suffix(".csv"), {**variants, REFERENCE: list(reference)} if reference else variants, columns)
    return True


def metrics_figure(env, variants, path, pattern=""):
    tags = {t for runs in variants.values() for run in runs for t in run.scalars if t.startswith(METRIC_PREFIXES)}
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
        ax.set_xlabel(x_label(variants), fontsize=8)
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
    write_csv(path.with_suffix(".csv"), variants, [(t, t, "values") for t in tags])
    return True


def iqm(scores):
    """Interquartile mean along the last axis: the mean once int(n/4) scores are cut from each end."""
    scores = np.sort(scores, axis=-1)
    cut = scores.shape[-1] // 4
    return scores[..., cut : scores.shape[-1] - cut].mean(-1)


def probability_of_improvement(x, y):
    """P(X > Y) along the last axis, ties counting 1/2: the Mann-Whitney U statistic of x over y divided by n*m."""
    x, y = np.asarray(x)[..., :, None], np.asarray(y)[..., None, :]
    return ((x > y) + 0.5 * (x == y)).mean((-2, -1))


def bootstrap_ci(statistic, *samples):
    """95% percentile-bootstrap interval of statistic(*samples), each sample's runs resampled with replacement."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = [np.asarray(s)[rng.integers(0, len(s), (BOOTSTRAP_RESAMPLES, len(s)))] for s in samples]
    return tuple(np.percentile(statistic(*draws), [2.5, 97.5]))


def with_ci(statistic, *samples):
    if not all(len(s) for s in samples):
        return "n/a"
    low, high = bootstrap_ci(statistic, *samples)
    return f"{statistic(*samples):.2f} [{low:.2f}, {high:.2f}]"


def mean_sd(values, spec=".2f", ddof=1):
    """mean ± sd (by default the sample sd, ddof=1); the value alone for one run."""
    if len(values) < 2:
        return f"{values[0]:{spec}}" if values else "n/a"
    return f"{np.mean(values):{spec}} ± {np.std(values, ddof=ddof):{spec}}"


def window_return(run, start, stop, tag=TRAIN):
    """Average of `tag` between fractions `start` and `stop` of the run's steps; None without a value there."""
    series = run.scalars.get(tag, EMPTY)
    end = run.scalars["charts/SPS"].steps.max() if "charts/SPS" in run.scalars else series.steps.max(initial=0)
    window = series.values[(series.steps >= start * end) & (series.steps <= stop * end)]
    return float(window.mean()) if len(window) else None


def last_episodes(run, n=CLEANRL_EPISODES):
    """The mean of the run's last `n` episodic returns, in step order (openrlbenchmark.rlops); None without any."""
    series = run.scalars.get(TRAIN, EMPTY)
    values = series.values[np.argsort(series.steps, kind="stable")][-n:]
    return float(values.mean()) if len(values) else None


def steps_to(run, threshold, window=10):
    """The first step at which the mean of the last `window` episodic returns reaches `threshold`; None if never."""
    steps, values, _ = run.scalars.get(TRAIN, EMPTY)
    if len(values) < window:
        return None
    moving = np.convolve(values, np.ones(window) / window, mode="valid")  # moving[i]: episodes i .. i + window - 1
    hits = np.flatnonzero(moving >= threshold)
    return int(steps[hits[0] + window - 1]) if hits.size else None


def scores(runs, start, stop, tag=TRAIN):
    return [score for score in (window_return(run, start, stop, tag) for run in runs) if score is not None]


def finished(runs):
    """The runs that logged SPS up to their variant's last step; 2% of slack for budgets that end on a whole batch
    of episodes (REINFORCE)."""
    runs = [run for run in runs if "charts/SPS" in run.scalars]
    last = max((run.scalars["charts/SPS"].steps[-1] for run in runs), default=0)
    return [run for run in runs if run.scalars["charts/SPS"].steps[-1] >= 0.98 * last]


def row(cells):
    return "| " + " | ".join(map(str, cells)) + " |"


def table(runs_by_env, last_fraction=0.1, threshold=None, cleanrl=False):
    """The markdown table of the module's docstring, with its notes and the P(X > Y) comparisons."""
    last, first = f"last {last_fraction:.0%}", f"first {last_fraction:.0%}"
    with_eval = any(EVAL in run.scalars for v in runs_by_env.values() for runs in v.values() for run in runs)
    header = ["env", "variant", "runs", f"return, {last}: IQM [95% CI]", "mean ± sd", f"return, {first}: mean ± sd"]
    header += [f"eval return, {last}: IQM [95% CI]", "mean ± sd"] if with_eval else []
    header += [f"steps to {threshold:g}: mean ± sd", f"reached {threshold:g}"] if threshold is not None else []
    header += [f"return, last {CLEANRL_EPISODES} episodes: mean ± sd (ddof=0), as CleanRL"] if cleanrl else []
    lines = [row(header + ["steps", "SPS"]), row(["---"] * (len(header) + 2))]
    comparisons = []
    for env, variants in sorted(runs_by_env.items()):
        final = {}
        for variant, runs in sorted(variants.items()):
            runs = finished(runs)
            final[variant] = scores(runs, 1 - last_fraction, 1)
            cells = [env, variant, len(final[variant]), with_ci(iqm, final[variant]), mean_sd(final[variant])]
            cells.append(mean_sd(scores(runs, 0, last_fraction)))
            if with_eval:
                evals = scores(runs, 1 - last_fraction, 1, EVAL)
                cells += [with_ci(iqm, evals), mean_sd(evals)]
            if threshold is not None:
                reached = [step for step in (steps_to(run, threshold) for run in runs) if step is not None]
                cells += [mean_sd(reached, ",.0f") if reached else "never", f"{len(reached)}/{len(runs)}"]
            if cleanrl:
                cells.append(mean_sd([s for s in map(last_episodes, runs) if s is not None], ddof=0))
            sps = [run.scalars["charts/SPS"] for run in runs]
            cells += [max(s.steps[-1] for s in sps), f"{np.mean([s.values[-1] for s in sps]):.0f}"] if sps else ["?"] * 2
            lines.append(row(cells))
        for x, y in itertools.combinations(sorted(final), 2):
            comparisons.append(row([env, x, y, with_ci(probability_of_improvement, final[x], final[y])]))
    lines += [
        "",
        f"runs: the finished runs with an episode in the {last} of training; IQM: interquartile mean over them, "
        f"[95% CI]: percentile bootstrap ({BOOTSTRAP_RESAMPLES} resamples of the runs, rng seed {BOOTSTRAP_SEED}); "
        "sd: sample standard deviation over runs (ddof=1); steps: the longest run's last step; SPS: mean final "
        "steps per second." + (f" steps to {threshold:g}: over the runs that reach it." if threshold is not None else ""),
    ]
    if cleanrl:
        lines[-1] += (
            f" As CleanRL: per finished run, the mean of its last {CLEANRL_EPISODES} episodic returns; mean ± population "
            "sd (ddof=0) over the runs, as openrlbenchmark.rlops computes CleanRL's published tables."
        )
    if comparisons:
        lines += ["", row(["env", "X", "Y", f"P(X > Y), return over the {last} [95% CI]"]), row(["---"] * 4)]
        lines += comparisons
        lines += ["", "P(X > Y): the probability that a run of X scores higher than a run of Y, ties counting 1/2."]
    return "\n".join(lines) + "\n"


def main():
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--last-fraction", type=float, default=0.1)
    parser.add_argument("--variants", default="", help="regex: keep the variants it matches")
    parser.add_argument("--tags", default="", help="regex: the metrics figure keeps the tags it matches")
    parser.add_argument(
        "--threshold", type=float, help="table: the steps until the mean of 10 consecutive episodic returns reaches it"
    )
    parser.add_argument(
        "--cleanrl-statistic", action="store_true", help="table: the return as CleanRL states theirs (see above)"
    )
    parser.add_argument(
        "--reference", type=Path, help="a folder of DrQ-v2's published curves (CSV), e.g. docs/reference/drqv2"
    )
    args = parser.parse_args()
    check_args(args)
    reference = read_reference(args.reference) if args.reference else {}
    runs = collect(args.folders, args.variants)
    if not runs:
        raise SystemExit(f"error: no TensorBoard runs below {', '.join(map(str, args.folders))}")
    if reference and not reference.keys() & runs.keys():
        print(
            f"note: no environment here is a task of --reference {args.reference}: {', '.join(sorted(reference))}",
            file=sys.stderr,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for env, variants in runs.items():
        name = env.replace("/", "-")
        published = reference.get(env, ()) if x_label(variants) == "frames" else ()  # the published curves' unit
        returns_figure(env, variants, args.out / f"returns_{name}.png", published)
        metrics_figure(env, variants, args.out / f"metrics_{name}.png", args.tags)
    (args.out / "table.md").write_text(table(runs, args.last_fraction, args.threshold, args.cleanrl_statistic))
    print((args.out / "table.md").read_text(), end="")
    print(f"figures and their data (.csv) in {args.out}")


if __name__ == "__main__":
    main()
