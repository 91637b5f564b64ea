"""ppo_classic.py, the classic-control port of CleanRL's ppo.py: GAE across episode boundaries (SAME_STEP autoreset),
one-hot toy-text states and bounded episodes, an end-to-end run with upstream's tags, --save-model and its evaluation,
--capture-video and --track, Ctrl-C/SIGTERM and a diverged loss stopping with one line while keeping the logs and the
last finite model. Bad input: test_bad_input.py."""

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import ROOT, read_scalars, run_script

import ppo_classic
from ppo_classic import Agent, make_env, nonfinite_terms

SCRIPT = "ppo_classic.py"


# --- GAE across an episode boundary ------------------------------------------------------------


class ThreeStepEnv(gym.Env):
    """Episodes of exactly three steps, reward 1 each; the observation is the step index."""

    observation_space = gym.spaces.Box(0, 3, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.t], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t == 3, False, {}


def script_gae_block():
    """The script's own GAE code (upstream's, verbatim), compiled so a test can run it on chosen tensors."""
    source = Path(ppo_classic.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.With) and "lastgaelam" in ast.get_source_segment(source, node):
            return compile(textwrap.dedent(ast.get_source_segment(source, node)), "gae", "exec")
    raise AssertionError(f"no GAE block in {SCRIPT}")


def rollout_like_the_script(autoreset_mode, num_steps=7):
    """Collect num_steps transitions storing obs/dones exactly as the script does."""
    envs = gym.vector.SyncVectorEnv([ThreeStepEnv], autoreset_mode=autoreset_mode)
    next_obs, _ = envs.reset(seed=0)
    next_done = torch.zeros(1)
    rewards, dones = torch.zeros(num_steps, 1), torch.zeros(num_steps, 1)
    for step in range(num_steps):
        dones[step] = next_done
        next_obs, reward, terminations, truncations, _ = envs.step(np.zeros(1, dtype=np.int64))
        rewards[step] = torch.tensor(reward).view(-1)
        next_done = torch.Tensor(np.logical_or(terminations, truncations))
    return rewards, dones, next_done, torch.Tensor(next_obs)


def run_gae(rewards, dones, next_done, next_obs, value=10.0, gamma=0.9, gae_lambda=1.0):
    values = torch.full_like(rewards, value)
    agent = types.SimpleNamespace(get_value=lambda x: torch.full((x.shape[0], 1), value))
    args = types.SimpleNamespace(num_steps=rewards.shape[0], gamma=gamma, gae_lambda=gae_lambda)
    scope = dict(
        torch=torch,
        agent=agent,
        args=args,
        rewards=rewards,
        dones=dones,
        values=values,
        next_done=next_done,
        next_obs=next_obs,
        device="cpu",
    )
    exec(script_gae_block(), scope)
    return scope["advantages"].view(-1), scope["returns"].view(-1)


def test_gae_does_not_leak_across_episode_boundaries():
    rewards, dones, next_done, next_obs = rollout_like_the_script(gym.vector.AutoresetMode.SAME_STEP)
    advantages, returns = run_gae(rewards, dones, next_done, next_obs)
    # lambda = 1: advantage = discounted return-to-go within the episode - V; the last, unfinished
    # episode bootstraps from V(next_obs) = 10. Episodes: steps 0-2, 3-5, then 6.
    episode_returns = [1 + 0.9 + 0.81, 1 + 0.9, 1.0]
    expected = torch.tensor(episode_returns * 2 + [1 + 0.9 * 10]) - 10
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, expected + 10)


def test_gae_check_catches_next_step_autoreset():
    # gymnasium's default NEXT_STEP mode inserts a reset step whose transition would cross the boundary
    rewards, dones, next_done, next_obs = rollout_like_the_script(gym.vector.AutoresetMode.NEXT_STEP)
    advantages, _ = run_gae(rewards, dones, next_done, next_obs)
    same_step = run_gae(*rollout_like_the_script(gym.vector.AutoresetMode.SAME_STEP))[0]
    assert not torch.allclose(advantages, same_step)


# --- toy text, bounded episodes, upstream's network -------------------------------------------


def test_discrete_states_are_one_hot_and_episodes_are_bounded():
    same_step = gym.vector.AutoresetMode.SAME_STEP
    envs = gym.vector.SyncVectorEnv([make_env("CliffWalking-v1", 0, False, "x", 200)], autoreset_mode=same_step)
    obs, _ = envs.reset(seed=0)
    assert envs.single_observation_space.shape == (48,) and obs.shape == (1, 48)
    assert obs.sum() == 1 and obs[0, 36] == 1  # CliffWalking starts in state 36
    lengths = []
    for _ in range(450):  # the agent never reaches the goal by always moving up: only the step cap ends it
        _, _, terminations, truncations, infos = envs.step(np.zeros(1, dtype=np.int64))
        if "final_info" in infos and infos["final_info"]["_episode"][0]:
            lengths.append(int(infos["final_info"]["episode"]["l"][0]))
            assert truncations[0] and not terminations[0]
    assert lengths == [200, 200]


