"""ppo_etf_classic.py: the ETF's geometry and immutability, the exploration mixture, an end-to-end run with its
TensorBoard tags and --save-model, and `--no-etf` training exactly as the parent. The port itself (GAE across episode
boundaries, one-hot states, evaluation, video, run guards) is ppo_classic.py's, tested there; bad input:
test_bad_input.py."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import read_scalars, run_script

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


# --- exploration, the parent ------------------------------------------------------------------


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


def test_no_etf_trains_exactly_as_the_parent(tmp_path):
    # the fork's baseline runs the parent's code path: the same initialisation, samples and updates
    scalars = {}
    for script, flags in (("ppo_classic.py", []), ("ppo_etf_classic.py", ["--no-etf"])):
        (tmp_path / script).mkdir()
        result = run_script(script, "--total-timesteps", 1024, "--no-cuda", *flags, cwd=tmp_path / script)
        assert result.returncode == 0, result.stderr
        (run_dir,) = (tmp_path / script / "runs").iterdir()
        scalars[script] = read_scalars(run_dir)
    parent, fork = scalars["ppo_classic.py"], scalars["ppo_etf_classic.py"]
    assert set(parent) < set(fork)  # plus the method's metrics
    for tag in sorted(set(parent) - {"charts/SPS"}):
        np.testing.assert_allclose(fork[tag], parent[tag], rtol=1e-6, err_msg=tag)  # same ops, same order
