"""What every speed benchmark here shares: a training script runs as a process (never imported), and its speed is
the steady-state rate between two of its `SPS` lines, from the global steps between them and the wall-clock times
at which the lines arrived (the warm-up before the first line of the window is left out; CleanRL's cumulative
`SPS` counts it). Runs of the scripts compared alternate (a, b, a, b, ...), each with the same thread settings;
medians are reported. `ref_script` runs a script as it was at an older commit."""

import atexit
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPS_LINE = re.compile(r"^SPS\b[^:]*:\s*([0-9.]+)")  # CleanRL's "SPS: N", DrQ-v2's "SPS (frames ...): N"


def default_threads():
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count())


def process_env(threads, pythonpath=(ROOT,)):
    """Environment of a timed process: the same torch/OpenMP threads for all, output unbuffered (so each line's
    arrival time is the time it was printed), the script's folder importable."""
    n = str(threads)
    path = os.pathsep.join(map(str, pythonpath))
    return dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, PYTHONUNBUFFERED="1", PYTHONPATH=path)


def machine_line(threads):
    import torch

    cuda = torch.cuda.is_available()
    device = f"GPU {torch.cuda.get_device_name()}" if cuda else "no GPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPU cores, {device}, torch {torch.__version__}, OMP_NUM_THREADS={threads} for every run"


def run_until(command, env, prints, timeout=540):
    """Run `command` in a scratch folder until it has printed `prints` SPS lines, then stop it. Returns the
    arrival time of each line and its value (the script's own cumulative rate)."""
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.Popen(command, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        times, values, tail = [], [], deque(maxlen=15)
        for line in proc.stdout:
            tail.append(line)
            if match := SPS_LINE.match(line):
                times.append(time.perf_counter())
                values.append(float(match[1]))
                if len(times) == prints:
                    break
        proc.kill()
        proc.wait()
        timer.cancel()
    if len(times) < prints:
        why = f"timed out after {timeout} s" if proc.returncode == -9 else f"exit status {proc.returncode}"
        raise RuntimeError(f"{shlex.join(map(str, command))}: {len(times)} of {prints} SPS lines ({why}):\n{''.join(tail)}")
    return times, values


def steady_rate(times, steps_per_print, first, last):
    """Steps per second between SPS lines `first` and `last` (1-based): global-step difference over wall time."""
    return (last - first) * steps_per_print / (times[last - 1] - times[first - 1])


def alternate(runs, rounds, steps_per_print, window, timeout=540, log=print):
    """Run each of `runs` ({name: (command, env)}) `rounds` times, alternating; returns {name: [steady rates]} and
    {name: [cumulative SPS at the window's last line]}."""
    rates, cumulative = {name: [] for name in runs}, {name: [] for name in runs}
    for round_ in range(rounds):
        for name, (command, env) in runs.items():
            times, values = run_until(command, env, window[1], timeout)
            rates[name].append(steady_rate(times, steps_per_print, *window))
            cumulative[name].append(values[-1])
            log(f"round {round_ + 1}: {name}: {rates[name][-1]:.0f} steps/s steady, {values[-1]:.0f} cumulative")
    return rates, cumulative


def median(values):
    return statistics.median(values) if values else float("nan")


def ref_script(commit, script):
    """`script` and metrics_common.py as they were at `commit`, in a temporary folder (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix=f"ref-{commit[:10]}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in (Path(script).name, "metrics_common.py"):
        shown = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode and name != "metrics_common.py":
            raise SystemExit(f"error: --ref {commit}: {shown.stderr.strip()}")
        if not shown.returncode:
            (folder / name).write_text(shown.stdout)
    return folder / Path(script).name


def env_alone(python, env_id, num_envs, seconds, threads):
    """(c): env-steps per second of the vector env alone with random actions, timed for `seconds` or more."""
    command = [python, ROOT / "benchmarks" / "env_sps.py", "--env-id", env_id, "--num-envs", num_envs, "--seconds", seconds]
    out = subprocess.run(list(map(str, command)), env=process_env(threads), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"env_sps.py failed:\n{out.stderr[-2000:]}")
    return float(re.search(r"env-steps/s: ([0-9.]+)", out.stdout)[1])


def profile(python, script, script_args, phases, threads, skip, iterations, pythonpath=(ROOT,), timeout=540):
    """Per-phase seconds of `iterations` iterations of the real script's main loop (benchmarks/phase_profile.py)
    after its first `skip` SPS lines (warm-up)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "profile.json"
        command = [python, ROOT / "benchmarks" / "phase_profile.py", "--phases", phases, "--skip", skip, "--out", out]
        command += ["--stop-after", skip + iterations]
        command = list(map(str, command + ["--", script, *script_args]))
        env = process_env(threads, pythonpath) | {"CUDA_LAUNCH_BLOCKING": "1"}
        result = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
        if not out.exists():
            raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-2000:]}")
        return json.loads(out.read_text())


def profile_table(report):
    """Markdown table of a phase_profile.py report."""
    loop = sum(report["seconds"].values())
    lines = [f"{report['iterations']} iterations profiled, {loop / max(report['iterations'], 1):.3f} s each", ""]
    lines += ["| phase | s per iteration | share |", "|---|---|---|"]
    for phase, seconds in sorted(report["seconds"].items(), key=lambda item: -item[1]):
        lines.append(f"| {phase} | {seconds / max(report['iterations'], 1):.4f} | {100 * seconds / loop:.1f}% |")
    return "\n".join(lines)


def script_help(python, script, env=None):
    """The script's --help text (to see which flags it has)."""
    return subprocess.run([str(python), str(script), "--help"], capture_output=True, text=True, env=env).stdout


def log(*args):
    print(*args, file=sys.stderr, flush=True)
