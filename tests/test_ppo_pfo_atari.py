"""ppo_pfo_atari.py: the PFO loss, the pre-activations it covers, capacity loss, an end-to-end run, bad input."""

import numpy as np
import pytest
import torch
from conftest import assert_stops_with_one_line, read_scalars, run_script

from ppo_pfo_atari import (
    Agent,
    capacity_loss,
    collect_capacity_data,
    forward_with_preactivations,
    make_env,
    pfo_features,
    pfo_loss,
)


@pytest.fixture(scope="module")
def phoenix():
    envs = make_env("ALE/Phoenix-v5", 2)
    torch.manual_seed(0)
    agent = Agent(envs)
    observations = collect_capacity_data(envs, agent, 16, seed=0, device="cpu")  # 32 real frame stacks
    yield envs, agent, observations
    envs.close()


@pytest.mark.parametrize("all_layers", [False, True])
def test_pfo_is_zero_at_the_start_of_an_update_and_grows_as_the_actor_moves(phoenix, all_layers):
    envs, _, observations = phoenix
    torch.manual_seed(1)
    agent = Agent(envs)
    with torch.no_grad():  # what the rollout stores: the collecting policy's pre-activations
        old = pfo_features(agent.get_action_and_value(observations)[4]["actor"], all_layers)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        _, logprob, _, _, preactivations = agent.get_action_and_value(observations)
        loss = pfo_loss(pfo_features(preactivations["actor"], all_layers), old)
        losses.append(loss.item())
        optimizer.zero_grad()
        (-logprob.mean()).backward()  # move the actor with a policy-gradient-like loss only
        optimizer.step()
    assert losses[0] == 0.0  # first minibatch of an update: exactly the collecting policy
    assert 0 < losses[1] < losses[2]


def test_pfo_reduction_is_mean_over_units_then_batch():
    new, old = torch.zeros(2, 4), torch.zeros(2, 4)
    new[0] = 2.0  # sample 0: squared error 4 on each unit, sample 1: none
    assert pfo_loss(new, old).item() == pytest.approx(2.0)


def test_all_layers_covers_every_preactivation(phoenix):
    _, agent, observations = phoenix
    _, preactivations = forward_with_preactivations(agent.actor_trunk, observations / 255.0)
    relus = sum(isinstance(layer, torch.nn.ReLU) for layer in agent.actor_trunk)
    assert len(preactivations) == relus == 4
    widths = [p.shape[1] for p in preactivations]
    assert widths == [32 * 20 * 20, 64 * 9 * 9, 64 * 7 * 7, 512]
    assert pfo_features(preactivations, True).shape[1] == sum(widths)
    assert torch.equal(pfo_features(preactivations, False), preactivations[-1])
    # the first conv's pre-activations are its raw outputs, before the ReLU can zero them
    first_conv = agent.actor_trunk[0](observations / 255.0).flatten(1)
    assert torch.equal(preactivations[0], first_conv) and (first_conv < 0).any()


def test_shared_trunk_is_one_network(phoenix):
    envs, _, _ = phoenix
    agent = Agent(envs, shared_trunk=True)
    assert agent.critic_trunk is agent.actor_trunk
    assert sum(p.numel() for p in agent.parameters()) < sum(p.numel() for p in Agent(envs).parameters())


def test_capacity_loss_on_a_tiny_budget(phoenix):
    envs, agent, observations = phoenix
    args = type("Args", (), {"learning_rate": 2.5e-4, "minibatch_size": 8, "max_grad_norm": 0.5})
    torch.manual_seed(2)
    other = Agent(envs)
    fitted = capacity_loss(other, agent, observations, args)
    assert set(fitted) == {"capacity/actor_loss", "capacity/critic_loss"}
    assert all(np.isfinite(v) and v > 0 for v in fitted.values())
    itself = capacity_loss(agent, agent, observations, args)  # a network already equal to its target
    assert itself["capacity/actor_loss"] < 1e-6 and itself["capacity/critic_loss"] < 1e-6


def test_end_to_end_run_logs_tags_and_saves_model(tmp_path):
    result = run_script(
        "ppo_pfo_atari.py",
        *("--total-timesteps", 1536, "--num-envs", 2, "--num-steps", 128, "--epochs", 2),
        *("--pfo-all-layers", "--pfo-coef", 10, "--capacity-every", 2, "--capacity-steps", 16, "--save-model"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs" / "ALE").iterdir()
    scalars = read_scalars(run_dir)
    expected = {  # no Phoenix game ends in 256 agent steps without life-loss signals: no episodic_return here
        "charts/SPS",
        "losses/policy_loss",
        "losses/clipfrac",
        "pfo/loss",
        "capacity/actor_loss",
        "capacity/critic_loss",
    }
    for network in ("actor", "critic"):
        for metric in ("effective_rank", "approx_rank", "srank", "feature_rank", "pytorch_rank", "dead_units"):
            expected.add(f"repr/{network}_{metric}")
        expected |= {f"repr/{network}_feature_norm", f"repr/{network}_preactivation_norm"}
    assert not expected - set(scalars), expected - set(scalars)
    assert len(scalars["charts/SPS"]) == 2  # 1536 frames / (2 envs x 128 steps x frame skip 3)
    assert len(scalars["capacity/actor_loss"]) == 1  # iterations 1, 3, ...
    assert all(v > 0 for v in scalars["pfo/loss"])
    state = torch.load(run_dir / "ppo_pfo_atari.cleanrl_model")
    assert "actor_trunk.0.weight" in state and "critic_trunk.0.weight" in state


@pytest.mark.parametrize(
    "args,message",
    [
        (["--env-id", "ALE/NoSuchGame-v5"], "unknown --env-id"),
        (["--env-id", "PhoenixNoFrameskip-v4"], "use ALE/Phoenix-v5"),
        (["--env-id", "CartPole-v1"], "not an Atari game"),
        (["--total-timesteps", "1000"], "below one batch"),
        (["--pfo-coef", "-1"], "non-negative"),
        (["--frame-skip", "0"], "--frame-skip must be at least 1"),
        (["--num-minibatches", "0"], "--num-minibatches must be at least 1"),
    ],
)
def test_bad_input_stops_with_one_clear_line(tmp_path, args, message):
    result = run_script("ppo_pfo_atari.py", *args, cwd=tmp_path)
    assert_stops_with_one_line(result, message, tmp_path)
