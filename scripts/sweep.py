"""Run a grid of commands (variants x seeds) as parallel processes, or submit it to SLURM as one job array.

    python scripts/sweep.py "python ppo_etf_classic.py --env-id {env} --{variant} --seed {seed}" \\
        --grid env=CartPole-v1,Acrobot-v1 variant=etf,no-etf seed=1:5 --out sweeps/classic

The grid: one --grid entry per key, KEY=V1,V2,... (a comma list) or KEY=FIRST:LAST (the integers from FIRST
to LAST, both included: seed=1:5 is 1,2,3,4,5); the command's {KEY}s take every combination of the values
(here 2 x 2 x 5 = 20 runs). A repeated key or value, an empty value, a reversed range, or a {KEY} without a
grid key (or a grid key the command does not use) is refused.

Each run gets a folder out/<name> (name from its grid values, e.g. env=CartPole-v1,variant=etf,seed=1; a "/"
in a value becomes "-") and runs there, so its TensorBoard directory is out/<name>/runs/<run_name>; an argument
of the command that names an existing file (the script) is made absolute, and a leading `python` or `python3`
means the interpreter that runs sweep.py (sys.executable as it is, e.g. a venv's bin/python), not the first one
on PATH. The run's output goes to out/<name>/log.txt and its outcome to out/<name>/status.json (exit code,
seconds, TensorBoard directory; for a job that died, the exit code is null and "error" says why). A second call
skips the runs whose status says exit code 0, so an interrupted sweep resumes; failed runs are reported with
their exit code and log (on stderr, the progress bar's stream), make the sweep exit non-zero, and are rerun by
the next call in an emptied folder (the failed attempt's runs/ is removed, so that plot.py does not take it for
another seed).

--executor local (default) runs at most --workers processes at once on this machine. --executor slurm submits
the grid as ONE SLURM job array through submitit (--partition, --timeout-min, --cpus-per-task, --gpus-per-node,
--mem-gb per run; logs in out/submitit) and waits for it; a run whose job fails, is cancelled or times out is
recorded as failed while the others go on. --executor submitit-local runs that same array on this machine
through submitit's local executor, for testing.
"""

import argparse
import itertools
import json
import math
import os
import shlex
import shutil
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
        runs.append((",".join(f"{k}={v}" for k, v in assignment.items()).replace("/", "-"), command))
    unused = [key for key in keys if "{" + key + "}" not in template]
    if unused:
        raise SystemExit(f"error: --grid keys {unused} do not appear in the command")
    return runs


def absolute_files(command, base):
    """The command's arguments: a leading `python` or `python3` becomes sys.executable (the runs get this sweep's
    packages, not those of the first python on PATH) and arguments that name an existing file relative to `base`
    become absolute, so a run can start elsewhere. Symlinks are kept, never resolved: a venv's bin/python is a
    symlink to the base interpreter, which lacks the venv's packages."""
    try:
        args = shlex.split(command)
    except ValueError as problem:
        raise SystemExit(f"error: the command {command!r} cannot be split into arguments: {problem}") from None
    if args and args[0] in ("python", "python3") and sys.executable:
        args[0] = sys.executable
    return [os.path.abspath(base / arg) if (base / arg).is_file() else arg for arg in args]


def is_finished(run_dir):
    status = run_dir / "status.json"
    return status.exists() and json.loads(status.read_text())["returncode"] == 0


def run_one(command, run_dir):
    """Run one command in its folder, emptied first (a rerun keeps nothing of a failed attempt); write log.txt and
    status.json; return the status."""
    run_dir = Path(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
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


def outcome(run_dir, result):
    """The run's status from result(); a job that raised or died (cancelled, timed out, killed, or a command that
    could not start) is recorded in status.json as a failure with a null exit code and the error."""
    try:
        return result()
    except Exception as error:
        status = {"returncode": None, "error": f"{type(error).__name__}: {error}"}
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "status.json").write_text(json.dumps(status, indent=1))
        return status


