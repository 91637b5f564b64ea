"""reinforce_etf.py: returns-to-go, the uniform behaviour mixture, the ETF head, an end-to-end CPU run, bad input,
and the controls: `--etf-init` (a learned head started at the ETF) and `--exploration greedy` (pi's score weighted by
pi / b)."""

from types import SimpleNamespace

import gymnasium as gym
import pytest
import torch
from conftest import read_scalars, run_script

import reinforce_etf
from reinforce_etf import Agent, behaviour_logits, returns_to_go

SCRIPT = "reinforce_etf.py"


def test_returns_to_go_hand_computed():
    # env 0: terminated at t=2, then steps of the next episode (left out of the batch by the script);
    # env 1: truncated by the time limit at t=4, treated as an end: no bootstrapping.
    rewards = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [10.0, 1.0], [10.0, 1.0]])
    dones = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    expected = torch.tensor(
        [
            [1 + 0.5 * 2 + 0.25 * 3, 1 + 0.5 + 0.25 + 0.125 + 0.0625],
            [2 + 0.5 * 3, 1 + 0.5 + 0.25 + 0.125],
            [3.0, 1 + 0.5 + 0.25],
            [10 + 0.5 * 10, 1 + 0.5],
            [10.0, 1.0],
        ]
    )
    torch.testing.assert_close(returns_to_go(rewards, dones, 0.5), expected)
    # a single episode as a 1-D sequence, gamma = 1: plain reward sums to the end
    torch.testing.assert_close(
        returns_to_go(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 1.0]), 1.0), torch.tensor([6.0, 5.0, 3.0])
    )


@pytest.mark.parametrize("epsilon", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_behaviour_mixture(epsilon):
    torch.manual_seed(0)
    logits = 3 * torch.randn(32, 5)
    log_b = behaviour_logits(logits, epsilon)
    probs = torch.softmax(log_b, -1)  # logits of pi_b, as Categorical reads them
    torch.testing.assert_close(probs, (1 - epsilon) * torch.softmax(logits, -1) + epsilon / 5)
    if epsilon == 0.0:
        assert log_b is logits  # the upstream path, untouched
    # the gradient reaches pi_theta through the (1 - eps) term, finite at both ends of [0, 1]
    logits.requires_grad_(True)
    behaviour_logits(logits, epsilon)[:, 0].sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad.abs().sum() == 0) == (epsilon == 1.0)


def test_etf_head_is_a_fixed_buffer():
    envs = SimpleNamespace(single_observation_space=gym.spaces.Box(-1, 1, (4,)), single_action_space=gym.spaces.Discrete(3))
    torch.manual_seed(0)
    agent = Agent(envs, etf=True, hidden_dim=8)
    w = agent.actor[-1].weight.T.clone()
    assert "actor.4.weight" in agent.state_dict() and "actor.4.weight" not in dict(agent.named_parameters())
    torch.testing.assert_close(w.norm(dim=0), torch.ones(3))
    cos = w.T @ w
    torch.testing.assert_close(cos[~torch.eye(3, dtype=torch.bool)], torch.full((6,), -0.5))
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.1)
    x, actions = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(3):
        logprob, _, _ = agent.get_logprob_and_entropy(x, actions, 0.1)
        optimizer.zero_grad()
        (-logprob.mean()).backward()
        optimizer.step()
    assert torch.equal(agent.actor[-1].weight.T, w)


