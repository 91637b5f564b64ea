"""Steps per second of ppo_etf_classic.py against its parent, CleanRL's ppo.py, on the same machine.

    python benchmarks/classic_sps.py --upstream /path/to/cleanrl/ppo.py --upstream-python /path/to/venv/bin/python

CleanRL's ppo.py is not part of this project: fetch it and give its path (it targets gymnasium 0.29, so
run it with an interpreter that has gymnasium 0.29). Runs alternate (ours, parent, ours, parent, ...)
so that a change in the machine's load hits both, each with one torch thread (on a loaded 2-core machine two
OpenMP threads spin against other processes and both scripts slow down 10-30x); it reports each run's SPS
(global steps over wall time, as the scripts print it), the medians, their ratio, and the environment alone
with random actions.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def script_sps(python, script, steps, *extra):
    """The last 'SPS: N' line a CleanRL-style script prints."""
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run(
            [python, str(script), "--total-timesteps", str(steps), "--seed", "1", *extra],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        ).stdout
    return int(re.findall(r"^SPS: (\d+)", out, re.M)[-1])


def random_env_sps(env_id, num_envs, steps):
    """Env-steps per second of the vector env alone, random actions, SAME_STEP autoreset."""
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.RecordEpisodeStatistics(gym.make(env_id)) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=1)
    actions = np.random.default_rng(1).integers(0, envs.single_action_space.n, (steps, num_envs))
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    return steps * num_envs / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=Path, required=True, help="CleanRL's cleanrl/ppo.py")
    parser.add_argument("--upstream-python", default=sys.executable)
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    ours, parent = [], []
    for _ in range(args.repeats):
        ours.append(script_sps(sys.executable, ROOT / "ppo_etf_classic.py", args.total_timesteps))
        parent.append(script_sps(args.upstream_python, args.upstream, args.total_timesteps))
        print(f"ppo_etf_classic.py {ours[-1]} SPS, ppo.py {parent[-1]} SPS", flush=True)
    env_sps = random_env_sps("CartPole-v1", 4, 20_000)
    a, b = statistics.median(ours), statistics.median(parent)
    print(f"| run | steps/s (median of {args.repeats}) |\n|---|---|")
    print(f"| (a) ppo_etf_classic.py, ETF and metrics on | {a:.0f} |")
    print(f"| (b) CleanRL ppo.py | {b:.0f} |")
    print(f"| (c) 4 CartPole-v1 envs alone, random actions | {env_sps:.0f} |")
    print(f"a/b = {a / b:.2f}, a/c = {a / env_sps:.3f}")


if __name__ == "__main__":
    main()
