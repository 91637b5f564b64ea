"""Short learning runs, all in parallel, each in its own folder under --out-dir (its runs/ kept there for plot.py):
ETF vs --no-etf on ALE/Breakout-v5 (ppo_etf_atari.py), PFO vs --pfo-coef 0 on ALE/Phoenix-v5 at --epochs 8
(ppo_pfo_atari.py), DrQ-v2 walker_walk over its first --drq-frames frames (the mlp1 gradient norm the script logs
every 100 agent steps). Runs still going at --seconds get SIGTERM (they end after the iteration, logs kept), then a
kill 60 s later. Writes markdown tables comparing the first and last values of each run's main tags.

  python benchmarks/learning_runs.py --out-dir bench_out/learning --atari-steps 500000 --seconds 480
"""

import argparse
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import sps

GROUPS = {  # group: (tags regex, {run: (script, flags)})
    "ETF vs --no-etf, ALE/Breakout-v5": (
        r"charts/(episodic_return|SPS)$|collapse/|repr/(effective_rank|approx_rank|feature_norm|dead_units)",
        {"etf": ("ppo_etf_atari.py", "--env-id ALE/Breakout-v5"),
         "no-etf": ("ppo_etf_atari.py", "--env-id ALE/Breakout-v5 --no-etf")},
    ),
    "PFO vs PPO (--pfo-coef 0), ALE/Phoenix-v5, --epochs 8": (
        r"charts/(episodic_return|SPS)$|repr(_after)?/actor_(preactivation_norm|feature_norm|approx_rank|effective_rank|dead_units)|pfo/",
        {"pfo": ("ppo_pfo_atari.py", "--env-id ALE/Phoenix-v5 --epochs 8"),
         "ppo": ("ppo_pfo_atari.py", "--env-id ALE/Phoenix-v5 --epochs 8 --pfo-coef 0")},
    ),
    "DrQ-v2 walker_walk": (
        r"charts/(episodic_return|SPS)$|eval/episodic_return|reset/mlp1_grad_norm|collapse/mlp1",
        {"drqv2": ("drqv2_reset_rule.py", "--env-id walker_walk")},
    ),
}  # fmt: skip


def scalars(folder):
    """{tag: [(step, value)]} of the TensorBoard run(s) under folder/runs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for run in sorted({path.parent for path in Path(folder, "runs").rglob("events.out.tfevents*")}):
        accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            out.setdefault(tag, []).extend((event.step, event.value) for event in accumulator.Scalars(tag))
    return out


def cell(points):
    if not points:
        return "-"
    values = [value for _, value in points]
    tail = values[-max(1, len(values) // 4) :]
    return f"{values[0]:.3g} → {values[-1]:.3g}, last ¼ {sum(tail) / len(tail):.3g} (n={len(values)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--atari-steps", type=int, default=500_000, help="agent steps per Atari run (PFO: x3 frames)")
    parser.add_argument("--atari-args", default="", help="extra flags of every Atari run: --atari-args='--num-envs 16'")
    parser.add_argument("--drq-frames", type=int, default=20_000)
    parser.add_argument("--drq-args", default="", help="extra flags of the DrQ-v2 run")
    parser.add_argument("--seconds", type=float, default=480, help="SIGTERM to the runs still going then")
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of each run")
    parser.add_argument("--cuda", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    procs, start = {}, time.time()
    for _, (_, runs) in GROUPS.items():
        for name, (script, flags) in runs.items():
            if script.startswith("drqv2"):
                budget = f"--num-train-frames {args.drq_frames} {args.drq_args}"
            else:
                budget = f"--total-timesteps {args.atari_steps * (3 if 'pfo' in script else 1)} {args.atari_args}"
            command = [sys.executable, str(sps.ROOT / script), *shlex.split(f"{flags} {budget}")]
            command += [] if args.cuda else ["--no-cuda"]
            folder = args.out_dir / name
            folder.mkdir(parents=True, exist_ok=True)
            log = open(folder / "stdout.txt", "w")
            procs[name] = (subprocess.Popen(command, cwd=folder, env=sps.process_env(args.threads), stdout=log,
                                            stderr=subprocess.STDOUT), command, log)  # fmt: skip
    ended, stopped = {}, set()
    while len(ended) < len(procs):
        time.sleep(1)
        elapsed = time.time() - start
        for name, (proc, _, _) in procs.items():
            if name not in ended and proc.poll() is not None:
                ended[name] = elapsed
            elif name not in ended and elapsed > args.seconds and name not in stopped:
                proc.send_signal(signal.SIGTERM)  # once: a second one aborts at once
                stopped.add(name)
            elif name not in ended and elapsed > args.seconds + 60:
                proc.kill()

    print(f"### Learning runs, in parallel\n\n{sps.machine_line(args.threads)}; logs in {args.out_dir}\n")
    print("| run | command | wall s | exit | last step |\n|---|---|---|---|---|")
    data = {name: scalars(args.out_dir / name) for name in procs}
    for name, (proc, command, log) in procs.items():
        log.close()
        steps = max((step for points in data[name].values() for step, _ in points), default=0)
        shown = " ".join([Path(command[1]).name, *command[2:]])
        print(f"| {name} | `{shown}` | {ended[name]:.0f} | {proc.returncode} | {steps} |")
    for group, (pattern, runs) in GROUPS.items():
        tags = sorted({tag for name in runs for tag in data[name] if re.search(pattern, tag)})
        print(f"\n{group}: first → last value, mean of the last quarter, points\n")
        print("| tag | " + " | ".join(runs) + " |\n|" + "---|" * (len(runs) + 1))
        for tag in tags:
            print(f"| {tag} | " + " | ".join(cell(data[name].get(tag, [])) for name in runs) + " |")
    print()


if __name__ == "__main__":
    main()
