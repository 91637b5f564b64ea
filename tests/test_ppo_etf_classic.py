"""ppo_etf_classic.py: the ETF's geometry and immutability, GAE across episode boundaries, an end-to-end
run with its TensorBoard tags and --save-model, and bad input."""

import ast
import textwrap
import types
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import read_scalars, run_script

import ppo_etf_classic
from ppo_etf_classic import Agent, simplex_etf


@pytest.mark.parametrize("k,d", [(2, 2), (2, 64), (3, 3), (4, 64), (9, 16), (18, 512)])
def test_etf_geometry(k, d):
    torch.manual_seed(k * d)
    w = simplex_etf(d, k)
    assert w.shape == (d, k)
    torch.testing.assert_close(w.norm(dim=0), torch.ones(k), atol=1e-5, rtol=0)
    cos = w.T @ w / torch.outer(w.norm(dim=0), w.norm(dim=0))
    off_diagonal = cos[~torch.eye(k, dtype=torch.bool)]
    torch.testing.assert_close(off_diagonal, torch.full_like(off_diagonal, -1 / (k - 1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(w.sum(dim=1), torch.zeros(d), atol=1e-5, rtol=0)


@pytest.mark.parametrize("k,d", [(3, 2), (1, 8)])
def test_etf_rejects_impossible_sizes(k, d):
    with pytest.raises(ValueError, match="2 <= K <= d"):
        simplex_etf(d, k)


def make_agent(etf=True, seed=1):
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])
    torch.manual_seed(seed)
    return Agent(envs, etf=etf), envs


def test_etf_is_a_buffer_outside_the_optimizer_and_never_changes():
    agent, envs = make_agent()
    head = agent.actor[-1]
    assert "actor.4.weight" in dict(agent.named_buffers()) and "actor.4.weight" in agent.state_dict()
    assert all(p is not head.weight for p in agent.parameters())
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-2, eps=1e-5)
    etf_before = head.weight.clone()
    backbone_before = [p.clone() for p in agent.actor[:-1].parameters()]
    obs = torch.randn(64, 4)
    for _ in range(5):
        _, logprob, entropy, value = agent.get_action_and_value(obs)
        loss = -(logprob.mean() + entropy.mean()) + value.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(head.weight, etf_before)  # bit-identical
    assert any(not torch.equal(p, q) for p, q in zip(agent.actor[:-1].parameters(), backbone_before))


def test_no_etf_is_upstreams_learned_head():
    agent, _ = make_agent(etf=False)
    assert isinstance(agent.actor[-1], torch.nn.Linear)
    assert agent.actor[-1].weight.requires_grad and agent.actor[-1].weight.T.shape == (64, 2)


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
    source = Path(ppo_etf_classic.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.With) and "lastgaelam" in ast.get_source_segment(source, node):
            return compile(textwrap.dedent(ast.get_source_segment(source, node)), "gae", "exec")
    raise AssertionError("no GAE block in ppo_etf_classic.py")


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


# --- end to end -------------------------------------------------------------------------------

UPSTREAM_TAGS = {
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/SPS",
    "charts/learning_rate",
    "losses/value_loss",
    "losses/policy_loss",
    "losses/entropy",
    "losses/old_approx_kl",
    "losses/approx_kl",
    "losses/clipfrac",
    "losses/explained_variance",
}
METHOD_TAGS = {
    "collapse/policy_entropy",
    "collapse/nc1",
    "collapse/equinorm_means",
    "collapse/equinorm_weights",
    "collapse/equiangularity",
    "collapse/self_duality",
    "repr/effective_rank",
    "repr/approx_rank",
    "repr/srank",
    "repr/feature_rank",
    "repr/pytorch_rank",
    "repr/numerical_rank",
    "repr/dead_units",
    "repr/feature_norm",
}


@pytest.mark.parametrize("variant", ["--etf", "--no-etf"])
def test_end_to_end_run_logs_tags_and_saves_model(tmp_path, variant):
    result = run_script("ppo_etf_classic.py", "--total-timesteps", 2048, "--save-model", "--epochs", 2, variant, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    missing = (UPSTREAM_TAGS | METHOD_TAGS) - set(scalars)
    assert not missing, missing
    assert len(scalars["charts/SPS"]) == 4  # one per iteration: 2048 / (4 envs x 128 steps)
    assert all(np.isfinite(v) for tag in METHOD_TAGS for v in scalars[tag])
    assert all(r > 0 for r in scalars["charts/episodic_return"])  # CartPole pays 1 per step
    state = torch.load(run_dir / "ppo_etf_classic.cleanrl_model")
    if variant == "--etf":
        torch.manual_seed(1)  # the seed the run used: its ETF, drawn at construction, is unchanged
        expected_etf = Agent(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])).actor[-1].weight
        assert torch.equal(state["actor.4.weight"], expected_etf) and "actor.4.bias" not in state
    else:
        assert "actor.4.bias" in state


# --- toy text, exploration, bounded episodes ----------------------------------------------------


def test_discrete_states_are_one_hot_and_episodes_are_bounded():
    same_step = gym.vector.AutoresetMode.SAME_STEP
    envs = gym.vector.SyncVectorEnv(
        [ppo_etf_classic.make_env("CliffWalking-v1", 0, False, "x", 200)], autoreset_mode=same_step
    )
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


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 1.0])
def test_epsilon_mixture_is_the_behaviour_policy_of_the_ratio(epsilon):
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("Acrobot-v1")])
    torch.manual_seed(0)
    agent = Agent(envs, etf=True)
    obs, actions = torch.randn(32, 6), torch.randint(0, 3, (32,))
    _, logprob, entropy, _ = agent.get_action_and_value(obs, actions, epsilon)
    pi = torch.softmax(agent.actor(obs), dim=-1)
    mixture = (1 - epsilon) * pi + epsilon / 3
    torch.testing.assert_close(logprob, mixture.gather(1, actions[:, None]).log().squeeze(1))
    torch.testing.assert_close(entropy, -(pi * pi.log()).sum(-1))  # the entropy bonus is pi_theta's


def test_a_diverged_run_stops_with_one_line_keeping_logs_and_the_last_finite_model(tmp_path):
    result = run_script("ppo_etf_classic.py", "--learning-rate", 1e30, "--total-timesteps", 2048, "--save-model",
                        "--no-cuda", "--no-etf", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: training diverged at iteration 1")
    (run_dir,) = (tmp_path / "runs").iterdir()
    state = torch.load(run_dir / "ppo_etf_classic.cleanrl_model")
    assert all(torch.isfinite(value).all() for value in state.values())


def test_track_offline_with_video_saves_evaluates_and_logs_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    result = run_script("ppo_etf_classic.py", "--total-timesteps", 2048, "--save-model", "--eval-episodes", 3, "--track",
                        "--capture-video", "--no-cuda", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "logs: runs/CartPole-v1__" in result.stdout and "| ETA 0h00m" in result.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(read_scalars(run_dir)["eval/episodic_return"]) == 3  # the reloaded model's episodes
    videos = {p.name for p in (tmp_path / "videos").rglob("*.mp4")}
    assert videos and len(list((tmp_path / "wandb").rglob("media/videos/*.mp4"))) == len(videos)  # each logged once
