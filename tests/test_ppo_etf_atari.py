"""ppo_etf_atari.py: the ETF head on the Nature CNN and an end-to-end run with its TensorBoard tags and --save-model.
The environment, game accounting and video are ppo_atari_ale_vector.py's (tested there); bad input: test_bad_input.py."""

import types

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import read_scalars, run_script

from ppo_etf_atari import Agent, rollout_metrics

SCRIPT = "ppo_etf_atari.py"


def fake_envs(num_actions):
    return types.SimpleNamespace(single_action_space=gym.spaces.Discrete(num_actions))


@pytest.mark.parametrize("num_actions", [4, 18])
def test_etf_head_is_a_fixed_simplex_buffer(num_actions):
    torch.manual_seed(0)
    agent = Agent(fake_envs(num_actions))
    w = agent.actor.weight.T
    assert w.shape == (512, num_actions) and "actor.weight" in dict(agent.named_buffers())
    assert all(p is not agent.actor.weight for p in agent.parameters()) and "actor.bias" not in agent.state_dict()
    cos = w.T @ w
    torch.testing.assert_close(cos.diagonal(), torch.ones(num_actions), atol=1e-5, rtol=0)
    off_diagonal = cos[~torch.eye(num_actions, dtype=torch.bool)]
    torch.testing.assert_close(off_diagonal, torch.full_like(off_diagonal, -1 / (num_actions - 1)), atol=1e-5, rtol=0)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-2, eps=1e-5)
    etf_before = agent.actor.weight.clone()
    obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8)
    for _ in range(2):
        _, logprob, entropy, value = agent.get_action_and_value(obs)
        loss = -(logprob.mean() + entropy.mean()) + value.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(agent.actor.weight, etf_before)  # bit-identical
    with torch.no_grad():
        agent.get_action_and_value(obs)  # the rollout's forward keeps the features for the metrics
    assert agent.features.shape == (32, 512) and (agent.features >= 0).all()
    metrics = rollout_metrics(agent, agent.features)
    assert {"collapse/policy_entropy", "repr/dead_units", "repr/zero_fraction", "repr/feature_norm"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())


def test_no_etf_is_upstreams_learned_head():
    agent = Agent(fake_envs(6), etf=False)
    assert isinstance(agent.actor, torch.nn.Linear) and agent.actor.weight.requires_grad
    assert agent.actor.weight.T.shape == (512, 6)


# --- end to end -------------------------------------------------------------------------------

UPSTREAM_TAGS = {
    "charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate",
    "losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/old_approx_kl",
    "losses/approx_kl", "losses/clipfrac", "losses/explained_variance",
}  # fmt: skip
METHOD_TAGS = {
    "collapse/policy_entropy", "collapse/nc1", "collapse/equinorm_means", "collapse/equinorm_weights",
    "collapse/equiangularity", "collapse/self_duality", "repr/effective_rank", "repr/approx_rank",
    "repr/srank", "repr/feature_rank", "repr/pytorch_rank", "repr/numerical_rank", "repr/dead_units",
    "repr/zero_fraction", "repr/feature_norm",
}  # fmt: skip


@pytest.mark.parametrize("variant", ["--etf", "--no-etf"])
def test_end_to_end_run_logs_tags_and_saves_model(tmp_path, variant):
    # Breakout, 2 envs x 128 steps x 4 iterations: near-random play ends a few games (all five lives) per env
    result = run_script(SCRIPT, "--num-envs", 2, "--num-steps", 128, "--total-timesteps", 1024, "--epochs", 1,
                        "--save-model", "--eval-episodes", 1, "--metrics-every", 2, variant, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    missing = (UPSTREAM_TAGS | METHOD_TAGS) - set(scalars)
    assert not missing, missing
    assert len(scalars["charts/SPS"]) == 4  # one per iteration
    assert all(np.isfinite(v) for tag in METHOD_TAGS for v in scalars[tag])
    # iterations 1 and 3 (--metrics-every 2); the class geometry is skipped where one greedy action is present
    assert all(len(scalars[tag]) == 2 for tag in ("collapse/policy_entropy", "collapse/present_classes", "repr/srank"))
    assert all(len(scalars[tag]) <= 2 for tag in METHOD_TAGS)
    assert all(n >= 100 for n in scalars["charts/episodic_length"])  # full games, not single lives
    assert len(scalars["eval/episodic_return"]) == 1  # the saved model, reloaded, played one game
    state = torch.load(run_dir / "ppo_etf_atari.cleanrl_model")
    if variant == "--etf":
        torch.manual_seed(1)  # the run's seed: its ETF, drawn at construction, is unchanged by training
        assert torch.equal(state["actor.weight"], Agent(fake_envs(4)).actor.weight) and "actor.bias" not in state
    else:
        assert "actor.bias" in state


def test_compile_gives_the_same_losses(tmp_path):
    (tmp_path / "--compile").mkdir()
    (tmp_path / "--no-compile").mkdir()
    # one iteration with and without --compile, same seed: the same rollout and nearly the same update
    argv = ["--num-envs", 2, "--num-steps", 32, "--total-timesteps", 64, "--epochs", 1, "--no-cuda"]
    losses = []
    for flag in ["--no-compile", "--compile"]:
        result = run_script(SCRIPT, *argv, flag, cwd=tmp_path / flag, timeout=900)
        assert result.returncode == 0, result.stderr
        (run_dir,) = (tmp_path / flag / "runs").iterdir()
        scalars = read_scalars(run_dir)
        losses.append([scalars[tag][0] for tag in ("losses/value_loss", "losses/policy_loss", "losses/entropy")])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-3, atol=1e-5)


def test_no_etf_trains_bit_identically_to_the_parent(tmp_path):
    # same seed, same machine: --no-etf must be the parent script exactly (no extra RNG draw, same kernels), so the
    # losses and the trained weights are compared for exact equality, not within a tolerance
    argv = ["--seed", 3, "--num-envs", 2, "--num-steps", 32, "--total-timesteps", 128, "--no-cuda", "--save-model"]
    runs = {}
    for script, extra in [("ppo_atari_ale_vector.py", []), (SCRIPT, ["--no-etf"])]:
        (tmp_path / script).mkdir()
        result = run_script(script, *argv, "--eval-episodes", 1, *extra, cwd=tmp_path / script)
        assert result.returncode == 0, result.stderr
        (run_dir,) = (tmp_path / script / "runs").iterdir()
        runs[script] = read_scalars(run_dir), torch.load(next(run_dir.glob("*.cleanrl_model")))
    (parent_scalars, parent_state), (fork_scalars, fork_state) = runs.values()
    for tag in ("losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/approx_kl", "eval/episodic_return"):
        assert fork_scalars[tag] == parent_scalars[tag] and len(parent_scalars[tag]) >= 1, tag
    assert len(parent_scalars["losses/value_loss"]) == 2  # two iterations
    assert fork_state.keys() == parent_state.keys()
    assert all(torch.equal(fork_state[key], parent_state[key]) for key in parent_state)
