"""ppo_pfo_atari.py: the PFO loss, the pre-activations it covers, the authors' PPO settings (initialisation, value
loss, per-network clipping, frame skip without pooling, frames on the x axis, the excess ratio and the metrics of the
final policy), an end-to-end run with capacity loss, Ctrl-C and divergence, bad input. capacity_loss: test_metrics.py."""

import os
import re
import signal
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
import tyro
from conftest import ROOT, assert_stops_with_one_line, read_scalars, run_script

from metrics_common import excess_ratio
from ppo_pfo_atari import (
    PAPER_ENV,
    Agent,
    Args,
    actor_after_update,
    actor_and_critic,
    check_args,
    collect_capacity_data,
    forward_with_preactivations,
    make_env,
    pfo_features,
    pfo_loss,
)

SCRIPT = "ppo_pfo_atari.py"


@pytest.fixture(scope="module")
def phoenix():
    envs = make_env("ALE/Phoenix-v5", 2, **PAPER_ENV, frameskip=3)
    torch.manual_seed(0)
    agent = Agent(envs)
    observations = collect_capacity_data(agent, "ALE/Phoenix-v5", 32, 0, "cpu", **PAPER_ENV, frameskip=3)  # 32 frame stacks
    yield envs, agent, observations
    envs.close()


@pytest.mark.parametrize("all_layers", [False, True])
def test_pfo_is_zero_at_the_start_of_an_update_and_grows_as_the_actor_moves(phoenix, all_layers):
    envs, _, observations = phoenix
    torch.manual_seed(1)
    agent = Agent(envs)
    with torch.no_grad():  # what the rollout stores: the collecting policy's pre-activations
        agent.get_action_and_value(observations)
        old = pfo_features(agent.preactivations[0], all_layers)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        _, logprob, _, _ = agent.get_action_and_value(observations)
        loss = pfo_loss(pfo_features(agent.preactivations[0], all_layers), old)
        losses.append(loss.item())
        optimizer.zero_grad()
        (-logprob.mean()).backward()  # move the actor with a policy-gradient-like loss only
        optimizer.step()
    # first minibatch of an update: the collecting policy itself, so zero up to rounding (with gradients on, a CPU's
    # kernels may take another path than under no_grad)
    assert losses[0] < 1e-10
    assert 0 < losses[1] < losses[2]


def test_pfo_reduction_is_mean_over_units_then_batch():
    new, old = torch.zeros(2, 4), torch.zeros(2, 4)
    new[0] = 2.0  # sample 0: squared error 4 on each unit, sample 1: none
    assert pfo_loss(new, old).item() == pytest.approx(2.0)


def test_all_layers_covers_every_preactivation(phoenix):
    _, agent, observations = phoenix
    _, preactivations = forward_with_preactivations(agent.network, observations / 255.0)
    relus = sum(isinstance(layer, torch.nn.ReLU) for layer in agent.network)
    assert len(preactivations) == relus == 4
    widths = [p.shape[1] for p in preactivations]
    assert widths == [32 * 20 * 20, 64 * 9 * 9, 64 * 7 * 7, 512]
    assert pfo_features(preactivations, True).shape[1] == sum(widths)
    assert torch.equal(pfo_features(preactivations, False), preactivations[-1])
    # the first conv's pre-activations are its raw outputs, before the ReLU can zero them
    first_conv = agent.network[0](observations / 255.0).flatten(1)
    assert torch.equal(preactivations[0], first_conv) and (first_conv < 0).any()


def test_the_rollout_keeps_what_pfo_and_the_metrics_need(phoenix):
    _, agent, observations = phoenix
    with torch.no_grad():
        agent.get_action_and_value(observations)
    actor, critic = agent.preactivations
    assert len(actor) == 4 and critic.shape == (32, 512)
    with torch.no_grad():  # the critic's penultimate pre-activations, from its own trunk
        torch.testing.assert_close(critic, agent.critic_network[:-1](observations / 255.0))


