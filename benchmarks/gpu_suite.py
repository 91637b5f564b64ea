"""One command for a GPU machine: every speed benchmark and the short learning runs, one markdown report.

  1.  Atari a/b/c: ppo_etf_atari.py (a) against CleanRL's ppo_atari.py (b, if --upstream-script/--upstream-python
      are given) and the env alone (c), with the per-phase profile and the metrics' cost (atari_sps.py);
  1b. (a) with --compile against (plain) without it and (b), alternated (skipped, with a note, where the script
      has no --compile flag);
  1c. the metrics' cost end to end: (a) with --metrics-every 1000000 (metrics at the first iteration only)
      against (plain) with them at every iteration;
  1d. ppo_pfo_atari.py against itself at --pfo-ref, same flags, alternated (its speed "before");
  2.  DrQ-v2 frames/s with the renderer check and the breakdown (drqv2_fps.py; against --drq-ref if given);
  2b. the same with --buffer-device cuda (replay frames in GPU memory: the sample and copy phases should shrink;
      on a machine without a GPU the script notes it and keeps the buffer on the host);
  3.  short learning runs in parallel (learning_runs.py).
Each part is a process of its own, stopped after --part-timeout seconds (9 minutes by default). Every size has a
flag; --tiny sets CPU-sized ones (the test runs the whole suite that way).

  python benchmarks/gpu_suite.py --out bench_out/report.md \\
      --upstream-script ~/cleanrl/cleanrl/ppo_atari.py --upstream-python ~/venv_upstream/bin/python
"""

import argparse
import datetime
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import sps

FULL = dict(window=(5, 30), rounds=2, num_envs=8, num_steps=128, env_seconds=3.0, profile_iterations=10,
            drq_window=(6, 16), drq_args="", atari_steps=500_000, learn_seconds=420, drq_frames=20_000,
            learn_atari_args="", learn_drq_args="", compile_part=True, pfo_profile=True)  # fmt: skip
# --replay uniform: updates from the first episode on (the default loader samples finished episodes only, 4 of them)
DRQ_TINY = ("--max-episode-frames 40 --num-seed-frames 40 --num-expl-steps 10 --batch-size 8 --hidden-dim 16 "
            "--feature-dim 8 --replay-buffer-size 500 --fast-render --update-every-steps 4 --replay uniform")  # fmt: skip
TINY = dict(window=(1, 2), rounds=1, num_envs=2, num_steps=16, env_seconds=1.0, profile_iterations=1, pfo_profile=False,
            drq_window=(1, 2), drq_args=DRQ_TINY, atari_steps=64, learn_seconds=300, drq_frames=120,
            learn_atari_args="--num-envs 2 --num-steps 16",
            learn_drq_args=DRQ_TINY + " --eval-every-frames 80 --num-eval-episodes 1 --reset-window 100000",
            compile_part=False)  # fmt: skip
BENCH = sps.ROOT / "benchmarks"


