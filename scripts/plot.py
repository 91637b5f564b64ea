"""Figures, tidy CSVs and a markdown table from the TensorBoard runs of one or more sweeps.

    python scripts/plot.py sweeps/classic_ppo --out docs/classic_ppo
    python scripts/plot.py sweeps/reinforce_etf --out docs/reinforce_etf --threshold 195
    python scripts/plot.py runs_upstream runs --out docs/breakout --same-game

Finds every TensorBoard run below the given folders. Runs are grouped into variants: by their sweep
folder's name without its seed (scripts/sweep.py), or else by env id and exp_name from CleanRL's run
name {env_id}__{exp_name}__{seed}__{time} (its path below runs/: ALE/Breakout-v5__... for an id with a "/");
the x axis is named after what the run's script counts (X_UNITS, from the exp_name). With --same-game, Atari
runs are grouped by game rather than env id (ALE/Breakout-v5, ALE-Breakout-v5, BreakoutNoFrameskip-v4 and
BreakoutDeterministic-v4 are Breakout), each variant labelled with its env id (env=...) unless it names one.
Only finished runs count: a run is finished unless its sweep's status.json gives an exit code other than 0 or
its last logged step is short of the budget its "hyperparameters" text sets (see `budget`: PPO's num_iterations
x batch_size, x frame_skip where it counts frames; DrQ-v2's num_train_frames; else total_timesteps); a run with
neither counts as finished. Unfinished runs (stopped, crashed, still running) are listed under the table, and
are in no figure, mean or score. Writes, per environment (or game):
  returns_<env>.png   episodic return against steps: mean over seeds, shaded min-max band, both drawn only
                      where every run of the variant has a value; a panel for evaluation returns
                      (eval/episodic_return) where runs log them; a panel against wall-clock time
                      (TensorBoard's wall_time, from the run's first event); dotted lines at resets;
  metrics_<env>.png   each collapse/, repr/, repr_after/, pfo/, capacity/ and reset/ tag over time, the same way
                      (`--tags REGEX` keeps the tags it matches); metrics.md tabulates them (below);
  <figure>.csv        beside each figure, its data in tidy form: run, variant, seed, step, tag, value, at most
                      100 evenly spaced points per run and tag (tag wall_clock_s: the seconds since the run's
                      first event at each episodic return);
The legends name each variant by the parts of its label that tell the figure's variants apart (etf, no-etf
rather than env=CartPole-v1,variant=etf). And table.md, over each variant's finished runs:
the average episodic return over the last 10% of training (one score per run) as an interquartile mean (IQM)
with a 95% confidence interval and as mean ± sd; the same over the first 10% (mean ± sd) and for the evaluation
return over the last 10% where runs log one; the final steps per second; with --threshold T, the steps to T (the
first step at which the mean of the run's last 10 episodic returns reaches T; mean ± sd over the runs that reach it)
and how many runs reach it. Then, for each pair of variants of an environment, the probability that a run of one
scores higher than a run of the other, P(X > Y), with its CI. And metrics.md, where runs log metric tags: per
environment, tag and variant, each finished run's average of the tag over the first and the last 10% of its steps,
as mean ± sd over the runs.
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
import json
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
# The first prefix that matches counts.
X_UNITS = {
    "ppo_pfo_atari": "frames",  # global_step += num_envs * frame_skip, as the authors log
    "ppo": "agent steps",  # ppo_classic, ppo_etf_classic, ppo_atari_ale_vector, ppo_etf_atari, CleanRL's ppo*.py
    "reinforce": "agent steps",  # reinforce_etf.py; experiments/reinforce_etf.sh names its runs reinforce_eps*
    "drqv2": "frames",  # drqv2_reset_rule.py logs global_frame = global_step * action_repeat
}
# Atari ids, by their game (--same-game): ALE/<game>-v5 (ALE-<game>-v5 in a sweep's folder), <game>NoFrameskip-v4, ...
ATARI_ID = re.compile(r"ALE[/-](?P<ale>.+)-v\d+|(?P<gym>.+?)(NoFrameskip|Deterministic)-v\d+")
RUN_NAME = re.compile(r"(?P<env>.+?)__(?P<exp>.+?)__(?P<seed>\d+)__\d+")
METRIC_PREFIXES = ("collapse/", "repr/", "repr_after/", "pfo/", "capacity/", "reset/")
TRAIN, EVAL = "charts/episodic_return", "eval/episodic_return"
RETURN_TAGS = {TRAIN: "episodic return", EVAL: "evaluation return"}
CSV_POINTS = 100  # at most this many rows per run and tag in a figure's CSV
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 2000, 0
CLEANRL_EPISODES = 100  # openrlbenchmark.rlops' metric_last_n_average_window, which made CleanRL's tables
REFERENCE = "DrQ-v2 (published)"
HYPERPARAMETERS = "hyperparameters/text_summary"  # CleanRL's writer.add_text("hyperparameters", ...)


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
    unfinished: str = ""  # why the run did not reach its budget ("" when it did, or when nothing says it did not)


def read_events(run_dir):
    """({tag: Series}, {hyperparameter: value as text}) of one TensorBoard run directory; the hyperparameters from
    CleanRL's "hyperparameters" text (a |param|value| table), {} without one."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    start = accumulator.FirstEventTimestamp()  # written when the run's SummaryWriter is made
    scalars = {}
    for tag in accumulator.Tags()["scalars"]:
        events = accumulator.Scalars(tag)
        steps, values, wall = (np.array(column) for column in zip(*((e.step, e.value, e.wall_time) for e in events)))
        scalars[tag] = Series(steps, values, wall - start)
    params = {}
    if HYPERPARAMETERS in accumulator.Tags()["tensors"]:
        text = accumulator.Tensors(HYPERPARAMETERS)[0].tensor_proto.string_val[0].decode()
        params = dict(re.findall(r"^\|([^|]+)\|(.*)\|$", text, re.MULTILINE))
    return scalars, params