def test_end_to_end(tmp_path):
    result = run_script(
        SCRIPT,
        "--total-timesteps", 1500, "--num-envs", 2, "--baseline", "--epsilon", 0.1, "--save-model",
        "--exp-name", "e2e",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "SPS:" in result.stdout and "episodic_return=" in result.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    expected = {
        "charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate",
        "losses/policy_loss", "losses/value_loss", "losses/entropy",
        "collapse/policy_entropy", "collapse/nc1", "collapse/equinorm_means", "collapse/equinorm_weights",
        "collapse/equiangularity", "collapse/self_duality",
        "repr/effective_rank", "repr/approx_rank", "repr/srank", "repr/feature_rank", "repr/pytorch_rank",
        "repr/numerical_rank", "repr/dead_units", "repr/feature_norm",
    }  # fmt: skip
    assert expected <= set(scalars), expected - set(scalars)
    assert len(scalars["losses/policy_loss"]) >= 3  # a few updates
    assert len(scalars["charts/episodic_return"]) == 2 * len(scalars["losses/policy_loss"])  # one episode per env
    assert all(v == v for values in scalars.values() for v in values)  # no NaN
    state = torch.load(run_dir / "e2e.cleanrl_model")
    assert state["actor.4.weight"].shape == (2, 64)
    assert abs(state["actor.4.weight"].norm(dim=1) - 1).max() < 1e-5


def test_end_to_end_no_etf_no_baseline(tmp_path):
    result = run_script(SCRIPT, "--total-timesteps", 500, "--num-envs", 2, "--no-etf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    assert "losses/value_loss" not in scalars
    assert {"losses/policy_loss", "collapse/equinorm_weights", "repr/effective_rank"} <= set(scalars)


def test_module_imports_without_running():
    assert callable(reinforce_etf.simplex_etf) and callable(reinforce_etf.check_args)


def test_track_offline_with_video_saves_evaluates_and_logs_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)  # as on a server: SDL must not print its "error:" line
    result = run_script("reinforce_etf.py", "--total-timesteps", 2048, "--save-model", "--eval-episodes", 3, "--track",
                        "--capture-video", "--no-cuda", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "XDG_RUNTIME_DIR" not in result.stderr and "\neval_episode=2, episodic_return=" in result.stdout
    assert "logs: runs/CartPole-v1__" in result.stdout and "| ETA 0h00m" in result.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(read_scalars(run_dir)["eval/episodic_return"]) == 3  # the reloaded model's episodes
    videos = {p.name for p in (tmp_path / "videos").rglob("*.mp4")}
    assert videos and len(list((tmp_path / "wandb").rglob("media/videos/*.mp4"))) == len(videos)  # each logged once


# --- controls: the ETF as an initialisation, epsilon-greedy exploration -----------------------

SPACES = SimpleNamespace(single_observation_space=gym.spaces.Box(-1, 1, (4,)), single_action_space=gym.spaces.Discrete(3))


def test_etf_init_is_a_trained_linear_head_started_at_the_etf():
    torch.manual_seed(0)
    fixed = Agent(SPACES, etf=True, etf_scale=0.1, hidden_dim=8)
    torch.manual_seed(0)  # the same draw
    agent = Agent(SPACES, etf=False, etf_scale=0.1, hidden_dim=8, etf_init=True)
    head = agent.actor[-1]
    torch.testing.assert_close(head.weight, 0.1 * fixed.actor[-1].weight, atol=1e-7, rtol=0)  # float32 products
    assert torch.equal(head.bias, torch.zeros(3)) and head.weight.requires_grad
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.01)
    x, actions = torch.randn(16, 4), torch.randint(0, 3, (16,))
    logprob, weight, _ = agent.get_logprob_and_entropy(x, actions)
    assert weight == 1.0  # the on-policy loss
    (-logprob.mean()).backward()
    initial = head.weight.detach().clone()
    optimizer.step()
    assert (head.weight - initial).abs().min() > 1e-3  # Adam's first step moves every weight by about lr


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 1.0])
def test_greedy_loss_weights_the_score_of_pi_by_pi_over_b(epsilon):
    torch.manual_seed(0)
    agent = Agent(SPACES, etf=False, hidden_dim=8)
    x = torch.randn(32, 4)
    pi = torch.softmax(agent.actor(x), dim=-1)
    argmax = pi.argmax(-1)
    actions = argmax if epsilon == 0.0 else torch.randint(0, 3, (32,))  # at eps = 0 only the argmax is ever taken
    b = (1 - epsilon) * torch.nn.functional.one_hot(argmax, 3) + epsilon / 3
    advantages = torch.randn(32)

    def grads(loss):
        agent.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in agent.actor.parameters()]

    logprob, weight, entropy = agent.get_logprob_and_entropy(x, actions, epsilon, "greedy")
    pi_a, b_a = pi.gather(1, actions[:, None]).squeeze(1), b.gather(1, actions[:, None]).squeeze(1)
    torch.testing.assert_close(logprob, pi_a.log())
    torch.testing.assert_close(weight, (pi_a / b_a).detach())
    assert not weight.requires_grad
    torch.testing.assert_close(entropy, -(pi * pi.log()).sum(-1))
    ours = grads(-(advantages * weight * logprob).mean())
    # E_b[(pi / b) A grad log pi] = E_pi[A grad log pi]: the gradient of A * pi(a|s) / b(a|s) with b held fixed
    reference = grads(-(advantages * pi_a / b_a.detach()).mean())
    for g, h in zip(ours, reference):
        torch.testing.assert_close(g, h)


def test_end_to_end_greedy_etf_init(tmp_path):
    result = run_script(SCRIPT, "--total-timesteps", 1500, "--num-envs", 2, "--etf-init", "--exploration", "greedy",
                        "--epsilon", 0.1, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    assert {"losses/importance_weight", "collapse/self_duality", "repr/effective_rank"} <= set(scalars)
    assert all(0 < w < 3 / 0.1 for w in scalars["losses/importance_weight"])  # a mean of pi / b <= K / eps
