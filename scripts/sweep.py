"""Run a grid of commands (variants x seeds) as parallel processes, or submit it to SLURM.

    python scripts/sweep.py "python ppo_etf_classic.py --env-id {env} --{variant} --seed {seed}" \
        --grid env=CartPole-v1,Acrobot-v1 variant=etf,no-etf seed=1:5 --out sweeps/classic

Each run gets a folder out/<name> (name from its grid values, e.g. env=CartPole-v1,variant=etf,seed=1)
and runs there, so its TensorBoard directory is out/<name>/runs/<run_name>; an argument of the command
that names an existing file (the script) is made absolute. The run's output goes to out/<name>/log.txt
and its outcome to out/<name>/status.json (exit code, seconds, TensorBoard directory). A second call
skips the runs whose status says exit code 0, so an interrupted sweep resumes; failed runs are rerun,
reported with their exit code and log, and make the sweep exit non-zero.

--executor local (default) runs at most --workers processes at once on this machine; --executor slurm
submits one job per run through submitit (--partition, --time-min, --cpus-per-task); --executor debug
runs them one by one in this process through submitit's debug backend, for testing.
"""

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # bad input: one line on stderr, no usage block
        raise SystemExit(f"error: {message} (see --help)")


def parse_axis(spec):
    """'seed=1:5' -> ('seed', ['1', ..., '5']); 'variant=etf,no-etf' -> ('variant', ['etf', 'no-etf'])."""
    key, sep, values = spec.partition("=")
    if not sep or not key or not values:
        raise SystemExit(f"error: --grid entry {spec!r} is not KEY=V1,V2,... or KEY=FIRST:LAST")
    if ":" in values:
        first, last = values.split(":", 1)
        if not (first.isdigit() and last.isdigit()) or int(first) > int(last):
            raise SystemExit(f"error: --grid range {spec!r} must be two integers FIRST:LAST with FIRST <= LAST")
        return key, [str(v) for v in range(int(first), int(last) + 1)]
    values = values.split(",")
    if "" in values or len(set(values)) < len(values):
        raise SystemExit(f"error: --grid entry {spec!r} has an empty or repeated value; write KEY=V1,V2,...")
    return key, values


def parse_grid(specs):
    """The axes of --grid, each key once."""
    axes = [parse_axis(spec) for spec in specs]
    keys = [key for key, _ in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise SystemExit(f"error: --grid key {key!r} is given more than once; list its values in one entry")
    return axes


def expand_grid(template, axes):
    """All (name, command) pairs of the grid, in a stable order; the template's {key}s must match the axes."""
    keys = [key for key, _ in axes]
    runs = []
    for values in itertools.product(*(values for _, values in axes)):
        assignment = dict(zip(keys, values))
        try:
            command = template.format(**assignment)
        except KeyError as missing:
            raise SystemExit(f"error: the command uses {{{missing.args[0]}}} but --grid has no such key") from None
        except (IndexError, ValueError, AttributeError) as problem:
            raise SystemExit(f"error: the command {template!r} is not a template ({problem}); use {{KEY}}") from None
        runs.append((",".join(f"{k}={v}" for k, v in assignment.items()), command))
    unused = [key for key in keys if "{" + key + "}" not in template]
    if unused:
        raise SystemExit(f"error: --grid keys {unused} do not appear in the command")
    return runs


def absolute_files(command, base):
    """Arguments that name an existing file relative to `base` become absolute, so a run can start elsewhere;
    symlinks are kept (a venv's bin/python is a symlink to the base interpreter, which lacks the venv's packages)."""
    try:
        args = shlex.split(command)
    except ValueError as problem:
        raise SystemExit(f"error: the command {command!r} cannot be split into arguments: {problem}") from None
    return [os.path.abspath(base / arg) if (base / arg).is_file() else arg for arg in args]


def is_finished(run_dir):
    status = run_dir / "status.json"
    return status.exists() and json.loads(status.read_text())["returncode"] == 0


def run_one(command, run_dir):
    """Run one command in its folder; write log.txt and status.json; return the status."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    start = time.time()
    with open(run_dir / "log.txt", "w") as log:
        returncode = subprocess.run(command, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    tensorboard = sorted(str(p.parent) for p in run_dir.glob("runs/*/events.out.tfevents.*"))
    status = {
        "command": shlex.join(command),
        "returncode": returncode,
        "seconds": round(time.time() - start, 1),
        "tensorboard": tensorboard,
    }
    (run_dir / "status.json").write_text(json.dumps(status, indent=1))
    return status


def run_local(jobs, workers):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_one, command, run_dir): run_dir for run_dir, command in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="runs", unit="run"):
            yield futures[future], future.result()


def run_submitit(jobs, args):
    import submitit

    if args.executor == "debug":
        executor = submitit.DebugExecutor(folder=args.out / "submitit")
    else:
        executor = submitit.AutoExecutor(folder=args.out / "submitit", cluster="slurm")
        executor.update_parameters(slurm_partition=args.partition, timeout_min=args.time_min, cpus_per_task=args.cpus_per_task)
    submitted = [(run_dir, executor.submit(run_one, command, run_dir)) for run_dir, command in jobs]
    for run_dir, job in tqdm(submitted, desc="runs", unit="run"):
        yield run_dir, job.result()


def main():
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("command", help="command template with {key} for each --grid key")
    parser.add_argument("--grid", nargs="+", required=True, metavar="KEY=VALUES")
    parser.add_argument("--out", type=Path, required=True, help="folder of the sweep's runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--executor", choices=["local", "slurm", "debug"], default="local")
    parser.add_argument("--partition", default=None, help="SLURM partition")
    parser.add_argument("--time-min", type=int, default=24 * 60, help="SLURM time limit per run")
    parser.add_argument("--cpus-per-task", type=int, default=1)
    args = parser.parse_args()
    if args.workers < 1:
        raise SystemExit("error: --workers must be at least 1")

    runs = expand_grid(args.command, parse_grid(args.grid))
    jobs = [(args.out / name, absolute_files(command, Path.cwd())) for name, command in runs]
    todo = [(run_dir, command) for run_dir, command in jobs if not is_finished(run_dir)]
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already finished, {len(todo)} to run", flush=True)
    results = run_local(todo, args.workers) if args.executor == "local" else run_submitit(todo, args)
    failed = []
    for run_dir, status in results:
        if status["returncode"] != 0:
            failed.append(run_dir)
            tqdm.write(f"FAILED (exit code {status['returncode']}): {run_dir.name}, log: {run_dir / 'log.txt'}")
    print(f"{len(todo) - len(failed)} runs finished, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