def run_local(jobs, workers):
    """(run folder, a function returning its status) of each run as it ends, at most `workers` at once."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_one, command, run_dir): run_dir for run_dir, command in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result


def submit_array(jobs, args):
    """Submit the runs as one job array (SLURM, or submitit's local executor); [(run folder, submitit job)]."""
    import submitit

    cluster = "slurm" if args.executor == "slurm" else "local"
    executor = submitit.AutoExecutor(folder=args.out / "submitit", cluster=cluster)
    executor.update_parameters(  # None: the cluster's default
        slurm_partition=args.partition,
        timeout_min=args.timeout_min,
        cpus_per_task=args.cpus_per_task,
        gpus_per_node=args.gpus_per_node or None,
        mem_gb=args.mem_gb,
    )
    run_dirs, commands = zip(*jobs)
    return list(zip(run_dirs, executor.map_array(run_one, commands, run_dirs)))


def check_numbers(args, positive=(), non_negative=(), probability=()):
    """Stop with one line at the first numeric flag that is not finite or breaks its rule."""
    rules = ((positive, "positive", lambda v: v > 0), (non_negative, "non-negative", lambda v: v >= 0))
    for names, allowed, ok in rules + ((probability, "in [0, 1]", lambda v: 0 <= v <= 1),):
        for name in names:
            value = getattr(args, name)
            if value is not None and not (math.isfinite(value) and ok(value)):
                raise SystemExit(f"error: --{name.replace('_', '-')} must be finite and {allowed}, got {value}")


def parse_args(argv=None):
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", help="command template with a {KEY} for each --grid key")
    parser.add_argument(
        "--grid",
        nargs="+",
        required=True,
        metavar="KEY=VALUES",
        help="KEY=V1,V2,... or KEY=FIRST:LAST, one entry per key, e.g. variant=etf,no-etf seed=1:5 (seeds 1 to 5)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder of the sweep's runs")
    parser.add_argument("--executor", choices=["local", "slurm", "submitit-local"], default="local")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="--executor local: runs at once")
    slurm = parser.add_argument_group("per run, for --executor slurm (and submitit-local)")
    slurm.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's)")
    slurm.add_argument("--timeout-min", type=int, default=24 * 60, help="time limit in minutes (default: 24 hours)")
    slurm.add_argument("--cpus-per-task", type=int, default=1)
    slurm.add_argument("--gpus-per-node", type=int, default=0)
    slurm.add_argument("--mem-gb", type=int, default=None, help="memory (default: the partition's)")
    args = parser.parse_args(argv)
    check_numbers(args, positive=("workers", "timeout_min", "cpus_per_task", "mem_gb"), non_negative=("gpus_per_node",))
    if args.executor == "slurm" and not shutil.which("srun"):
        raise SystemExit("error: --executor slurm needs SLURM (srun is not on PATH); use --executor local here")
    return args


def main():
    args = parse_args()
    runs = expand_grid(args.command, parse_grid(args.grid))
    jobs = [(args.out / name, absolute_files(command, Path.cwd())) for name, command in runs]
    todo = [(run_dir, command) for run_dir, command in jobs if not is_finished(run_dir)]
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already finished, {len(todo)} to run", flush=True)
    if not todo:
        return
    if args.executor == "local":
        results = run_local(todo, args.workers)
    else:
        results = ((run_dir, job.result) for run_dir, job in submit_array(todo, args))
    failed = []
    for run_dir, result in tqdm(results, total=len(todo), desc="runs", unit="run"):
        status = outcome(run_dir, result)
        if status["returncode"] != 0:
            failed.append(run_dir)
            why = status["error"].split(":")[0] if "error" in status else f"exit code {status['returncode']}"
            # on the bar's stream (stderr), which tqdm clears first: a line on stdout would land in the bar's line
            line = f"FAILED ({why}): {run_dir.name}, log: {run_dir / 'log.txt'}, status: {run_dir / 'status.json'}"
            tqdm.write(line, file=sys.stderr)
    print(f"{len(todo) - len(failed)} runs finished, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
