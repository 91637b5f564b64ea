"""Speed of an Atari training script next to its parent pipeline and next to itself at an older commit, on this
machine in one go. Every script runs as a process; the rate is the steady state between two of its `SPS` lines
(--window, warm-up excluded), in agent steps per second (num_envs x num_steps per line; the PFO script's own `SPS`
counts frames, 3 per agent step).

  (a)   --script (default ppo_etf_atari.py) with --script-args (e.g. "--compile");
  (b)   CleanRL's ppo_atari.py (gymnasium 0.29, SyncVectorEnv of Python wrappers, the v4 NoFrameskip id of the
        game) from --upstream-script with --upstream-python; skipped without them;
  (ref) --script as it was at commit --ref (with that commit's metrics_common.py), the same flags;
  (plain) with --also-plain, --script without --script-args (a/plain: what --compile, say, brings);
  (c)   the native vector env alone, random actions, for --env-seconds: the ceiling of (a).
(a), (b), (ref), (plain) alternate for --rounds rounds with the same threads; medians and ratios are reported, then the
phases of (a)'s iterations from a sampling profile of the real script (benchmarks/phase_profile.py). Markdown on
stdout, progress on stderr.

  python benchmarks/atari_sps.py --upstream-script ~/cleanrl/cleanrl/ppo_atari.py --upstream-python ~/venv_upstream/bin/python
  python benchmarks/atari_sps.py --script ppo_pfo_atari.py --ref 3a6c57d
  python benchmarks/atari_sps.py --script-args=--compile --also-plain
"""

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import sps


