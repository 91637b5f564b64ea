"""scripts/sweep.py and scripts/plot.py: grid expansion, resuming, failures, the event reader, the figures."""

import json
import subprocess
import sys

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


def test_the_command_keeps_the_venv_python(tmp_path):
    """Issue #12: the venv's python (a symlink to the base interpreter) runs the job, not the interpreter it links to."""
    (tmp_path / "job.py").write_text("import sys\nprint(sys.prefix)\n")
    result = run_sweep(f"{sys.executable} job.py --n {{n}}", "--grid", "n=1:2", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for n in (1, 2):
        assert json.loads((tmp_path / f"out/n={n}/status.json").read_text())["command"].startswith(sys.executable)
        assert (tmp_path / f"out/n={n}/log.txt").read_text() == sys.prefix + "\n"


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
    "bad --tags": ("plot.py", [".", "--out", "out", "--tags", "["], "--tags '[' is not a regular expression"),
    "bad --variants": ("plot.py", [".", "--out", "out", "--variants", "(a"], "--variants '(a' is not a regular"),
    "missing folder": ("plot.py", ["nowhere", "--out", "out"], "no such folder: nowhere"),
    "no runs": ("plot.py", [".", "--out", "out"], "no TensorBoard runs below ."),
    "bad --last-fraction": ("plot.py", [".", "--out", "out", "--last-fraction", "0"], "must be in (0, 1]"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_stops_with_one_line(case, tmp_path):
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


def test_debug_executor_runs_through_submitit(tmp_path):
    (tmp_path / "job.py").write_text("print('ok')\n")
    result = run_sweep(
        f"{sys.executable} job.py --n {{n}}", "--grid", "n=1:2", "--out", "out", "--executor", "debug", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert all(json.loads((tmp_path / f"out/n={n}/status.json").read_text())["returncode"] == 0 for n in (1, 2))


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
    assert len(scalars["charts/SPS"][0]) == 4 and "collapse/nc1" in scalars

    runs = plot.collect([tmp_path / "sw"])
    assert set(runs["CartPole-v1"]) == {"variant=etf", "variant=no-etf"}
    out = tmp_path / "figs"
    plotted = subprocess.run([sys.executable, str(ROOT / "scripts/plot.py"), str(tmp_path / "sw"), "--out", str(out)])
    assert plotted.returncode == 0
    for name in ("returns_CartPole-v1.png", "metrics_CartPole-v1.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    table = (out / "table.md").read_text()
    assert "| CartPole-v1 | variant=etf |" in table and "| CartPole-v1 | variant=no-etf |" in table
    assert len(plot.collect([tmp_path / "sw"], "no-etf")["CartPole-v1"]) == 1


def test_plot_evaluation_returns_resets_and_tag_filter(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for start, evals in (("dead", [0.0, 10.0, 30.0]), ("healthy", [0.0, 50.0, 70.0])):
        writer = SummaryWriter(tmp_path / "sw" / f"start={start},seed=1" / "runs" / "cartpole_swingup__drq__1__0")
        for frame, value in zip((0, 500, 900), evals):
            writer.add_scalar("eval/episodic_return", value, frame)
            writer.add_scalar("charts/episodic_return", value / 2, frame + 100)
            writer.add_scalar("charts/SPS", 10.0, frame + 100)
            writer.add_scalar("collapse/action_std", value, frame)
            writer.add_scalar("reset/mlp1_grad_norm", value, frame)
        if start == "dead":
            writer.add_scalar("reset/frame", 400, 400)
        writer.close()
        (tmp_path / "sw" / f"start={start},seed=1" / "log.txt").write_text("")
    runs = plot.collect([tmp_path / "sw"])["cartpole_swingup"]
    table = plot.table({"cartpole_swingup": runs})
    assert "| eval return, last 10% |" in table.splitlines()[0]
    # the last 10% of the run's 1,000 frames holds one evaluation, at 900
    assert "| cartpole_swingup | start=dead | 1 | 15.00 ± 0.00 | 0.00 ± 0.00 | 30.00 ± 0.00 | 1000 | 10 |" in table
    fig_path = tmp_path / "returns.png"
    plot.returns_figure("cartpole_swingup", runs, fig_path)
    assert fig_path.stat().st_size > 10_000
    assert plot.metrics_figure("cartpole_swingup", runs, tmp_path / "m.png", "grad_norm|action_std")
    assert not plot.metrics_figure("cartpole_swingup", runs, tmp_path / "none.png", "no_such_tag")
    assert "eval return" not in plot.table({"x": {"v": [{"charts/SPS": (np.array([1]), np.array([1.0]))}]}})