def test_agent_is_upstreams():
    torch.manual_seed(0)
    agent = Agent(gym.vector.SyncVectorEnv([lambda: gym.make("Acrobot-v1")]))
    shapes = {name: tuple(p.shape) for name, p in agent.named_parameters()}
    assert shapes["actor.0.weight"] == shapes["critic.0.weight"] == (64, 6)
    assert shapes["actor.4.weight"] == (3, 64) and shapes["critic.4.weight"] == (1, 64)
    assert len(shapes) == 12 and not list(agent.buffers())


def test_nonfinite_terms_names_the_losses_and_parameters():
    agent = Agent(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")]))
    assert nonfinite_terms(agent, loss=torch.tensor(1.0)) == []
    with torch.no_grad():
        agent.critic[4].bias.fill_(float("nan"))
    assert nonfinite_terms(agent, loss=torch.tensor(float("inf"))) == ["loss", "critic.4.bias"]


# --- end to end -------------------------------------------------------------------------------

UPSTREAM_TAGS = {
    "charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate",
    "losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/old_approx_kl",
    "losses/approx_kl", "losses/clipfrac", "losses/explained_variance",
}  # fmt: skip


def test_end_to_end_run_logs_upstreams_tags_saves_evaluates_films_and_tracks_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)  # as on a server or in a container
    result = run_script(SCRIPT, "--total-timesteps", 2048, "--epochs", 2, "--save-model", "--eval-episodes", 3,
                        "--capture-video", "--track", "--no-cuda", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "XDG_RUNTIME_DIR" not in result.stderr  # SDL's message, which reads like one of the script's errors
    assert not [line for line in result.stderr.splitlines() if line.startswith("error")], result.stderr
    assert "logs: runs/CartPole-v1__ppo_classic__1__" in result.stdout
    assert "| step 2048/2048 | ETA 0h00m" in result.stdout  # progress, with CleanRL's `SPS:` first
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    assert UPSTREAM_TAGS | {"eval/episodic_return"} == set(scalars)
    assert len(scalars["charts/SPS"]) == 4  # one per iteration: 2048 / (4 envs x 128 steps)
    assert all(r > 0 for r in scalars["charts/episodic_return"])  # CartPole pays 1 per step
    evaluations = [line for line in result.stdout.splitlines() if line.startswith("eval_episode=")]
    assert [line.split(",")[0] for line in evaluations] == ["eval_episode=0", "eval_episode=1", "eval_episode=2"]
    printed = [float(line.split("episodic_return=")[1]) for line in evaluations]
    np.testing.assert_allclose(printed, scalars["eval/episodic_return"])  # printed and logged: the same episodes
    state = torch.load(run_dir / "ppo_classic.cleanrl_model")
    Agent(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])).load_state_dict(state)
    videos = {p.name for p in (tmp_path / "videos").rglob("*.mp4")}
    assert videos and len(list((tmp_path / "wandb").rglob("media/videos/*.mp4"))) == len(videos)  # each logged once


def test_a_diverged_run_stops_with_one_line_keeping_logs_and_the_last_finite_model(tmp_path):
    result = run_script(SCRIPT, "--learning-rate", 1e30, "--total-timesteps", 1024, "--save-model", "--no-cuda",
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: training diverged at iteration 1")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "losses/value_loss" in read_scalars(run_dir)  # the diverged iteration was logged and flushed
    state = torch.load(run_dir / "ppo_classic.cleanrl_model")
    assert all(torch.isfinite(value).all() for value in state.values())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_run_with_its_logs_and_model(tmp_path, signum):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    argv = [sys.executable, str(ROOT / SCRIPT), "--num-steps", "32", "--total-timesteps", "1000000", "--save-model",
            "--no-cuda"]  # fmt: skip
    with open(tmp_path / "stdout.txt", "w") as stdout:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while (tmp_path / "stdout.txt").read_text().count("SPS:") < 2 and time.time() < deadline:
            time.sleep(0.2)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: stopped by {signal.Signals(signum).name} at global_step=")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(read_scalars(run_dir)["charts/SPS"]) >= 2
    assert (run_dir / "ppo_classic.cleanrl_model").exists()