def main(description=__doc__, **defaults):
    """The benchmark's command line; classic_sps.py calls it with its own defaults."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", default="ppo_etf_atari.py", help="(a), relative to the repository root")
    parser.add_argument("--script-args", default="", help="extra flags of (a) and (ref), one string: --script-args=--compile")
    parser.add_argument("--env-id", default="ALE/Phoenix-v5")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--window", type=int, nargs=2, default=(5, 30), metavar=("FIRST", "LAST"),
                        help="the rate is taken between these SPS lines (1-based)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="runs of each script, alternated")
    parser.add_argument("--threads", type=int, default=sps.default_threads(), help="OMP/MKL threads of every run")
    parser.add_argument("--cuda", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--upstream-script", type=Path, help="CleanRL's cleanrl/ppo_atari.py (or ppo.py)")
    parser.add_argument("--upstream-python", default=sys.executable, help="a Python with gymnasium 0.29 and ale-py 0.9")
    parser.add_argument("--ref", help="a git commit: also run --script as it was there")
    parser.add_argument("--also-plain", action="store_true", help="also run --script without --script-args")
    parser.add_argument("--env-seconds", type=float, default=3.0, help="(c) is timed for this long (0: skip)")
    parser.add_argument("--profile-iterations", type=int, default=4, help="iterations of (a) profiled (0: skip)")
    parser.add_argument("--timeout", type=int, default=540, help="seconds one run may take")
    parser.set_defaults(**defaults)
    args = parser.parse_args()
    first, last = args.window
    if not 1 <= first < last:
        raise SystemExit(f"error: --window {first} {last}: need 1 <= FIRST < LAST")

    script, extra = sps.ROOT / args.script, shlex.split(args.script_args)
    steps = args.num_envs * args.num_steps
    sizes = ["--num-envs", args.num_envs, "--num-steps", args.num_steps, "--seed", 1]
    sizes += ["--total-timesteps", (last + 1) * steps * 4] + ([] if args.cuda else ["--no-cuda"])  # stopped at LAST
    help_text = sps.script_help(sys.executable, script, sps.process_env(1)) if extra else ""
    missing = [flag for flag in extra if flag.startswith("--") and flag.split("=")[0] not in help_text]
    if missing:
        raise SystemExit(f"error: {args.script} has no {' '.join(missing)} flag")
    env = sps.process_env(args.threads)
    command = [sys.executable, script, "--env-id", args.env_id, *sizes, *extra]
    runs = {"a": (list(map(str, command)), env)}
    if args.also_plain:
        runs["plain"] = (list(map(str, command[: len(command) - len(extra)])), env)
    if args.upstream_script:
        checkout = args.upstream_script.resolve().parents[1]  # <checkout>/cleanrl/ppo_atari.py: cleanrl_utils beside
        site = Path(tempfile.mkdtemp())  # gymnasium 0.29 knows the ALE ids once ale_py is imported
        (site / "sitecustomize.py").write_text("try:\n    import ale_py  # noqa: F401\nexcept ImportError:\n    pass\n")
        game = args.env_id.removeprefix("ALE/").removesuffix("-v5")
        upstream_id = f"{game}NoFrameskip-v4" if args.env_id.startswith("ALE/") else args.env_id
        command = [args.upstream_python, args.upstream_script, "--env-id", upstream_id, *sizes]
        runs["b"] = (list(map(str, command)), sps.process_env(args.threads, (site, checkout)))
    if args.ref:
        old = sps.ref_script(args.ref, script)
        command = [sys.executable, old, "--env-id", args.env_id, *sizes, *extra]
        runs["ref"] = (list(map(str, command)), sps.process_env(args.threads, (old.parent,)))

    print(f"### {args.script} {args.script_args} on {args.env_id}\n")
    device = "CUDA if available" if args.cuda else "--no-cuda"
    print(f"{sps.machine_line(args.threads)}; {device}; {args.num_envs} envs x {args.num_steps} steps; steady state "
          f"between SPS lines {first} and {last}; {args.rounds} alternated rounds\n")  # fmt: skip
    rates, cumulative = sps.alternate(runs, args.rounds, steps, args.window, args.timeout, sps.log)
    upstream = f"(b) CleanRL {args.upstream_script.name if args.upstream_script else ''}, gymnasium 0.29"
    names = {"a": f"(a) {args.script} {args.script_args}", "b": upstream + (" (v4 NoFrameskip id)" * ("/" in args.env_id)),
             "ref": f"(ref) {args.script} at {args.ref}, same flags", "plain": f"(plain) {args.script}"}  # fmt: skip
    print("| run | agent steps/s, steady (median) | each run | the script's cumulative SPS at line LAST (median) |")
    print("|---|---|---|---|")
    for name in runs:
        each = ", ".join(f"{rate:.0f}" for rate in rates[name])
        print(f"| {names[name]} | {sps.median(rates[name]):.0f} | {each} | {sps.median(cumulative[name]):.0f} |")
    c = sps.env_alone(sys.executable, args.env_id, args.num_envs, args.env_seconds, args.threads) if args.env_seconds else None
    if c:
        alone = f"(c) {args.num_envs} {args.env_id} envs alone, random actions, {args.env_seconds:g} s"
        print(f"| {alone} | {c:.0f} env-steps/s | | |")
    a = sps.median(rates["a"])
    ratios = [f"a/{name} = {a / sps.median(rates[name]):.2f}" for name in ("b", "ref", "plain") if name in runs]
    print("\n" + ", ".join(ratios + ([f"a/c = {a / c:.2f}"] if c else [])) + "\n")

    if args.profile_iterations:
        script_args = ["--env-id", args.env_id, *map(str, sizes), *extra]
        report = sps.profile(sys.executable, script, script_args, "atari", args.threads, first, args.profile_iterations)
        print(f"Phases of (a)'s iterations (sampling profile of the real script, after SPS line {first}, "
              "CUDA_LAUNCH_BLOCKING=1):\n")  # fmt: skip
        print(sps.profile_table(report))
        metrics = report["seconds"].get("metrics", 0.0)
        share = 100 * metrics / (sum(report["seconds"].values()) or 1)
        print(f"\nmetrics: {share:.1f}% of an iteration, {1000 * metrics / max(report['iterations'], 1):.1f} ms\n")


if __name__ == "__main__":
    main()
