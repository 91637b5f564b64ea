"""ppo_etf_classic.py: the ETF's geometry and immutability, the exploration mixture, an end-to-end run with its
TensorBoard tags and --save-model, `--no-etf` training exactly as the parent, and the controls: `--etf-init` (a learned
head started at the ETF) and `--exploration greedy` (its behaviour policy, its actions and PPO's ratio pi / b_old).
The port itself (GAE across episode boundaries, one-hot states, evaluation, video, run guards) is ppo_classic.py's,
tested there; bad input: test_bad_input.py."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import read_scalars, run_script

from ppo_etf_classic import Agent, behaviour_logits, simplex_etf


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


@pytest.mark.parametrize("variant", ["--etf", "--no-etf", "--etf-init"])
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
    torch.manual_seed(1)  # the seed the run used: the ETF it drew at construction
    etf = Agent(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])).actor[-1].weight
    if variant == "--etf":
        assert torch.equal(state["actor.4.weight"], etf) and "actor.4.bias" not in state  # never trained
    else:
        assert "actor.4.bias" in state
    if variant == "--etf-init":  # started at that ETF, then trained
        assert 1e-4 < (state["actor.4.weight"] - etf).abs().max() < 0.05  # 32 Adam steps of about lr = 2.5e-4


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


# --- controls: the ETF as an initialisation, epsilon-greedy exploration -----------------------


@pytest.mark.parametrize("scale", [0.3, 1.0])
def test_etf_init_starts_at_the_fixed_heads_etf_and_trains(scale):
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("Acrobot-v1")])
    torch.manual_seed(3)
    fixed = Agent(envs, etf=True, etf_scale=scale)
    torch.manual_seed(3)  # the same seed: the same backbone and the same ETF draw
    agent = Agent(envs, etf=False, etf_scale=scale, etf_init=True)
    head = agent.actor[-1]
    assert type(head) is torch.nn.Linear and head.weight.requires_grad and "actor.4.weight" in dict(agent.named_parameters())
    # a copy of the drawn ETF times the scale; float tolerance as the scale multiplies in float32
    torch.testing.assert_close(head.weight, scale * fixed.actor[-1].weight, atol=1e-6, rtol=0)
    assert torch.equal(head.bias, torch.zeros(3))
    obs = torch.randn(16, 6)
    torch.testing.assert_close(agent.actor(obs), fixed.actor(obs), atol=1e-6, rtol=1e-5)  # --etf's initial policy
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-2, eps=1e-5)
    initial = head.weight.detach().clone()
    _, logprob, entropy, value = agent.get_action_and_value(obs)
    (-(logprob.mean() + entropy.mean()) + value.pow(2).mean()).backward()
    optimizer.step()
    assert (head.weight - initial).abs().max() > 1e-4  # Adam's first step moves every weight by about lr


def test_etf_init_overrides_etf():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])
    torch.manual_seed(0)
    with_etf = Agent(envs, etf=True, etf_init=True)
    torch.manual_seed(0)
    without = Agent(envs, etf=False, etf_init=True)
    assert all(torch.equal(p, q) for p, q in zip(with_etf.state_dict().values(), without.state_dict().values()))


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5, 1.0])
def test_greedy_behaviour_policy(epsilon):
    torch.manual_seed(0)
    logits = 3 * torch.randn(64, 5)
    b = torch.softmax(behaviour_logits(logits, epsilon, "greedy"), dim=-1)  # as Categorical reads the logits
    torch.testing.assert_close(b.sum(-1), torch.ones(64))
    greedy = torch.nn.functional.one_hot(logits.argmax(-1), 5)
    torch.testing.assert_close(b, (1 - epsilon) * greedy + epsilon / 5)


def test_greedy_acts_argmax_at_eps_0_and_uniformly_at_eps_1():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("Acrobot-v1")])
    torch.manual_seed(0)
    agent = Agent(envs)
    obs = torch.randn(6000, 6)
    with torch.no_grad():
        argmax = agent.actor(obs).argmax(-1)
        action, logprob, _, _ = agent.get_action_and_value(obs, None, 0.0, "greedy")
        assert torch.equal(action, argmax) and torch.equal(logprob, torch.zeros(6000))  # deterministic: b(a|s) = 1
        action, logprob, _, _ = agent.get_action_and_value(obs, None, 1.0, "greedy")
    counts = torch.bincount(action, minlength=3) / 6000
    torch.testing.assert_close(counts, torch.full((3,), 1 / 3), atol=0.03, rtol=0)  # 5 sd of a share of 6000 draws
    torch.testing.assert_close(logprob, torch.full((6000,), -np.log(3), dtype=torch.float32))


def replay_first_rollout(epsilon, env_id="Acrobot-v1", seed=1, num_envs=4, num_steps=128):
    """The script's first rollout, replayed step for step: its seeds, agent, behaviour samples and log b."""
    import random

    from ppo_etf_classic import make_env

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    envs = gym.vector.SyncVectorEnv(
        [make_env(env_id, i, False, "", gym.spec(env_id).max_episode_steps) for i in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    agent = Agent(envs)
    next_obs = torch.Tensor(envs.reset(seed=seed)[0])
    obs, actions, logprobs = [], [], []
    for _ in range(num_steps):
        with torch.inference_mode():
            action, logprob, _, _ = agent.get_action_and_value(next_obs, None, epsilon, "greedy")
        obs.append(next_obs)
        actions.append(action)
        logprobs.append(logprob)
        next_obs = torch.Tensor(envs.step(action.numpy())[0])
    envs.close()
    return agent, torch.cat(obs), torch.cat(actions), torch.cat(logprobs)


@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_greedy_ppo_ratio_is_pi_over_behaviour(tmp_path, epsilon):
    # one iteration, one epoch, one minibatch: the logged KL estimates and clip fraction are those of the first
    # minibatch's ratio, before any update; replayed here, the ratio must be pi_theta(a|s) / b_old(a|s)
    result = run_script("ppo_etf_classic.py", "--env-id", "Acrobot-v1", "--total-timesteps", 512, "--num-minibatches", 1,
                        "--epochs", 1, "--exploration", "greedy", "--epsilon", epsilon, "--no-cuda", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    logged = read_scalars(run_dir)
    agent, obs, actions, log_b = replay_first_rollout(epsilon)
    with torch.no_grad():
        pi = torch.softmax(agent.actor(obs), dim=-1)
    b = (1 - epsilon) * torch.nn.functional.one_hot(pi.argmax(-1), 3) + epsilon / 3
    torch.testing.assert_close(log_b.exp(), b.gather(1, actions[:, None]).squeeze(1))  # the replay's b is the formula's
    ratio = (pi / b).gather(1, actions[:, None]).squeeze(1).double()
    expected = {
        "losses/old_approx_kl": (-ratio.log()).mean(),
        "losses/approx_kl": ((ratio - 1) - ratio.log()).mean(),
        "losses/clipfrac": ((ratio - 1).abs() > 0.2).double().mean(),
    }
    assert expected["losses/old_approx_kl"] > 0.05  # pi / b_old, not b_new / b_old (which is 1 here)
    for tag, value in expected.items():  # float32 in the script and in TensorBoard
        np.testing.assert_allclose(logged[tag], [value.item()], rtol=1e-4, atol=1e-6, err_msg=tag)
