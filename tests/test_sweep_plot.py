"""scripts/sweep.py and scripts/plot.py: grid expansion, resuming, failures, the event reader, statistics, figures."""

import ast
import csv
import json
import os
import re
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from conftest import ROOT, assert_stops_with_one_line

sys.path.insert(0, str(ROOT / "scripts"))
import plot  # noqa: E402
import sweep  # noqa: E402


def run_sweep(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "sweep.py"), *args], cwd=cwd, capture_output=True, text=True)


def test_grid_expansion():
    axes = [sweep.parse_axis("env=A,B"), sweep.parse_axis("seed=1:3")]
    runs = sweep.expand_grid("python x.py --env-id {env} --seed {seed}", axes)
    assert len(runs) == 6
    assert runs[0] == ("env=A,seed=1", "python x.py --env-id A --seed 1")
    assert runs[-1] == ("env=B,seed=3", "python x.py --env-id B --seed 3")
    with pytest.raises(SystemExit, match="no such key"):
        sweep.expand_grid("python x.py {variant}", axes)
    with pytest.raises(SystemExit, match="do not appear"):
        sweep.expand_grid("python x.py {env}", axes)
    with pytest.raises(SystemExit, match="FIRST <= LAST"):
        sweep.parse_axis("seed=5:1")
    # a "/" in a value does not make nested folders
    assert sweep.expand_grid("x {env}", [sweep.parse_axis("env=ALE/Pong-v5")]) == [("env=ALE-Pong-v5", "x ALE/Pong-v5")]