def read_run(run_dir):
    """{tag: Series} of one TensorBoard run directory."""
    return read_events(run_dir)[0]


def budget(params, unit):
    """The last step that a complete run logs, in its unit, from its hyperparameters; None if they do not say.
    PPO (CleanRL's, ours): num_iterations whole batches of batch_size agent steps, times frame_skip where the run
    counts frames (ppo_pfo_atari.py); drqv2_reset_rule.py: num_train_frames // action_repeat agent steps, logged in
    frames; otherwise total_timesteps (reinforce_etf.py goes on to the end of a batch of episodes past it)."""
    value = {key: int(text) for key, text in params.items() if text.isdigit()}.get
    if value("num_train_frames"):
        return value("num_train_frames") // value("action_repeat", 1) * value("action_repeat", 1)
    if value("num_iterations") and value("batch_size"):
        return value("num_iterations") * value("batch_size") * (value("frame_skip", 1) if unit == "frames" else 1)
    return value("total_timesteps")


def unfinished(sweep_run, scalars, params, unit):
    """Why a run is unfinished: its sweep's status.json gives an exit code other than 0, or it logged nothing at
    its budget (stopped, crashed or still running); "" otherwise."""
    status = sweep_run / "status.json" if sweep_run else None
    if status and status.exists():
        status = json.loads(status.read_text())
        if status["returncode"] != 0:
            return f"exit code {status['returncode']}" if status["returncode"] is not None else status.get("error", "died")
    last, total = max((s.steps.max() for s in scalars.values() if len(s.steps)), default=0), budget(params, unit)
    return f"last step {last:,} of {total:,} {unit}" if total and last < total else ""


def sweep_run_of(run_dir):
    """The sweep's folder of the run (scripts/sweep.py writes its log.txt when the run starts), or None."""
    return next((p for p in run_dir.parents if (p / "log.txt").exists()), None)


