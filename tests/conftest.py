"""Shared test helpers: the repository root on sys.path, and running a script as a user would."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_script(script, *args, cwd, timeout=300):
    """Run `python <script> args...` from `cwd` (so runs/ lands there) with the repo importable."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_scalars(run_dir, with_steps=False):
    """All scalar tags of a TensorBoard run directory: {tag: [values]}, or {tag: {step: value}} `with_steps`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    if with_steps:
        return {tag: {event.step: event.value for event in accumulator.Scalars(tag)} for tag in tags}
    return {tag: [event.value for event in accumulator.Scalars(tag)] for tag in tags}


def assert_stops_with_one_line(result, message, cwd):
    """Bad input: a non-zero exit, exactly one line on stderr naming the problem, no traceback, no run left."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (Path(cwd) / "runs").exists()