def test_the_command_keeps_the_venv_python(tmp_path):
    """The venv's python (a symlink to the base interpreter) runs the job, not the interpreter it links to."""
    (tmp_path / "job.py").write_text("import sys\nprint(sys.prefix)\n")
    result = run_sweep(f"{sys.executable} job.py --n {{n}}", "--grid", "n=1:2", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for n in (1, 2):
        assert json.loads((tmp_path / f"out/n={n}/status.json").read_text())["command"].startswith(sys.executable)
        assert (tmp_path / f"out/n={n}/log.txt").read_text() == sys.prefix + "\n"


def test_a_leading_python_is_the_interpreter_that_runs_the_sweep(tmp_path):
    """`python` and `python3` at the start of the command mean sys.executable as it is (a venv's symlink, not
    resolved), not the first python on PATH."""
    bin = tmp_path / "bin"
    bin.mkdir()
    for name in ("python", "python3"):
        (bin / name).write_text("#!/bin/sh\necho the python on PATH\n")
        (bin / name).chmod(0o755)
    (tmp_path / "job.py").write_text("import sys\nprint(sys.executable)\n")
    env = dict(os.environ, PATH=f"{bin}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sweep.py"), "{py} job.py", "--grid", "py=python,python3", "--out", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for py in ("python", "python3"):
        assert (tmp_path / f"out/py={py}/log.txt").read_text() == sys.executable + "\n"
        assert json.loads((tmp_path / f"out/py={py}/status.json").read_text())["command"].startswith(sys.executable + " ")
    assert sweep.absolute_files("python3.11 -c pass", tmp_path)[0] == "python3.11"  # only the bare names


def test_a_failed_line_does_not_land_in_the_progress_bar(tmp_path):
    """The FAILED line goes to the bar's stream (stderr), the bar cleared back to the line's start before it; on
    stdout, buffered apart from the bar, it would land anywhere in the bar's line."""
    (tmp_path / "job.py").write_text("import sys\nsys.exit(int(sys.argv[1]))\n")
    command = [sys.executable, str(ROOT / "scripts" / "sweep.py"), "python job.py {code}", "--grid", "code=0,3"]
    result = subprocess.run([*command, "--out", "out", "--workers", "1"], cwd=tmp_path, capture_output=True)  # bytes: \r kept
    assert result.returncode == 1 and b"FAILED" not in result.stdout
    (line,) = [line for line in result.stderr.decode().split("\n") if "FAILED" in line]
    assert line.split("\r")[-1].startswith("FAILED (exit code 3): code=3, log: ")
    assert "runs:" in line  # the bar was drawn on this line, and cleared


BAD_INPUTS = {  # case: (script, arguments, what the one line says)
    "empty values": ("sweep.py", ["x {seed}", "--grid", "seed=", "--out", "out"], "'seed=' is not KEY=V1,V2"),
    "reversed range": ("sweep.py", ["x {seed}", "--grid", "seed=5:1", "--out", "out"], "FIRST <= LAST"),
    "repeated key": ("sweep.py", ["x {a}", "--grid", "a=1", "a=2", "--out", "out"], "'a' is given more than once"),
    "no =": ("sweep.py", ["x {seed}", "--grid", "seed", "--out", "out"], "'seed' is not KEY=V1,V2"),
    "empty value": ("sweep.py", ["x {seed}", "--grid", "seed=1,,2", "--out", "out"], "empty or repeated value"),
    "repeated value": ("sweep.py", ["x {seed}", "--grid", "seed=1,1", "--out", "out"], "empty or repeated value"),
    "unknown key": ("sweep.py", ["x {env}", "--grid", "seed=1", "--out", "out"], "uses {env} but --grid has no"),
    "unused key": ("sweep.py", ["x", "--grid", "seed=1", "--out", "out"], "do not appear in the command"),
    "bad template": ("sweep.py", ["x {seed", "--grid", "seed=1", "--out", "out"], "is not a template"),
    "unclosed quote": ("sweep.py", ["x '{seed}", "--grid", "seed=1", "--out", "out"], "No closing quotation"),
    "no --out": ("sweep.py", ["x {seed}", "--grid", "seed=1"], "required: --out"),
    "no workers": ("sweep.py", ["x {seed}", "--grid", "seed=1", "--out", "out", "--workers", "0"], "--workers"),
    "no SLURM": ("sweep.py", ["x {seed}", "--grid", "seed=1", "--out", "out", "--executor", "slurm"], "srun"),
    "bad --mem-gb": ("sweep.py", ["x {seed}", "--grid", "seed=1", "--out", "out", "--mem-gb", "-1"], "--mem-gb"),
    "bad --tags": ("plot.py", [".", "--out", "out", "--tags", "["], "--tags '[' is not a regular expression"),
    "bad --variants": ("plot.py", [".", "--out", "out", "--variants", "(a"], "--variants '(a' is not a regular"),
    "missing folder": ("plot.py", ["nowhere", "--out", "out"], "no such folder: nowhere"),
    "no runs": ("plot.py", [".", "--out", "out"], "no TensorBoard runs below ."),
    "bad --last-fraction": ("plot.py", [".", "--out", "out", "--last-fraction", "0"], "must be in (0, 1]"),
    "bad --threshold": ("plot.py", [".", "--out", "out", "--threshold", "nan"], "--threshold nan must be finite"),
    "no reference curves": ("plot.py", [".", "--out", "out", "--reference", "."], "--reference . holds no .csv file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_stops_with_one_line(case, tmp_path, monkeypatch, capsys):
    """In this process (Python prints a SystemExit's message on stderr and exits with status 1)."""
    script, args, message = BAD_INPUTS[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as stop:
        {"sweep.py": sweep, "plot.py": plot}[script].main()
    line = stop.value.code
    assert isinstance(line, str) and line.startswith("error: ") and "\n" not in line and message in line, line
    assert capsys.readouterr().err == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["bad --tags", "reversed range"])
def test_bad_input_stops_with_one_line_as_a_process(case, tmp_path):
    script, args, message = BAD_INPUTS[case]
    result = subprocess.run([sys.executable, ROOT / "scripts" / script, *args], cwd=tmp_path, capture_output=True, text=True)
    assert_stops_with_one_line(result, message, tmp_path)
    assert not (tmp_path / "out").exists()


def test_resume_and_failure_reporting(tmp_path):
    (tmp_path / "job.py").write_text("import sys\nprint('job', sys.argv[1])\nsys.exit(int(sys.argv[1]))\n")
    command = [f"{sys.executable} job.py {{code}}", "--grid", "code=0,3", "--out", "out", "--workers", "2"]
    first = run_sweep(*command, cwd=tmp_path)
    assert first.returncode == 1
    assert "FAILED (exit code 3): code=3" in first.stdout + first.stderr
    assert json.loads((tmp_path / "out/code=3/status.json").read_text())["returncode"] == 3
    assert (tmp_path / "out/code=3/log.txt").read_text() == "job 3\n"  # the failure's log is kept
    assert json.loads((tmp_path / "out/code=0/status.json").read_text())["returncode"] == 0
    second = run_sweep(*command, cwd=tmp_path)
    assert "2 runs, 1 already finished, 1 to run" in second.stdout  # resumes: only the failed run again
    assert second.returncode == 1


JOB = """import os, sys, time
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

seed, how = sys.argv[1:]
writer = EventFileWriter(f"runs/CartPole-v1__job__{seed}__{time.time_ns()}")
summary = Summary(value=[Summary.Value(tag="charts/episodic_return", simple_value=1.0)])
writer.add_event(Event(wall_time=time.time(), step=1, summary=summary))
writer.close()
sys.exit(how == "fail" or os.path.exists(f"../fail{seed}"))
"""


def test_a_rerun_leaves_one_curve_per_seed(tmp_path):
    """A failed point's rerun starts from an empty folder: the failed attempt's TensorBoard run is not kept as a
    second run of its seed."""
    (tmp_path / "job.py").write_text(JOB)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fail2").write_text("")
    command = [f"{sys.executable} job.py {{seed}} ok", "--grid", "seed=1:2", "--out", "out", "--workers", "2"]
    assert run_sweep(*command, cwd=tmp_path).returncode == 1
    (tmp_path / "out" / "fail2").unlink()
    second = run_sweep(*command, cwd=tmp_path)
    assert second.returncode == 0 and "2 runs, 1 already finished, 1 to run" in second.stdout
    runs = plot.collect([tmp_path / "out"])["CartPole-v1"][""]
    assert sorted(run.seed for run in runs) == [1, 2]


def test_job_array_through_submitit(tmp_path):
    """The SLURM path on submitit's local executor: one run succeeds, the other exits 1."""
    (tmp_path / "job.py").write_text(JOB)
    result = run_sweep(
        *(f"{sys.executable} job.py 1 {{how}}", "--grid", "how=ok,fail", "--out", "out"),
        *("--executor", "submitit-local", "--partition", "p", "--timeout-min", "5", "--mem-gb", "1"),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "FAILED (exit code 1): how=fail" in result.stdout + result.stderr and "1 failed" in result.stdout
    assert json.loads((tmp_path / "out/how=ok/status.json").read_text())["returncode"] == 0
    assert json.loads((tmp_path / "out/how=fail/status.json").read_text())["returncode"] == 1
    assert len(list((tmp_path / "out/submitit").glob("*_submitted.pkl"))) == 2  # both went through submitit


def test_a_job_that_dies_is_recorded_as_its_runs_failure(tmp_path):
    """A cancelled, timed-out or killed SLURM job leaves no result: submitit's job.result() raises."""
    from submitit.core.utils import UncompletedJobError

    def cancelled():
        raise UncompletedJobError("Job 42_1 (task: 0) has not produced any output (state: CANCELLED)")

    status = sweep.outcome(tmp_path / "n=2", cancelled)
    assert status["returncode"] is None and "CANCELLED" in status["error"]
    assert json.loads((tmp_path / "n=2/status.json").read_text()) == status
    assert not sweep.is_finished(tmp_path / "n=2")  # the next call reruns it


def test_slurm_gets_one_job_array_with_the_resources(tmp_path, monkeypatch):
    """A stand-in sbatch keeps the script submitit gives it (submitit only needs srun to exist)."""
    bin = tmp_path / "bin"
    bin.mkdir()
    (bin / "srun").write_text("#!/bin/sh\n")
    (bin / "sbatch").write_text('#!/bin/sh\ncp "$1" "$(dirname "$0")/submitted.sh"\necho "Submitted batch job 42"\n')
    for tool in ("srun", "sbatch"):
        (bin / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin}{os.pathsep}{os.environ['PATH']}")
    args = sweep.parse_args(
        ["x {n}", "--grid", "n=1:3", "--out", str(tmp_path / "out"), "--executor", "slurm", "--partition", "gpu"]
        + ["--timeout-min", "90", "--cpus-per-task", "4", "--gpus-per-node", "1", "--mem-gb", "16"]
    )
    jobs = [(tmp_path / "out" / f"n={n}", ["x", str(n)]) for n in (1, 2, 3)]
    submitted = sweep.submit_array(jobs, args)
    assert [job.job_id for _, job in submitted] == ["42_0", "42_1", "42_2"]
    script = (bin / "submitted.sh").read_text()
    for option in ("array=0-2", "partition=gpu", "time=90", "cpus-per-task=4", "gpus-per-node=1", "mem=16GB"):
        assert f"#SBATCH --{option}" in script


def test_sweep_and_plot_on_a_tiny_real_run(tmp_path):
    command = f"{sys.executable} ppo_etf_classic.py --total-timesteps 1024 --num-envs 2 --num-steps 128 --{{variant}}"
    # launched from the repository, as a user would, with the script's path relative to it
    result = subprocess.run(
        [sys.executable, "scripts/sweep.py", command, "--grid", "variant=etf,no-etf", "--out", str(tmp_path / "sw")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads((tmp_path / "sw/variant=etf/status.json").read_text())
    (tensorboard,) = status["tensorboard"]
    scalars = plot.read_run(tensorboard)
    assert len(scalars["charts/SPS"].steps) == 4 and "collapse/nc1" in scalars
    assert np.all(np.diff(scalars["charts/SPS"].wall) > 0)

    assert plot.budget(plot.read_events(tensorboard)[1], "agent steps") == 1024  # 4 iterations of 2 x 128 steps
    runs = plot.collect([tmp_path / "sw"])
    assert set(runs["CartPole-v1"]) == {"variant=etf", "variant=no-etf"}
    assert not any(run.unfinished for variant in runs["CartPole-v1"].values() for run in variant)
    assert plot.x_label(runs["CartPole-v1"]) == "agent steps"
    out = tmp_path / "figs"
    plotted = subprocess.run([sys.executable, str(ROOT / "scripts/plot.py"), str(tmp_path / "sw"), "--out", str(out)])
    assert plotted.returncode == 0
    for name in ("returns_CartPole-v1", "metrics_CartPole-v1"):
        data = (out / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert (out / f"{name}.csv").read_text().startswith("run,variant,seed,step,tag,value\n")
    table = (out / "table.md").read_text()
    assert "| CartPole-v1 | variant=etf |" in table and "| CartPole-v1 | variant=no-etf |" in table
    assert "| CartPole-v1 | variant=etf | variant=no-etf |" in table  # P(X > Y)
    assert len(plot.collect([tmp_path / "sw"], "no-etf")["CartPole-v1"]) == 1


def write_run(folder, scalars, seconds_per_step=0.1, params=None):
    """A TensorBoard run from {tag: [(step, value), ...]}, its wall clock at `seconds_per_step`; `params`: the
    hyperparameters, written as CleanRL's scripts write them."""
    from torch.utils.tensorboard import SummaryWriter

    start = time.time()
    writer = SummaryWriter(folder)
    if params is not None:
        table = "\n".join([f"|{key}|{value}|" for key, value in params.items()])
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n%s" % table)
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step, walltime=start + step * seconds_per_step)
    writer.close()


def test_statistics_on_known_answers():
    assert plot.iqm(np.arange(1.0, 9.0)) == 4.5  # the middle half of 1..8: 3, 4, 5, 6
    assert plot.iqm([5.0, 1.0, 3.0, 2.0, 4.0]) == 3.0  # int(5/4) = 1 cut from each end
    assert plot.iqm([1.0, 2.0, 6.0]) == 3.0  # fewer than 4 scores: the mean
    assert plot.probability_of_improvement([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert plot.probability_of_improvement([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert plot.probability_of_improvement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.5
    assert plot.probability_of_improvement([1.0, 2.0], [1.0]) == 0.75  # a tie counts 1/2
    assert plot.bootstrap_ci(plot.probability_of_improvement, [3.0, 4.0], [1.0, 2.0]) == (1.0, 1.0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=7), rng.normal(size=5)
    stats = pytest.importorskip("scipy.stats")
    assert np.isclose(plot.iqm(x), stats.trim_mean(x, 0.25))
    assert np.isclose(plot.probability_of_improvement(x, y), stats.mannwhitneyu(x, y).statistic / 35)

    widths = []
    for n in (5, 50):
        scores = rng.normal(size=n)
        low, high = plot.bootstrap_ci(plot.iqm, scores)
        assert low <= plot.iqm(scores) <= high
        assert plot.bootstrap_ci(plot.iqm, scores) == (low, high)  # a fixed rng seed: the same interval each time
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # more seeds, a narrower interval


def test_table_csv_and_units_on_hand_made_runs(tmp_path):
    """8 seeds of two variants: A scores its seed (1..8) over the last 10%, B 100 more."""
    for variant, offset in (("ppo_etf_classic_a", 0), ("ppo_etf_classic_b", 100)):
        for seed in range(1, 9):
            write_run(
                tmp_path / "runs" / f"CartPole-v1__{variant}__{seed}__0",
                {
                    "charts/episodic_return": [(50, 0.0), (950, seed + offset), (1000, seed + offset)],
                    "charts/SPS": [(500, 10.0), (1000, 20.0)],
                    "collapse/nc1": [(step, seed) for step in range(1, 1001)],
                },
            )
    runs = plot.collect([tmp_path / "runs"])["CartPole-v1"]
    assert [run.seed for run in runs["ppo_etf_classic_a"]] == list(range(1, 9))
    table = plot.table({"CartPole-v1": runs})
    assert "| CartPole-v1 | ppo_etf_classic_a | 8 | 4.50 [" in table
    assert "| 4.50 ± 2.45 | 0.00 ± 0.00 | 1000 | 20 |" in table  # sample sd of 1..8: 2.449
    assert "| CartPole-v1 | ppo_etf_classic_a | ppo_etf_classic_b | 0.00 [0.00, 0.00] |" in table
    assert "sample standard deviation over runs (ddof=1)" in table

    assert plot.x_label(runs) == "agent steps"
    assert plot.returns_figure("CartPole-v1", runs, tmp_path / "returns.png")
    assert plot.metrics_figure("CartPole-v1", runs, tmp_path / "metrics.png")
    with open(tmp_path / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 16 * plot.CSV_POINTS  # 1,000 points per run, downsampled
    first = [r for r in rows if r["run"].endswith("_a__1__0")]
    assert (first[0]["variant"], first[0]["seed"], first[0]["tag"]) == ("ppo_etf_classic_a", "1", "collapse/nc1")
    assert (first[0]["step"], first[-1]["step"], first[-1]["value"]) == ("1", "1000", "1")
    with open(tmp_path / "returns.csv") as file:
        wall = [r for r in csv.DictReader(file) if r["tag"] == "wall_clock_s" and r["step"] == "950"]
    assert len(wall) == 16 and all(abs(float(r["value"]) - 95) < 5 for r in wall)


def test_metrics_table_averages_each_tag_over_the_first_and_last_tenth(tmp_path, monkeypatch):
    """metrics.md: per tag and variant, mean ± sd over finished runs of the tag's average over the first and the
    last 10% of steps; an unfinished run and a tag that --tags leaves out are not in it."""
    for variant, offset in (("ppo_etf_atari_a", 0.0), ("ppo_etf_atari_b", 10.0)):
        for seed in (1, 2):
            write_run(
                tmp_path / "runs" / f"Pong-v5__{variant}__{seed}__0",
                {
                    "charts/episodic_return": [(1000, 1.0)],
                    "charts/SPS": [(1000, 20.0)],
                    "collapse/nc1": [(step, step / 100 + offset + seed) for step in range(0, 1001, 100)],
                    "repr/dead_units": [(step, 5.0) for step in range(0, 1001, 100)],
                },
                params={"total_timesteps": 1000, "num_envs": 1, "num_steps": 1000} if seed == 1 else None,
            )
    write_run(
        tmp_path / "runs" / "Pong-v5__ppo_etf_atari_a__3__0",
        {"collapse/nc1": [(10, 99.0)], "charts/SPS": [(10, 1)]},
        params={"total_timesteps": 1000, "num_envs": 1, "num_steps": 1000},
    )  # stopped at step 10: unfinished
    runs = plot.collect([tmp_path / "runs"])
    table = plot.metrics_table(runs, "nc1")
    # a's seeds: first 10% (steps 0, 100) 1.5 and 2.5, last 10% (steps 900, 1000) 10.5 and 11.5
    assert "| Pong-v5 | collapse/nc1 | ppo_etf_atari_a | 2 | 2 ± 0.707 | 11 ± 0.707 |" in table
    assert "| Pong-v5 | collapse/nc1 | ppo_etf_atari_b | 2 | 12 ± 0.707 | 21 ± 0.707 |" in table
    assert "dead_units" not in table and "99" not in table
    assert "| Pong-v5 | repr/dead_units | ppo_etf_atari_a | 2 | 5 | 5 |" not in table
    assert "| repr/dead_units | ppo_etf_atari_b | 2 | 5 ± 0 | 5 ± 0 |" in plot.metrics_table(runs)
    assert plot.metrics_table(runs, "no_such_tag") == ""

    monkeypatch.setattr(sys, "argv", ["plot.py", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--tags", "nc1"])
    plot.main()
    assert (tmp_path / "out" / "metrics.md").read_text() == table


def test_every_metric_prefix_that_a_script_logs_is_plotted():
    """A training script's own tags (all but CleanRL's charts/, losses/ and the eval/ panel) reach the metrics
    figure and metrics.md: a prefix left out of METRIC_PREFIXES would drop its tags without a word."""
    scripts = [*ROOT.glob("*.py")]
    logged = {match for path in scripts for match in re.findall(r"[\"']([a-z_]+/)", path.read_text())}
    assert logged - {"charts/", "losses/", "eval/", "runs/", "videos/"} <= set(plot.METRIC_PREFIXES)
    run = plot.Run("r", "v", 1, "frames", {"repr_after/actor_dead_units": None, "charts/SPS": None})
    assert plot.metric_tags({"v": [run]}) == ["repr_after/actor_dead_units"]


def test_steps_to_threshold_and_its_columns():
    """The first step where the mean of the last 10 episodic returns reaches the threshold."""

    def run(returns):
        steps = np.arange(10, 10 * len(returns) + 1, 10)
        series = plot.Series(steps, np.array(returns, float), steps / 10)
        return plot.Run("r", "v", 1, "agent steps", {"charts/episodic_return": series, "charts/SPS": series})

    reaches = run([0] * 5 + [200] * 15)  # episodes 6..15 (steps 60..150) are the first ten at 200
    never = run([190] * 20)
    assert plot.steps_to(reaches, 195) == 150 and plot.steps_to(reaches, 1) == 100  # no mean before 10 episodes
    assert plot.steps_to(never, 195) is None and plot.steps_to(run([200] * 9), 195) is None
    table = plot.table({"CartPole-v1": {"v": [reaches, never]}}, threshold=195)
    assert "| steps to 195: mean ± sd | reached 195 |" in table
    assert "| 150 | 1/2 | 200 |" in table
    assert "| never | 0/1 |" in plot.table({"CartPole-v1": {"v": [never]}}, threshold=195)
    assert "steps to" not in plot.table({"CartPole-v1": {"v": [never]}})


def test_scripts_import_no_training_script():
    training = {path.stem for path in ROOT.glob("*.py")}
    for script in (ROOT / "scripts").glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        assert not imported & training, script


def test_x_units_from_the_script_name():
    assert plot.x_unit("ppo_etf_classic") == plot.x_unit("reinforce_eps0.2_no-etf") == "agent steps"
    assert plot.x_unit("ppo_classic") == plot.x_unit("ppo_atari_ale_vector") == "agent steps"
    assert plot.x_unit("drqv2_no_reset_rule") == plot.x_unit("ppo_pfo_atari") == "frames"
    assert plot.x_unit("my_script") == "steps"


def test_plot_evaluation_returns_resets_and_tag_filter(tmp_path):
    for start, evals in (("dead", [0.0, 10.0, 30.0]), ("healthy", [0.0, 50.0, 70.0])):
        scalars = {
            tag: [(frame + shift, value * scale) for frame, value in zip((0, 500, 900), evals)]
            for tag, shift, scale in (
                ("eval/episodic_return", 0, 1),
                ("charts/episodic_return", 100, 0.5),
                ("collapse/action_std", 0, 1),
                ("reset/mlp1_grad_norm", 0, 1),
            )
        }
        scalars["charts/SPS"] = [(frame + 100, 10.0) for frame in (0, 500, 900)]
        if start == "dead":
            scalars["reset/frame"] = [(400, 400)]
        write_run(tmp_path / "sw" / f"start={start},seed=1" / "runs" / "cartpole_swingup__drqv2_reset_rule__1__0", scalars)
        (tmp_path / "sw" / f"start={start},seed=1" / "log.txt").write_text("")
    runs = plot.collect([tmp_path / "sw"])["cartpole_swingup"]
    assert plot.x_label(runs) == "frames"
    table = plot.table({"cartpole_swingup": runs})
    assert "| eval return, last 10%: IQM [95% CI] | mean ± sd |" in table.splitlines()[0]
    # the last 10% of the run's 1,000 frames holds one evaluation, at 900; one run: no sd
    assert "| cartpole_swingup | start=dead | 1 | 15.00 [15.00, 15.00] | 15.00 | 0.00 | 30.00 [30.00, 30.00] |" in table
    assert plot.returns_figure("cartpole_swingup", runs, tmp_path / "returns.png")
    assert (tmp_path / "returns.png").stat().st_size > 10_000
    assert plot.metrics_figure("cartpole_swingup", runs, tmp_path / "m.png", "grad_norm|action_std")
    assert not plot.metrics_figure("cartpole_swingup", runs, tmp_path / "none.png", "no_such_tag")
    sps_only = plot.Run("r", "v", 1, "steps", {"charts/SPS": plot.Series(np.array([1]), np.array([1.0]), np.zeros(1))})
    assert "eval return" not in plot.table({"x": {"v": [sps_only]}})


def test_cleanrl_statistic_on_hand_made_runs():
    """Per run the mean of its last 100 episodic returns (10, 20, 30), then mean ± population sd over runs."""

    def run(returns):
        steps = np.arange(1, len(returns) + 1) * 10
        sps = plot.Series(np.array([1500]), np.array([10.0]), np.array([150.0]))  # the same length: all finished
        series = plot.Series(steps, np.array(returns, float), steps / 10.0)
        return plot.Run("r", "v", 1, "agent steps", {"charts/episodic_return": series, "charts/SPS": sps})

    runs = [run([1000] * 50 + [10] * 100), run([-1000] * 20 + [20] * 100), run([30] * 30)]  # 30 episodes: all of them
    assert [plot.last_episodes(r) for r in runs] == [10, 20, 30]
    shuffled = plot.Run(
        "r", "v", 1, "steps", {"charts/episodic_return": plot.Series([3, 1, 2], np.array([3.0, 1, 2]), [0] * 3)}
    )
    assert plot.last_episodes(shuffled, 2) == 2.5  # the last episodes by step, not by order in the file
    table = plot.table({"CartPole-v1": {"v": runs}}, cleanrl=True)
    assert "| return, last 100 episodes: mean ± sd (ddof=0), as CleanRL | steps | SPS |" in table
    assert "| 20.00 ± 8.16 | 1500 | 10 |" in table  # population sd of 10, 20, 30: sqrt(200/3); the sample sd would be 10
    assert "population sd (ddof=0)" in table and "as CleanRL" not in plot.table({"CartPole-v1": {"v": runs}})


REFERENCE_CSV = """,agent,task,seed,frame,episode_reward,hour
0,DrQ-v2,cartpole_swingup,1,0,0.0,0.0
1,DrQ-v2,cartpole_swingup,1,400,100.0,0.1
2,DrQ-v2,cartpole_swingup,1,800,200.0,0.2
3,DrQ-v2,cartpole_swingup,1,1200,300.0,0.3
0,DrQ-v2,cartpole_swingup,2,0,10.0,0.0
1,DrQ-v2,cartpole_swingup,2,400,300.0,0.1
2,DrQ-v2,cartpole_swingup,2,800,400.0,0.2
3,DrQ-v2,cartpole_swingup,2,1200,500.0,0.3
0,DrQ-v2,walker_walk,1,0,5.0,0.0
"""


def test_reference_curves_under_ours(tmp_path, monkeypatch):
    """DrQ-v2's published curves (2 seeds in frames) under a tiny drqv2 run's evaluation returns, up to its last frame."""
    scalars = {tag: [(0, 1.0), (500, 2.0), (900, 3.0)] for tag in ("eval/episodic_return", "charts/episodic_return")}
    write_run(tmp_path / "runs" / "cartpole_swingup__drqv2_reset_rule__1__0", {**scalars, "charts/SPS": [(900, 10.0)]})
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "dmc_tiny.csv").write_text(REFERENCE_CSV)
    reference = plot.read_reference(tmp_path / "ref")
    assert sorted(reference) == ["cartpole_swingup", "walker_walk"] and len(reference["cartpole_swingup"]) == 2
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plot.plot_reference(ax, reference["cartpole_swingup"], last=900)
    *seeds, mean = ax.lines
    assert [line.get_color() for line in seeds] == ["grey", "grey"] and mean.get_label() == "DrQ-v2 (published) (n=2)"
    assert list(mean.get_xdata()) == [0, 400, 800] and list(mean.get_ydata()) == [5.0, 200.0, 300.0]  # not 1200
    plt.close(fig)

    monkeypatch.setattr(sys, "argv", ["plot.py", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    sys.argv += ["--reference", str(tmp_path / "ref")]
    plot.main()
    with open(tmp_path / "out" / "returns_cartpole_swingup.csv") as file:
        published = [r for r in csv.DictReader(file) if r["variant"] == "DrQ-v2 (published)"]
    assert {(r["seed"], r["tag"]) for r in published} == {("1", "eval/episodic_return"), ("2", "eval/episodic_return")}
    assert [(r["step"], r["value"]) for r in published if r["seed"] == "2"][-1] == ("1200", "500")

    (tmp_path / "ref" / "other.csv").write_text("frame,return\n0,1\n")
    with pytest.raises(SystemExit, match="lacks DrQ-v2's columns"):
        plot.read_reference(tmp_path / "ref")


def test_the_mean_curve_is_drawn_only_where_every_run_has_a_value():
    class Axes:
        def plot(self, x, y, **kwargs):
            self.mean = y

        def fill_between(self, x, low, high, **kwargs):
            self.low, self.high = low, high

    def run(steps, values):
        series = plot.Series(np.array(steps), np.array(values, float), np.array(steps, float))
        return types.SimpleNamespace(scalars={"charts/episodic_return": series})

    long, short = run(range(0, 100, 10), [0.0] * 10), run(range(0, 50, 10), [10.0] * 5)  # short ends at 40
    ax = Axes()
    plot.plot_band(ax, [long, short], "charts/episodic_return", "v", "C0", bins=10)
    both = np.isfinite(ax.mean)
    assert both[:4].all() and not both[5:].any()  # not the short run's value alone, nor the long one's after it
    np.testing.assert_allclose(ax.mean[both], 5.0)
    assert np.isnan(ax.low[5:]).all() and np.isnan(ax.high[5:]).all()


PPO_5000 = {"exp_name": "ppo_etf_classic", "total_timesteps": 5000, "num_iterations": 10, "batch_size": 500}


def test_budgets_from_each_scripts_hyperparameters():
    """The last step a complete run logs, in the unit of its x axis."""
    text = {key: str(value) for key, value in PPO_5000.items()}
    assert plot.budget(text, "agent steps") == 5000
    assert plot.budget({**text, "total_timesteps": "5100"}, "agent steps") == 5000  # whole iterations: 10 x 500
    pfo = {"total_timesteps": "10000", "num_iterations": "3", "batch_size": "1024", "frame_skip": "3"}
    assert plot.budget(pfo, "frames") == 9216  # global_step counts frames: 3 iterations x 1,024 agent steps x 3
    drqv2 = {"num_train_frames": "1001", "action_repeat": "2", "batch_size": "256"}
    assert plot.budget(drqv2, "frames") == 1000  # 500 agent steps of 2 frames
    assert plot.budget({"total_timesteps": "2000", "num_envs": "4"}, "agent steps") == 2000  # REINFORCE
    assert plot.budget({}, "steps") is None and plot.budget({"total_timesteps": "None"}, "steps") is None


def test_a_run_counts_when_it_reached_its_own_budget(tmp_path, monkeypatch):
    """Seeds 1, 2 finished (5,000 and a 2,400-step budget); 3 stopped at 4,710 and 4 at 4,950 (within the old 2%
    slack); 5 reached its budget but its sweep says exit code 1; 6 logs no hyperparameters (nothing says it stopped)."""
    budgets = {1: 5000, 2: 2400, 3: 5000, 4: 5000, 5: 5000, 6: None}
    last = {1: 5000, 2: 2400, 3: 4710, 4: 4950, 5: 5000, 6: 3000}
    for seed, total in budgets.items():
        sweep_run = tmp_path / "sw" / f"variant=etf,seed={seed}"
        params = total and {**PPO_5000, "total_timesteps": total, "num_iterations": total // 100, "batch_size": 100}
        steps = range(100, last[seed] + 1, 10)
        scalars = {"charts/episodic_return": [(step, seed) for step in steps], "charts/SPS": [(step, 10.0) for step in steps]}
        write_run(sweep_run / "runs" / f"CartPole-v1__ppo_etf_classic__{seed}__0", scalars, params=params)
        (sweep_run / "log.txt").write_text("")
        (sweep_run / "status.json").write_text(json.dumps({"returncode": 1 if seed in (3, 5) else 0}))
    (tmp_path / "sw" / "variant=etf,seed=4" / "status.json").unlink()  # killed with the sweep: no status
    runs = plot.collect([tmp_path / "sw"])["CartPole-v1"]["variant=etf"]
    why = {run.seed: run.unfinished for run in runs}
    assert why == {1: "", 2: "", 3: "exit code 1", 4: "last step 4,950 of 5,000 agent steps", 5: "exit code 1", 6: ""}
    table = plot.table({"CartPole-v1": {"variant=etf": runs}})
    assert "| CartPole-v1 | variant=etf | 3 | 3.00 [" in table  # seeds 1, 2, 6: their scores are their seeds
    left_out = table.split("Unfinished runs, left out of the table and the figures (not seeds of the result):\n")[1]
    assert left_out.startswith("- CartPole-v1 variant=etf seed 3: exit code 1 (")
    assert "- CartPole-v1 variant=etf seed 4: last step 4,950 of 5,000 agent steps (" in left_out
    assert "seed 1:" not in table and "seed 2:" not in table

    monkeypatch.setattr(sys, "argv", ["plot.py", str(tmp_path / "sw"), "--out", str(tmp_path / "out")])
    plot.main()
    with open(tmp_path / "out" / "returns_CartPole-v1.csv") as file:
        assert {r["seed"] for r in csv.DictReader(file)} == {"1", "2", "6"}  # the figure draws the finished runs only


def test_stopped_run_of_a_script_that_counts_frames(tmp_path):
    """ppo_pfo_atari.py: global_step in frames, 2 iterations x 64 agent steps x 3 frames = 384."""
    params = {"exp_name": "ppo_pfo_atari", "total_timesteps": 400, "num_iterations": 2, "batch_size": 64, "frame_skip": 3}
    for seed, last in ((1, 384), (2, 192)):
        scalars = {"charts/SPS": [(step, 1.0) for step in range(192, last + 1, 192)]}
        write_run(tmp_path / "runs" / "ALE" / f"Breakout-v5__ppo_pfo_atari__{seed}__0", scalars, params=params)
    runs = plot.collect([tmp_path / "runs"])["ALE/Breakout-v5"]["ppo_pfo_atari"]  # the env id with its ALE/
    assert {run.seed: run.unfinished for run in runs} == {1: "", 2: "last step 192 of 384 frames"}


def test_game_of_an_env_id():
    for env in ("ALE/Breakout-v5", "ALE-Breakout-v5", "BreakoutNoFrameskip-v4", "BreakoutDeterministic-v4"):
        assert plot.game(env) == "Breakout", env
    assert plot.game("ALE/MontezumaRevenge-v5") == plot.game("MontezumaRevengeNoFrameskip-v4") == "MontezumaRevenge"
    assert plot.game("Breakout-ramNoFrameskip-v4") == "Breakout-ram"  # RAM observations: another task
    assert plot.game("CartPole-v1") == "CartPole-v1" and plot.game("cartpole_swingup") == "cartpole_swingup"


def test_same_game_puts_upstream_and_port_in_one_table(tmp_path, monkeypatch):
    """CleanRL's ppo_atari.py on BreakoutNoFrameskip-v4 and our port on ALE/Breakout-v5 (its runs/ALE/ folder, or
    runs/ALE-Breakout-v5__... ): one game, three variants, the P(X > Y) of each pair."""
    runs_dirs = {
        "upstream": "BreakoutNoFrameskip-v4__ppo_atari",
        "port": "ALE/Breakout-v5__ppo_atari_ale_vector",
        "flat": "ALE-Breakout-v5__ppo_etf_atari",
        "pong": "ALE/Pong-v5__ppo_atari_ale_vector",
    }
    for offset, (folder, name) in enumerate(runs_dirs.items()):
        for seed in (1, 2):
            scalars = {"charts/episodic_return": [(0, 0.0), (1000, seed + 10 * offset)], "charts/SPS": [(1000, 1.0)]}
            write_run(tmp_path / folder / "runs" / f"{name}__{seed}__0", scalars)
    runs = plot.collect([tmp_path], same_game=True)
    assert sorted(runs) == ["Breakout", "Pong"]
    breakout = {"env=BreakoutNoFrameskip-v4,ppo_atari", "env=ALE/Breakout-v5,ppo_atari_ale_vector"}
    assert set(runs["Breakout"]) == breakout | {"env=ALE/Breakout-v5,ppo_etf_atari"}  # a flat run name reads as its id
    assert sorted(plot.collect([tmp_path])) == ["ALE/Breakout-v5", "ALE/Pong-v5", "BreakoutNoFrameskip-v4"]
    table = plot.table(runs)
    assert "| Breakout | env=ALE/Breakout-v5,ppo_atari_ale_vector | env=BreakoutNoFrameskip-v4,ppo_atari | 1.00 [" in table
    assert len([line for line in table.splitlines() if line.startswith("| Breakout | env=")]) == 3 + 3  # rows, pairs
    labels = plot.legend_labels(runs["Breakout"])
    assert labels["env=BreakoutNoFrameskip-v4,ppo_atari"] == "env=BreakoutNoFrameskip-v4, ppo_atari"

    monkeypatch.setattr(sys, "argv", ["plot.py", str(tmp_path), "--out", str(tmp_path / "out"), "--same-game"])
    plot.main()
    assert sorted(path.name for path in (tmp_path / "out").glob("*.png")) == ["returns_Breakout.png", "returns_Pong.png"]
    sweep_variant = {"env=ALE-Breakout-v5,variant=etf": []}  # a sweep's folder names its env already
    assert plot.legend_labels(sweep_variant) == {"env=ALE-Breakout-v5,variant=etf": "etf"}


def test_legend_labels_keep_only_what_tells_variants_apart():
    same_env = ["env=CartPole-v1,variant=etf", "env=CartPole-v1,variant=no-etf"]
    assert plot.legend_labels(same_env) == dict(zip(same_env, ["etf", "no-etf"]))
    grid = ["env=LunarLander-v3,eps=0.1,head=etf,lr=3e-4", "env=LunarLander-v3,eps=0.2,head=no-etf,lr=3e-4"]
    assert list(plot.legend_labels(grid).values()) == ["eps=0.1, head=etf", "eps=0.2, head=no-etf"]
    assert plot.legend_labels(["ppo_etf_classic_a", "ppo_etf_classic_b"]) == {
        "ppo_etf_classic_a": "ppo_etf_classic_a",
        "ppo_etf_classic_b": "ppo_etf_classic_b",
    }
    assert plot.legend_labels(["env=CartPole-v1,variant=etf"]) == {"env=CartPole-v1,variant=etf": "etf"}  # alone
    assert list(plot.legend_labels(["pfo=0", "pfo=1"]).values()) == ["pfo=0", "pfo=1"]  # a number alone says nothing


def test_returns_figure_titles_fit_and_legends_are_short(tmp_path, monkeypatch):
    """The wall-clock panel's title used to run past the figure's right edge; the legend named the env again."""
    for variant in ("etf", "no-etf"):
        for seed in (1, 2):
            points = [(step, step / 100) for step in range(0, 1001, 100)]
            sweep_run = tmp_path / "sw" / f"env=LunarLander-v3,variant={variant},seed={seed}"
            write_run(sweep_run / "runs" / f"LunarLander-v3__ppo_etf_classic__{seed}__0", {"charts/episodic_return": points})
            (sweep_run / "log.txt").write_text("")
    runs = plot.collect([tmp_path / "sw"])["LunarLander-v3"]
    figures = []
    monkeypatch.setattr(plot.plt, "close", figures.append)
    assert plot.returns_figure("LunarLander-v3", runs, tmp_path / "returns.png")
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    texts = [text for ax in fig.axes for text in (ax.title, ax.xaxis.label, ax.yaxis.label)]
    for text in texts:
        box = text.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width and 0 <= box.y0 and box.y1 <= fig.bbox.height, text.get_text()
    assert "wall-clock" in fig.axes[1].get_title() and "LunarLander-v3" in fig.get_suptitle()
    for ax in fig.axes:
        assert [text.get_text() for text in ax.get_legend().get_texts()] == ["etf (n=2)", "no-etf (n=2)"]
    with open(tmp_path / "returns.csv") as file:  # the figure's data keeps the full variant names
        assert {r["variant"] for r in csv.DictReader(file)} == {
            "env=LunarLander-v3,variant=etf",
            "env=LunarLander-v3,variant=no-etf",
        }
