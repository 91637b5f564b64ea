"""Throughput of ppo_etf_atari.py next to its parent pipeline, measured on this machine in one go.

  (a) ppo_etf_atari.py (ale-py's native vector env), its own `SPS:` line after N iterations;
  (b) CleanRL's ppo_atari.py (SyncVectorEnv of Python Atari wrappers, gymnasium 0.29), the same PPO loop and
      sizes on the v4 NoFrameskip id of the same game; run from --upstream-script with --upstream-python
      (CleanRL's file is not part of this repository: pass a CleanRL checkout, or its ppo_atari.py with
      --upstream-pythonpath pointing at a folder holding cleanrl_utils/atari_wrappers.py);
  (c) the native vector env alone, random actions: env-steps per second, the ceiling of (a).
Then one iteration of (a) with a timer around each phase: env step, forward pass during the rollout,
GAE, metrics, update. Ratios (a/b, a/c) are what to compare across machines; absolute numbers are not.

  python benchmarks/atari_sps.py --upstream-script ~/cleanrl/cleanrl/ppo_atari.py \
      --upstream-python ~/venv-gymnasium-0.29/bin/python
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def script_sps(command, env):
    """Run a training script in a scratch folder; return its last `SPS:` value (global steps over the time
    since its loop started, as CleanRL prints it) and the wall time of the run."""
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        result = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(map(str, command))} failed:\n{result.stderr[-2000:]}")
    return float(re.findall(r"^SPS: (\d+)", result.stdout, re.M)[-1]), wall


def native_env_sps(env_id, num_envs, num_steps, seed=1):
    """Env-steps per second of the native vector env alone, random actions (after a warm-up)."""
    from ppo_etf_atari import make_env

    envs = make_env(env_id, num_envs)
    envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, envs.single_action_space.n, (num_steps + 50, num_envs))
    for a in actions[:50]:
        envs.step(a)
    start = time.perf_counter()
    for a in actions[50:]:
        envs.step(a)
    elapsed = time.perf_counter() - start
    envs.close()
    return num_envs * num_steps / elapsed


def profile_iteration(env_id, num_envs, num_steps, num_minibatches=4, update_epochs=4, seed=1, device="cpu"):
    """Seconds per phase of one PPO iteration of ppo_etf_atari.py (its pieces, its loop's order; the second
    of two iterations, the first warms up)."""
    import torch.nn as nn

    from ppo_etf_atari import Agent, GameStatistics, make_env, rollout_metrics

    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(seed)
    envs = make_env(env_id, num_envs)
    agent = Agent(envs).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=2.5e-4, eps=1e-5)
    shape = (num_steps, num_envs)
    obs = torch.zeros(shape + envs.single_observation_space.shape, dtype=torch.uint8, device=device)
    actions, logprobs, rewards, dones, values = (torch.zeros(shape, device=device) for _ in range(5))
    features = torch.zeros(shape + (512,), device=device)
    next_obs, infos = envs.reset(seed=seed)
    games = GameStatistics(infos)
    next_obs, next_done = torch.from_numpy(next_obs).to(device), torch.zeros(num_envs, device=device)
    batch_size = num_envs * num_steps
    minibatch_size = batch_size // num_minibatches
    for _ in range(2):
        timers = dict.fromkeys(["env step", "forward (rollout)", "rest of rollout", "GAE", "metrics", "update"], 0.0)
        for step in range(num_steps):
            t0 = time.perf_counter()
            obs[step], dones[step] = next_obs, next_done
            t1 = time.perf_counter()
            with torch.no_grad():
                action, logprob, _, value, features[step] = agent.get_action_and_value(next_obs)
            values[step], actions[step], logprobs[step] = value.flatten(), action, logprob
            action = action.cpu().numpy()
            t2 = time.perf_counter()
            next_obs, reward, terminations, truncations, infos = envs.step(action)
            t3 = time.perf_counter()
            rewards[step] = torch.tensor(np.sign(reward)).to(device).view(-1)
            next_obs = torch.from_numpy(next_obs).to(device)
            next_done = torch.Tensor(np.logical_or(terminations, truncations)).to(device)
            games.update(reward, terminations, truncations, infos)
            sync()
            t4 = time.perf_counter()
            timers["forward (rollout)"] += t2 - t1
            timers["env step"] += t3 - t2
            timers["rest of rollout"] += (t1 - t0) + (t4 - t3)
        t0 = time.perf_counter()
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(num_steps)):
                nextnonterminal = 1.0 - (next_done if t == num_steps - 1 else dones[t + 1])
                nextvalues = next_value if t == num_steps - 1 else values[t + 1]
                delta = rewards[t] + 0.99 * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + 0.99 * 0.95 * nextnonterminal * lastgaelam
            returns = advantages + values
        sync()
        t1 = time.perf_counter()
        rollout_metrics(agent, features.reshape(-1, 512))
        t2 = time.perf_counter()
        b_obs = obs.reshape((-1,) + envs.single_observation_space.shape)
        b_actions, b_logprobs = actions.reshape(-1).long(), logprobs.reshape(-1)
        b_advantages, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        b_inds = np.arange(batch_size)
        for _ in range(update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                mb = b_inds[start : start + minibatch_size]
                _, newlogprob, entropy, newvalue, _ = agent.get_action_and_value(b_obs[mb], b_actions[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()
                adv = (b_advantages[mb] - b_advantages[mb].mean()) / (b_advantages[mb].std() + 1e-8)
                pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 0.9, 1.1)).mean()
                newvalue = newvalue.view(-1)
                v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -0.1, 0.1)
                v_loss = 0.5 * torch.max((newvalue - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2).mean()
                loss = pg_loss - 0.01 * entropy.mean() + 0.5 * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                optimizer.step()
        sync()
        t3 = time.perf_counter()
        timers.update({"GAE": t1 - t0, "metrics": t2 - t1, "update": t3 - t2})
    envs.close()
    return timers


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="ALE/Phoenix-v5")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=5, help="PPO iterations per script run")
    parser.add_argument(
        "--upstream-script", type=Path, help="CleanRL's cleanrl/ppo_atari.py; (b) is skipped without it"
    )
    parser.add_argument("--upstream-python", default=sys.executable, help="a Python with gymnasium 0.29 and opencv")
    parser.add_argument(
        "--upstream-pythonpath", type=Path, help="folder holding cleanrl_utils/ (default: the checkout)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of (a) and (b), alternated; the best counts")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--cuda", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    total = args.iterations * args.num_envs * args.num_steps
    sizes = ["--num-envs", args.num_envs, "--num-steps", args.num_steps, "--total-timesteps", total]
    cuda = [] if args.cuda else ["--no-cuda"]
    device = "cuda" if torch.cuda.is_available() and args.cuda else "cpu"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, device {device}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")  # fmt: skip
    print(f"{args.env_id}, {args.num_envs} envs x {args.num_steps} steps, {args.iterations} iterations per run\n")
    command = [sys.executable, ROOT / "ppo_etf_atari.py", "--env-id", args.env_id, *sizes, *cuda]
    runs = {"a": (list(map(str, command)), dict(os.environ, PYTHONPATH=str(ROOT)))}
    if args.upstream_script:
        game = args.env_id.removeprefix("ALE/").removesuffix("-v5")
        checkout = args.upstream_script.resolve().parents[1]
        path = args.upstream_pythonpath or checkout
        upstream_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(path), str(checkout)]))
        command = [args.upstream_python, args.upstream_script, "--env-id", f"{game}NoFrameskip-v4", *sizes, *cuda]
        runs["b"] = (list(map(str, command)), upstream_env)
    sps = {key: [] for key in runs}
    for _ in range(args.repeats):  # alternate a and b, so that a load that comes and goes hits both
        for key, (command, run_env) in runs.items():
            sps[key].append(script_sps(command, run_env)[0])
    a, b = max(sps["a"]), max(sps.get("b", [0])) or None
    print(f"(a) ppo_etf_atari.py                  {a:8.0f} steps/s   (best of {sps['a']})")
    if b:
        print(f"(b) CleanRL ppo_atari.py (parent)      {b:8.0f} steps/s   (best of {sps['b']})")
    c = native_env_sps(args.env_id, args.num_envs, args.num_steps * 2)
    print(f"(c) native vector env, random actions {c:8.0f} env-steps/s")
    print(f"\na/b = {a / b:.2f}" if b else "\na/b: (b) not run (pass --upstream-script)", end="")
    print(f"   a/c = {a / c:.2f}")

    if not args.skip_profile:
        timers = profile_iteration(args.env_id, args.num_envs, args.num_steps, device=device)
        total_time = sum(timers.values())
        print(f"\nprofile of one iteration ({args.num_envs * args.num_steps} steps, 4 epochs x 4 minibatches):")
        for phase, seconds in timers.items():
            print(f"  {phase:<18} {seconds:6.3f} s  {100 * seconds / total_time:5.1f} %")
        print(f"  {'total':<18} {total_time:6.3f} s  -> {args.num_envs * args.num_steps / total_time:.0f} steps/s")


if __name__ == "__main__":
    main()