def variant_of(run_dir):
    """(env, variant label, seed, exp_name) of a run directory. Its run name is its folder's name, or in
    runs/<namespace>/ its path below runs/ (CleanRL's f"runs/{run_name}": ALE/Breakout-v5 makes a folder ALE/);
    either way an Atari id reads ALE/<Game>-v5."""
    in_namespace = run_dir.parent.parent.name == "runs" and run_dir.parent.name != "runs"
    match = RUN_NAME.fullmatch(f"{run_dir.parent.name}/{run_dir.name}" if in_namespace else run_dir.name)
    env, exp, seed = (match["env"], match["exp"], int(match["seed"])) if match else ("?", run_dir.name, 0)
    env = re.sub(r"^ALE-", "ALE/", env)  # the Atari scripts' flat run names write ALE/<Game>-v5 as ALE-<Game>-v5
    variant = exp
    sweep_run = sweep_run_of(run_dir)
    if sweep_run is not None:
        variant = ",".join(part for part in sweep_run.name.split(",") if not part.startswith("seed="))
    return env, variant, seed, exp


def x_unit(exp):
    return next((unit for prefix, unit in X_UNITS.items() if exp.startswith(prefix)), "steps")


def game(env):
    """The game an Atari id names (Breakout for ALE/Breakout-v5 and BreakoutNoFrameskip-v4); other ids as they are."""
    match = ATARI_ID.fullmatch(env)
    return (match["ale"] or match["gym"]) if match else env


def collect(folders, pattern="", same_game=False):
    """{env: {variant: [Run]}} for every run below `folders` whose variant matches the regex `pattern`; with
    `same_game`, {game: {variant: [Run]}}, each variant labelled with its env id unless it names one already."""
    runs = defaultdict(lambda: defaultdict(list))
    run_dirs = sorted({event.parent for folder in folders for event in Path(folder).rglob("events.out.tfevents.*")})
    for run_dir in run_dirs:
        env, variant, seed, exp = variant_of(run_dir)
        if not re.search(pattern, variant):
            continue
        if same_game and not any(part.startswith("env=") for part in variant.split(",")):
            variant = f"env={env},{variant}"
        scalars, params = read_events(run_dir)
        why = unfinished(sweep_run_of(run_dir), scalars, params, x_unit(exp))
        runs[game(env) if same_game else env][variant].append(Run(str(run_dir), variant, seed, x_unit(exp), scalars, why))
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


def legend_labels(variants):
    """{variant: its legend label}: of the variant's comma-separated parts (key=value from a sweep's folder, or a
    bare name), only those that tell the figure's variants apart (its env is the same in all); the value alone when
    one key does (etf, no-etf) and its values are words. A figure of one variant: its parts but the env."""
    parsed = {v: dict(part.split("=", 1) if "=" in part else ("", part) for part in v.split(",")) for v in variants}
    keys = list(dict.fromkeys(key for parts in parsed.values() for key in parts))
    shown = [key for key in keys if len({parts.get(key) for parts in parsed.values()}) > 1]
    shown = shown or [key for key in keys if key != "env"]
    number = any(
        re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?", parts.get(key, ""), re.I) for parts in parsed.values() for key in shown
    )
    named = len(shown) > 1 or number  # several keys, or a number: key=value, so that 0.1 says what it is
    return {
        v: ", ".join(f"{key}={value}" if key and named else value for key, value in parts.items() if key in shown) or v
        for v, parts in parsed.items()
    }


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
    # constrained layout: the titles, labels and the suptitle fit in the figure whatever their length
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.2), squeeze=False, layout="constrained")
    colour, label = colours(variants), legend_labels(variants)
    for ax, (tag, title, xlabel, x) in zip(axes.flat, panels):
        if reference and tag == EVAL:
            plot_reference(ax, reference, max(run.scalars[EVAL].steps.max() for run in runs if EVAL in run.scalars))
        for variant, runs in sorted(variants.items()):
            plot_band(ax, runs, tag, label[variant], colour[variant], x)
            mark_resets(ax, runs, colour[variant], x)
        ax.set(title=title, xlabel=xlabel, ylabel="return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{env}: mean and min-max over seeds")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    columns = [(t, t, "values") for t in tags] + [("wall_clock_s", TRAIN, "wall")]
    write_csv(path.with_suffix(".csv"), {**variants, REFERENCE: list(reference)} if reference else variants, columns)
    return True