def test_end_to_end_run_logs_tags_and_saves_model(tmp_path):
    result = run_script(
        SCRIPT,
        *("--total-timesteps", 1536, "--num-envs", 2, "--num-steps", 128, "--epochs", 2),
        *("--pfo-all-layers", "--pfo-coef", 10, "--capacity-every", 2, "--capacity-steps", 64, "--save-model"),
        *("--eval-episodes", 1),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    expected = {  # no Phoenix game ends in 256 agent steps without life-loss signals: no episodic_return here
        "charts/SPS",
        "losses/policy_loss",
        "losses/clipfrac",
        "pfo/loss",
        "capacity/actor_loss",
        "capacity/critic_loss",
        "capacity/actor_loss_after_fit",
        "capacity/critic_loss_after_fit",
    }
    metrics = ("effective_rank", "approx_rank", "srank", "feature_rank", "pytorch_rank", "dead_units")
    metrics += ("feature_norm", "preactivation_norm")
    for prefix in ("repr/actor", "repr/critic", "repr_after/actor"):  # the rollout's, and the actor's after the epochs
        expected |= {f"{prefix}_{metric}" for metric in metrics}
    assert not expected - set(scalars), expected - set(scalars)
    # after a training iteration the updated actor's features are not the rollout's
    before, after = scalars["repr/actor_preactivation_norm"], scalars["repr_after/actor_preactivation_norm"]
    assert len(before) == len(after) == 2 and all(b != a for b, a in zip(before, after))
    assert len(scalars["charts/SPS"]) == 2  # 1536 frames / (2 envs x 128 steps x frame skip 3)
    # the x axis counts frames, as the authors log: 2 envs x 128 steps x 3 frames per iteration
    assert sorted(read_scalars(run_dir, with_steps=True)["charts/SPS"]) == [768, 1536]
    assert len(scalars["capacity/actor_loss"]) == 1  # iterations 1, 3, ...
    assert all(v > 0 for v in scalars["pfo/loss"])
    state = torch.load(run_dir / "ppo_pfo_atari.cleanrl_model")
    assert "network.0.weight" in state and "critic_network.0.weight" in state
    assert not torch.equal(state["network.0.weight"], state["critic_network.0.weight"])
    assert len(scalars["eval/episodic_return"]) == 1  # the reloaded model played one full game


BAD_INPUT = [
    (["--env-id", "ALE/NoSuchGame-v5"], "unknown --env-id"),
    (["--env-id", "PhoenixNoFrameskip-v4"], "use ALE/Phoenix-v5"),
    (["--env-id", "CartPole-v1"], "not an Atari game"),
    (["--total-timesteps", "1000"], "below one batch"),
    (["--pfo-coef", "-1"], "--pfo-coef must be finite and non-negative, got -1"),
    (["--pfo-coef", "nan"], "--pfo-coef must be finite and non-negative, got nan"),
    (["--clip-coef", "-0.1"], "--clip-coef must be finite and positive"),
    (["--gamma", "1.5"], "--gamma must be finite and in [0, 1]"),
    (["--ent-coef", "-1"], "--ent-coef must be finite and non-negative"),
    (["--repeat-action-probability", "1.5"], "--repeat-action-probability must be finite and in [0, 1]"),
    (["--max-grad-norm", "inf"], "--max-grad-norm must be finite and positive"),
    (["--adam-eps", "0"], "--adam-eps must be finite and positive"),
    (["--learning-rate", "0"], "--learning-rate must be finite and positive"),
    (["--target-kl", "-1"], "--target-kl must be finite and positive"),
    (["--seed", "-1"], "--seed must be in [0, 2**32)"),
    (["--frame-skip", "0"], "--frame-skip must be finite and positive"),
    (["--num-minibatches", "0"], "--num-minibatches must be finite and positive"),
    (["--num-minibatches", "3"], "--num-minibatches 3 does not divide the batch 1024"),
    (["--num-envs", "2", "--num-steps", "5", "--num-minibatches", "4"], "does not divide the batch 10"),
    (["--batch-size", "64"], "are computed"),
    (["--num-iterations", "3"], "are computed"),
    (["--capacity-every", "-1"], "--capacity-every must be finite and non-negative"),
    (["--capacity-every", "1", "--capacity-steps", "100"], "--capacity-steps 100 is below one minibatch"),
]


@pytest.mark.parametrize("args,message", BAD_INPUT)
def test_bad_input_is_refused_before_any_env_is_made(args, message):
    with pytest.raises(SystemExit) as stopped:
        check_args(tyro.cli(Args, args=args))
    assert str(stopped.value.code).startswith("error: ") and message in str(stopped.value.code)


@pytest.mark.parametrize("args,message", [BAD_INPUT[i] for i in (0, 1, 2, 3, 5, 7, 17, 19)])
def test_bad_input_stops_with_one_clear_line(tmp_path, args, message):
    result = run_script(SCRIPT, *args, cwd=tmp_path)
    assert_stops_with_one_line(result, message, tmp_path)


def test_sigint_finishes_the_iteration_and_keeps_logs_and_model(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    args = ["--num-envs", "2", "--num-steps", "32", "--num-minibatches", "2", "--epochs", "1"]
    args += ["--total-timesteps", str(2 * 32 * 3 * 1000), "--save-model"]  # 1000 iterations: far more than it runs
    command = [sys.executable, str(ROOT / SCRIPT), *args]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in process.stdout:  # the first iteration has ended
        if line.startswith(b"SPS:"):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1, stderr
    assert re.fullmatch(r"error: stopped by SIGINT at global_step=\d+; logs in runs/ALE-Phoenix-v5__.*", lines[-1])
    assert "SIGINT: stopping after this iteration" in stderr.decode() and "Traceback" not in stderr.decode()
    (run_dir,) = (tmp_path / "runs").iterdir()
    steps = sorted(read_scalars(run_dir, with_steps=True)["charts/SPS"])
    assert 1 <= len(steps) < 1000 and steps == [192 * (i + 1) for i in range(len(steps))]
    assert int(lines[-1].split("global_step=")[1].split(";")[0]) == steps[-1]
    state = torch.load(run_dir / "ppo_pfo_atari.cleanrl_model")
    assert all(torch.isfinite(value).all() for value in state.values())


def test_divergence_stops_with_one_line_after_saving_logs_and_the_last_finite_model(tmp_path):
    args = ["--num-envs", "2", "--num-steps", "32", "--num-minibatches", "2", "--epochs", "1", "--no-cuda"]
    result = run_script(SCRIPT, *args, "--total-timesteps", 2 * 32 * 3 * 4, "--learning-rate", "1e30", "--save-model",
                        cwd=tmp_path)  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: training diverged at iteration 1: ") and "not finite" in lines[0]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(read_scalars(run_dir)["charts/SPS"]) == 1
    state = torch.load(run_dir / "ppo_pfo_atari.cleanrl_model")
    assert all(torch.isfinite(value).all() for value in state.values())


# --- --pfo-coef 0 is the authors' PPO ----------------------------------------------------------------------------


def help_defaults():
    """Each flag of `--help` with its default, read from the help text as a user sees it."""
    result = run_script(SCRIPT, "--help", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    entries, current = [], ""
    for line in result.stdout.splitlines():
        text = line.strip("│╭╮╰╯─ ")
        if text.startswith("-"):
            entries.append(current)
            current = text
        else:
            current += " " + text
    entries.append(current)
    defaults = {}
    for entry in entries:
        entry = " ".join(entry.split())
        match = re.search(r"\(default: ([^)]*)\)$", entry)
        if entry.startswith("--") and match:
            defaults[entry.split()[0].rstrip(",")] = (match[1], entry)
    return defaults


def test_help_shows_the_authors_ppo_settings():
    defaults = help_defaults()
    expected = {  # the authors' CleanRL replication (getting-to-modern-setting.sh) and Table 2
        "--layer-init": "False",
        "--adam-eps": "1e-08",
        "--vf-coef": "1.0",
        "--clip-vloss": "False",
        "--anneal-lr": "False",
        "--max-grad-norm": "0.5",
        "--frame-skip": "3",
        "--repeat-action-probability": "0.25",
        "--total-timesteps": "100000000",
        "--learning-rate": "0.00025",
        "--clip-coef": "0.1",
        "--ent-coef": "0.01",
        "--num-envs": "8",
        "--num-steps": "128",
        "--num-minibatches": "4",
    }
    assert {flag: defaults[flag][0] for flag in expected} == expected
    assert "per network" in defaults["--max-grad-norm"][1]
    assert "without max-pooling" in defaults["--frame-skip"][1]


def test_value_loss_is_half_the_squared_error_in_total():
    # CleanRL's value loss already carries 1/2; with --vf-coef 1 the total is 0.5 * MSE, the authors' value
    # coefficient 0.5 on an L2 loss without 1/2 (gym-atari-ppo.yaml, losses.py ValueLoss)
    source = (ROOT / SCRIPT).read_text()
    assert source.count("v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()") == 1
    assert "v_loss * args.vf_coef" in source
    assert help_defaults()["--vf-coef"][0] == "1.0"


def test_default_initialisation_is_pytorchs(phoenix):
    envs, _, _ = phoenix
    torch.manual_seed(3)
    default, orthogonal = Agent(envs), Agent(envs, orthogonal_init=True)
    bound = 1 / np.sqrt(512)  # nn.Linear's default: kaiming_uniform(a=sqrt(5)), U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert default.actor.weight.abs().max() <= bound and default.actor.weight.abs().max() > 0.9 * bound
    assert (default.critic.bias != 0).all()
    assert (orthogonal.critic.bias == 0).all()
    for agent in (default, orthogonal):  # two networks, drawn apart
        assert not torch.equal(agent.network[0].weight, agent.critic_network[0].weight)
    conv = orthogonal.critic_network[0].weight.flatten(1)  # upstream's orthogonal draw (gain sqrt(2)), redrawn
    torch.testing.assert_close(conv @ conv.T, 2 * torch.eye(32), atol=1e-4, rtol=0)
    assert torch.allclose(orthogonal.actor.weight.norm(dim=1), torch.full((envs.single_action_space.n,), 0.01))


def grad_norm_of(parameters):
    return torch.cat([p.grad.flatten() for p in parameters]).double().norm().item()


def test_gradients_are_clipped_per_network(phoenix):
    envs, _, _ = phoenix
    agent = Agent(envs)
    actor, critic = actor_and_critic(agent)
    names = {id(p): name for name, p in agent.named_parameters()}
    assert {names[id(p)].split(".")[0] for p in actor.parameters()} == {"network", "actor"}
    assert {names[id(p)].split(".")[0] for p in critic.parameters()} == {"critic_network", "critic"}
    assert len([*actor.parameters(), *critic.parameters()]) == len([*agent.parameters()])
    for name, p in agent.named_parameters():  # a large actor gradient and a tiny critic gradient
        p.grad = torch.full_like(p, 1e-5 if name.startswith("critic") else 1.0)
    for network in actor_and_critic(agent):  # as the training loop clips
        torch.nn.utils.clip_grad_norm_(network.parameters(), 0.5)
    assert grad_norm_of(actor.parameters()) == pytest.approx(0.5, rel=1e-4)
    assert all((p.grad == 1e-5).all() for p in critic.parameters())  # not shrunk by the actor's norm, as one clip would
    assert "for network in actor_and_critic(agent):" in (ROOT / SCRIPT).read_text()


def test_frame_skip_takes_the_last_frame_as_the_authors_env():
    # the authors pass frameskip=3 to gym.make("ALE/<Game>-v5"): the ALE repeats the action, no max-pooling
    rgb = dict(grayscale=False, img_height=210, img_width=160, stack_num=1)
    envs = make_env("ALE/Phoenix-v5", 1, **PAPER_ENV, frameskip=3, repeat_action_probability=0.0, **rgb)
    pooled = make_env(
        "ALE/Phoenix-v5", 1, **(PAPER_ENV | dict(maxpool=True)), frameskip=3, repeat_action_probability=0.0, **rgb
    )
    authors = gym.make("ALE/Phoenix-v5", frameskip=3, repeat_action_probability=0.0)
    envs.reset(seed=0), pooled.reset(seed=0), authors.reset(seed=0)
    rng = np.random.default_rng(0)
    same, same_pooled = 0, 0
    for _ in range(30):
        action = int(rng.integers(authors.action_space.n))
        frame = authors.step(action)[0]
        same += np.array_equal(envs.step(np.array([action]))[0][0, -1], frame)
        same_pooled += np.array_equal(pooled.step(np.array([action]))[0][0, -1], frame)
    envs.close(), pooled.close(), authors.close()
    assert same == 30 and same_pooled < 30


def test_excess_ratio_of_the_final_policy_on_a_hand_made_batch():
    old = torch.log(torch.tensor([0.5, 0.2, 0.4, 0.1, 0.3, 0.25]))
    ratios = torch.tensor([1.5, 2.5, 1.0, 0.5, 0.7, 0.95])  # above 1.1: 1.5, 2.5; below 0.9: 0.5, 0.7
    new = old + torch.log(ratios)
    assert excess_ratio((new - old).exp(), 0.1) == pytest.approx(2.0 / 0.6, rel=1e-5)  # as the script computes it
    # a side left empty: no value, as the authors' logs (the notebook drops steps missing either mean)
    assert excess_ratio((new[:3] - old[:3]).exp(), 0.1) is None
    assert excess_ratio((new[3:5] - old[3:5]).exp(), 0.1) is None
    assert excess_ratio((old - old).exp(), 0.1) is None


def test_the_actor_after_the_update_matches_the_policy_in_any_chunking(phoenix):
    _, agent, observations = phoenix
    actions = torch.arange(len(observations)) % 8
    with torch.no_grad():
        expected = agent.get_action_and_value(observations, actions)[1]
    for chunk in (5, 32):
        logits, preactivations = actor_after_update(agent, observations, chunk)
        torch.testing.assert_close(torch.distributions.Categorical(logits=logits).log_prob(actions), expected)
        torch.testing.assert_close(preactivations, agent.preactivations[0][-1])