def run_part(command, timeout):
    """Run one part; returns its markdown, or a note saying why there is none."""
    start = time.time()
    proc = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the part and the training runs it started
        out, err = proc.communicate()
        return f"{out}\n**stopped after {timeout} s** (--part-timeout); last lines of its log:\n```\n{err[-1500:]}\n```\n"
    took = f"_(part took {time.time() - start:.0f} s: `{shlex.join(map(str, command[1:]))}`)_\n"
    if proc.returncode:
        return f"{out}\n**failed** (exit status {proc.returncode}):\n```\n{err[-2000:]}\n```\n{took}"
    return out + took


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/report.md"))
    parser.add_argument("--tiny", action="store_true", help="CPU-sized defaults for every part (for tests)")
    parser.add_argument("--parts", default="1,1b,1c,1d,2,2b,3", help="comma-separated subset of 1,1b,1c,1d,2,2b,3")
    parser.add_argument("--upstream-script", type=Path, help="CleanRL's cleanrl/ppo_atari.py; (b) skipped without")
    parser.add_argument("--upstream-python", help="a Python with gymnasium 0.29.1 and ale-py 0.9 for (b)")
    parser.add_argument("--pfo-ref", default="3a6c57d", help="ppo_pfo_atari.py's speed before (default: the repository "
                        "before the speed changes)")  # fmt: skip
    parser.add_argument("--drq-ref", help="a commit of drqv2_reset_rule.py to compare with (default: none)")
    parser.add_argument("--threads", type=int, default=sps.default_threads())
    parser.add_argument("--cuda", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--part-timeout", type=int, default=540)
    parser.add_argument("--window", type=int, nargs=2, help="SPS lines between which the Atari rates are taken")
    parser.add_argument("--rounds", type=int, help="alternated runs of each script")
    parser.add_argument("--num-envs", type=int)
    parser.add_argument("--num-steps", type=int)
    parser.add_argument("--env-seconds", type=float, help="(c) timed this long")
    parser.add_argument("--profile-iterations", type=int)
    parser.add_argument("--drq-window", type=int, nargs=2, help="SPS lines (episodes) of the DrQ-v2 rate")
    parser.add_argument("--drq-args", help="extra flags of the DrQ-v2 speed runs (--drq-args='--flag value')")
    parser.add_argument("--atari-steps", type=int, help="agent steps of each learning run")
    parser.add_argument("--learn-seconds", type=float, help="learning runs still going get SIGTERM then")
    parser.add_argument("--drq-frames", type=int, help="frames of the DrQ-v2 learning run")
    parser.add_argument("--learn-atari-args")
    parser.add_argument("--learn-drq-args")
    parser.add_argument("--compile-part", action=argparse.BooleanOptionalAction, help="run part 1b")
    parser.add_argument("--pfo-profile", action=argparse.BooleanOptionalAction, help="profile in part 1d")
    parser.set_defaults(**(TINY if "--tiny" in sys.argv else FULL))
    args = parser.parse_args()
    parts = args.parts.split(",")

    py, cuda = sys.executable, [] if args.cuda else ["--no-cuda"]
    common = [*cuda, "--threads", args.threads, "--window", *args.window, "--rounds", args.rounds]
    atari = [py, BENCH / "atari_sps.py", *common, "--num-envs", args.num_envs, "--num-steps", args.num_steps]
    upstream = []
    if args.upstream_script and args.upstream_python:
        upstream = ["--upstream-script", args.upstream_script, "--upstream-python", args.upstream_python]
    note_b = "" if upstream else "(b) not run: give --upstream-script and --upstream-python.\n\n"
    sections = []
    if "1" in parts:
        command = atari + upstream + ["--env-seconds", args.env_seconds, "--profile-iterations", args.profile_iterations]
        sections.append(("1. Atari a/b/c, without --compile", note_b + run_part(command, args.part_timeout)))
    if "1b" in parts:
        has_compile = "--compile" in sps.script_help(py, sps.ROOT / "ppo_etf_atari.py", sps.process_env(1))
        if not args.compile_part:
            text = "skipped (--no-compile-part; --tiny's default)\n"
        elif not has_compile:
            text = "skipped: ppo_etf_atari.py --help has no --compile flag yet\n"
        else:
            command = atari + upstream + ["--script-args=--compile", "--also-plain", "--env-seconds", 0]
            command += ["--profile-iterations", 0]
            text = note_b + run_part(command, args.part_timeout)
        sections.append(("1b. Atari a/b with --compile, against (plain) without", text))
    if "1c" in parts:
        if "--metrics-every" in sps.script_help(py, sps.ROOT / "ppo_etf_atari.py", sps.process_env(1)):
            command = atari + ["--script-args=--metrics-every 1000000", "--also-plain", "--env-seconds", 0]
            text = run_part(command + ["--profile-iterations", 0], args.part_timeout)
        else:
            text = "skipped: ppo_etf_atari.py --help has no --metrics-every flag\n"
        sections.append(("1c. The metrics' cost: ppo_etf_atari.py without them (a) and with them (plain)", text))
    if "1d" in parts:
        command = atari + ["--script", "ppo_pfo_atari.py", "--ref", args.pfo_ref, "--env-seconds", 0]
        command += ["--profile-iterations", args.profile_iterations if args.pfo_profile else 0]
        sections.append((f"1d. ppo_pfo_atari.py against itself at {args.pfo_ref}", run_part(command, args.part_timeout)))
    drq = [py, BENCH / "drqv2_fps.py", *cuda, "--threads", args.threads, "--window", *args.drq_window, "--rounds", args.rounds]
    if "2" in parts:
        command = drq + [f"--script-args={args.drq_args}"] + (["--ref", args.drq_ref] if args.drq_ref else [])
        sections.append(("2. DrQ-v2 frames/s and breakdown", run_part(command, args.part_timeout)))
    if "2b" in parts:
        command = drq + [f"--script-args={args.drq_args} --buffer-device cuda"]
        sections.append(("2b. DrQ-v2 with the replay frames in GPU memory", run_part(command, args.part_timeout)))
    if "3" in parts:
        command = [py, BENCH / "learning_runs.py", *cuda, "--out-dir", args.out.parent / "learning"]
        command += ["--atari-steps", args.atari_steps, f"--atari-args={args.learn_atari_args}"]
        command += ["--drq-frames", args.drq_frames, f"--drq-args={args.learn_drq_args}", "--seconds", args.learn_seconds]
        sections.append(("3. Short learning runs", run_part(command, args.part_timeout)))

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=sps.ROOT, capture_output=True, text=True)
    header = f"# Benchmark report, {datetime.datetime.now():%Y-%m-%d %H:%M}, repository at {commit.stdout.strip()}\n\n"
    header += f"{sps.machine_line(args.threads)}\n\n`{shlex.join(sys.argv)}`\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "".join(f"\n## {title}\n\n{text}" for title, text in sections))
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