def metric_tags(variants, pattern=""):
    """The collapse/, repr/, ... tags that some run of the variants logs and the regex `pattern` matches, sorted."""
    tags = {t for runs in variants.values() for run in runs for t in run.scalars if t.startswith(METRIC_PREFIXES)}
    return sorted(t for t in tags if re.search(pattern, t))


def metrics_figure(env, variants, path, pattern=""):
    tags = metric_tags(variants, pattern)
    if not tags:
        return False
    cols = min(4, len(tags))
    rows = math.ceil(len(tags) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows + 0.6), squeeze=False, layout="constrained")
    colour, label = colours(variants), legend_labels(variants)
    for ax, tag in zip(axes.flat, tags):
        for variant, runs in sorted(variants.items()):
            plot_band(ax, runs, tag, label[variant], colour[variant])
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
    fig.legend(handles, labels, loc="outside lower center", ncol=max(1, min(len(labels), cols)), fontsize=10)
    fig.suptitle(f"{env}: per-iteration metrics (mean, min-max over seeds)")
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
    """The runs that reached their own budget (Run.unfinished)."""
    return [run for run in runs if not run.unfinished]


def finished_only(runs_by_env):
    """{env: {variant: [finished Run]}}, the variants left with none dropped."""
    kept = {env: {variant: finished(runs) for variant, runs in variants.items()} for env, variants in runs_by_env.items()}
    return {env: {v: runs for v, runs in variants.items() if runs} for env, variants in kept.items()}


def row(cells):
    return "| " + " | ".join(map(str, cells)) + " |"


def table(runs_by_env, last_fraction=0.1, threshold=None, cleanrl=False):
    """The markdown table of the module's docstring, with its notes and the P(X > Y) comparisons."""
    last, first = f"last {last_fraction:.0%}", f"first {last_fraction:.0%}"
    with_eval = any(EVAL in run.scalars for v in runs_by_env.values() for runs in v.values() for run in finished(runs))
    header = ["env", "variant", "runs", f"return, {last}: IQM [95% CI]", "mean ± sd", f"return, {first}: mean ± sd"]
    header += [f"eval return, {last}: IQM [95% CI]", "mean ± sd"] if with_eval else []
    header += [f"steps to {threshold:g}: mean ± sd", f"reached {threshold:g}"] if threshold is not None else []
    header += [f"return, last {CLEANRL_EPISODES} episodes: mean ± sd (ddof=0), as CleanRL"] if cleanrl else []
    lines = [row(header + ["steps", "SPS"]), row(["---"] * (len(header) + 2))]
    comparisons, left_out = [], []
    for env, variants in sorted(runs_by_env.items()):
        final = {}
        for variant, runs in sorted(variants.items()):
            left_out += [f"{env} {variant} seed {run.seed}: {run.unfinished} ({run.path})" for run in runs if run.unfinished]
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
            sps = [run.scalars["charts/SPS"] for run in runs if "charts/SPS" in run.scalars]
            cells += [max(s.steps[-1] for s in sps), f"{np.mean([s.values[-1] for s in sps]):.0f}"] if sps else ["?"] * 2
            lines.append(row(cells))
        for x, y in itertools.combinations(sorted(final), 2):
            comparisons.append(row([env, x, y, with_ci(probability_of_improvement, final[x], final[y])]))
    lines += [
        "",
        f"runs: the finished runs (those that reached their budget) with an episode in the {last} of training; "
        "IQM: interquartile mean over them, "
        f"[95% CI]: percentile bootstrap ({BOOTSTRAP_RESAMPLES} resamples of the runs, rng seed {BOOTSTRAP_SEED}); "
        "sd: sample standard deviation over runs (ddof=1); steps: the longest run's last step; SPS: mean final "
        "steps per second." + (f" steps to {threshold:g}: over the runs that reach it." if threshold is not None else ""),
    ]
    if cleanrl:
        lines[-1] += (
            f" As CleanRL: per finished run, the mean of its last {CLEANRL_EPISODES} episodic returns; mean ± population "
            "sd (ddof=0) over the runs, as openrlbenchmark.rlops computes CleanRL's published tables."
        )
    if left_out:
        lines += ["", "Unfinished runs, left out of the table and the figures (not seeds of the result):"]
        lines += [f"- {run}" for run in left_out]
    if comparisons:
        lines += ["", row(["env", "X", "Y", f"P(X > Y), return over the {last} [95% CI]"]), row(["---"] * 4)]
        lines += comparisons
        lines += ["", "P(X > Y): the probability that a run of X scores higher than a run of Y, ties counting 1/2."]
    return "\n".join(lines) + "\n"


def metrics_table(runs_by_env, pattern="", last_fraction=0.1):
    """metrics.md: per environment, metric tag and variant, the tag's average over the first and the last
    `last_fraction` of each finished run's steps, as mean ± sd over the runs; "" when no run logs such a tag."""
    first, last = f"first {last_fraction:.0%}", f"last {last_fraction:.0%}"
    lines = []
    for env, variants in sorted(finished_only(runs_by_env).items()):
        for tag in metric_tags(variants, pattern):
            for variant, runs in sorted(variants.items()):
                early, final = scores(runs, 0, last_fraction, tag), scores(runs, 1 - last_fraction, 1, tag)
                if final:
                    lines.append(row([env, tag, variant, len(final), mean_sd(early, ".3g"), mean_sd(final, ".3g")]))
    if not lines:
        return ""
    header = [row(["env", "tag", "variant", "runs", f"{first}: mean ± sd", f"{last}: mean ± sd"]), row(["---"] * 6)]
    notes = f"Each run's average of the tag over the {first} and the {last} of its steps; mean ± sample sd (ddof=1) "
    notes += "over the finished runs that log it there."
    return "\n".join(header + lines + ["", notes]) + "\n"


def main():
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--last-fraction", type=float, default=0.1)
    parser.add_argument("--variants", default="", help="regex: keep the variants it matches")
    parser.add_argument("--tags", default="", help="regex: the metrics figure and metrics.md keep the tags it matches")
    parser.add_argument(
        "--threshold", type=float, help="table: the steps until the mean of 10 consecutive episodic returns reaches it"
    )
    parser.add_argument(
        "--cleanrl-statistic", action="store_true", help="table: the return as CleanRL states theirs (see above)"
    )
    parser.add_argument(
        "--reference", type=Path, help="a folder of DrQ-v2's published curves (CSV), e.g. docs/reference/drqv2"
    )
    parser.add_argument(
        "--same-game",
        action="store_true",
        help="group Atari runs by game, e.g. BreakoutNoFrameskip-v4 and ALE/Breakout-v5 in one figure and table",
    )
    args = parser.parse_args()
    check_args(args)
    reference = read_reference(args.reference) if args.reference else {}
    runs = collect(args.folders, args.variants, args.same_game)
    if not runs:
        raise SystemExit(f"error: no TensorBoard runs below {', '.join(map(str, args.folders))}")
    if reference and not reference.keys() & runs.keys():
        print(
            f"note: no environment here is a task of --reference {args.reference}: {', '.join(sorted(reference))}",
            file=sys.stderr,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for env, variants in finished_only(runs).items():
        name = env.replace("/", "-")
        published = reference.get(env, ()) if x_label(variants) == "frames" else ()  # the published curves' unit
        returns_figure(env, variants, args.out / f"returns_{name}.png", published)
        metrics_figure(env, variants, args.out / f"metrics_{name}.png", args.tags)
    (args.out / "table.md").write_text(table(runs, args.last_fraction, args.threshold, args.cleanrl_statistic))
    metrics = metrics_table(runs, args.tags, args.last_fraction)
    if metrics:
        (args.out / "metrics.md").write_text(metrics)
    print((args.out / "table.md").read_text(), end="")
    print(f"figures and their data (.csv) in {args.out}")


if __name__ == "__main__":
    main()
