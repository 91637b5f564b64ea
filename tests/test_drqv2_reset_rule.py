"""drqv2_reset_rule.py: the reset rule on synthetic gradient-norm streams, the replay buffer's frame stacks and
n-step returns against hand-computed values, DrQ-v2's loader sampling (one worker's episodes a batch, finished
episodes only), the per-task settings, the augmentation, a reset's re-initialisation, the rule firing on an actor
with a dead mlp1 (and not on a healthy one), end-to-end runs with their tags and --save-model, an offline W&B run
with its videos and progress lines, bad input, Ctrl-C and a diverging run."""

import inspect
import math
import os
import re
import signal
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from conftest import ROOT, assert_stops_with_one_line, read_scalars, run_script

import drqv2_reset_rule as drq
from drqv2_reset_rule import LoaderReplay, ReplayBuffer, ResetRule

# --- the rule on synthetic streams (one gradient norm per actor update, every 4 frames) ----------


def feed(rule, norms, frame0=4, every=4):
    """Feed norms at frames frame0, frame0 + every, ...; -> the frames at which the rule asked for a reset."""
    return [frame0 + i * every for i, g in enumerate(norms) if rule.update(g, frame0 + i * every)]


def test_rule_resets_at_each_window_end_without_an_escape():
    rule = ResetRule(window=100, threshold=1e-3, consecutive=5)
    assert feed(rule, [0.0] * 100) == [100, 200, 300, 400]
    assert rule.resets == 4 and not rule.escaped


def test_rule_does_not_reset_after_five_consecutive_norms_above_threshold():
    rule = ResetRule(window=100, threshold=1e-3, consecutive=5)
    stream = [0.0] * 5 + [2e-3] * 5 + [0.0] * 200  # the 5th value above comes at frame 40
    assert feed(rule, stream) == []
    assert rule.escaped and rule.escape_frame == 40 and rule.resets == 0


def test_rule_never_resets_after_an_escape_even_in_a_later_window():
    rule = ResetRule(window=100, threshold=1e-3, consecutive=5)
    stream = [0.0] * 30 + [1.0] * 30 + [0.0] * 300  # no escape in window 1, escape in window 2
    assert feed(rule, stream) == [100]
    assert rule.escape_frame == 140 and rule.resets == 1


@pytest.mark.parametrize("pattern", [[1.0] * 4 + [0.0], [1.0] * 4 + [1e-3]])  # 1e-3 itself does not exceed
def test_rule_four_consecutive_are_not_enough(pattern):
    rule = ResetRule(window=100, threshold=1e-3, consecutive=5)
    assert feed(rule, pattern * 30) == [100, 200, 300, 400, 500, 600]
    assert not rule.escaped


def test_rule_escape_on_the_windows_last_update_wins_and_runs_restart_at_a_reset():
    rule = ResetRule(window=20, threshold=1e-3, consecutive=5)
    assert feed(rule, [1.0] * 5) == [] and rule.escape_frame == 20  # frames 4..20: the 5th is at the window end
    rule = ResetRule(window=20, threshold=1e-3, consecutive=5)
    assert feed(rule, [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == [20]  # 3 above before the reset, 2 after: no escape
    assert not rule.escaped


# --- replay buffer ---------------------------------------------------------------------------------


def fill(rb, episodes):
    """Episodes of (length) steps; the frame with index i of episode e has value 10 * e + i, reward i + 1
    on arrival (so rewards of episode e are 1..length), action [e, i]."""
    for e, length in enumerate(episodes):
        rb.add(np.full((3, 2, 2), 10 * e, np.uint8), first=True)
        for i in range(1, length + 1):
            rb.add(np.full((3, 2, 2), 10 * e + i, np.uint8), np.array([e, i], np.float32), float(i), 1.0)


def stack_values(stack):
    return stack[:, ::3, 0, 0].tolist()  # the value of each frame in each (3 frames x 3 channels) stack


def test_replay_frame_stacks_repeat_the_first_frame_at_episode_starts():
    rb = ReplayBuffer(64, (3, 2, 2), 2, frame_stack=3, nstep=1, discount=0.5)
    fill(rb, [4, 5])  # slots 0-4: episode 0 (frames 0..4), slots 5-10: episode 1 (frames 10..15)
    obs, action, reward, discount, next_obs = rb.sample(0, t=[0, 1, 2, 3, 5, 6, 9])
    assert stack_values(obs) == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [10, 10, 10], [10, 10, 11], [12, 13, 14]]
    assert stack_values(next_obs) == [
        [0, 0, 1],
        [0, 1, 2],
        [1, 2, 3],
        [2, 3, 4],
        [10, 10, 11],
        [10, 11, 12],
        [13, 14, 15],
    ]
    assert action.tolist() == [[0, 1], [0, 2], [0, 3], [0, 4], [1, 1], [1, 2], [1, 5]]
    np.testing.assert_allclose(reward[:, 0], [1, 2, 3, 4, 1, 2, 5])
    np.testing.assert_allclose(discount[:, 0], 0.5)
    assert rb.valid([0, 3, 4, 5, 9, 10]).tolist() == [True, True, False, True, True, False]  # 4, 10: last frames


def test_replay_nstep_returns_stop_at_episode_ends():
    rb = ReplayBuffer(64, (3, 2, 2), 2, frame_stack=3, nstep=3, discount=0.5)
    fill(rb, [4, 5])
    # episode 0 has rewards 1, 2, 3, 4 after frames 0..3: starts 0 and 1 only (2, 3 would cross the end)
    assert rb.valid(np.arange(11)).tolist() == [True, True, False, False, False, True, True, True] + [False] * 3
    obs, action, reward, discount, next_obs = rb.sample(0, t=[0, 1, 5, 7])
    np.testing.assert_allclose(reward[:, 0], [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3 + 0.25 * 4, 2.75, 3 + 2 + 1.25])
    np.testing.assert_allclose(discount[:, 0], 0.125)
    assert stack_values(next_obs) == [[1, 2, 3], [2, 3, 4], [11, 12, 13], [13, 14, 15]]
    assert action.tolist() == [[0, 1], [0, 2], [1, 1], [1, 3]]
    # random samples: every obs / next_obs pair lies in one episode, n steps apart
    np.random.seed(0)
    obs, _, reward, _, next_obs = rb.sample(500)
    assert (next_obs[:, -3] - obs[:, -3] == 3).all() and (next_obs[:, -3] // 10 == obs[:, -3] // 10).all()


def test_replay_env_discount_and_ring_overwrite():
    rb = ReplayBuffer(64, (3, 2, 2), 1, frame_stack=3, nstep=2, discount=0.9)
    rb.add(np.zeros((3, 2, 2), np.uint8), first=True)
    rb.add(np.ones((3, 2, 2), np.uint8), np.zeros(1), 1.0, 0.0)  # a terminal step: env discount 0
    rb.add(np.ones((3, 2, 2), np.uint8), np.zeros(1), 5.0, 1.0)
    _, _, reward, discount, _ = rb.sample(0, t=[0])
    np.testing.assert_allclose([reward[0, 0], discount[0, 0]], [1.0, 0.0])  # nothing after the terminal step counts

    rb = ReplayBuffer(8, (3, 2, 2), 2, frame_stack=3, nstep=1, discount=0.5)
    fill(rb, [9, 9])  # 20 frames through 8 slots: only global indices 12..19 are stored
    assert len(rb) == 8 and not rb.valid([11]).any()
    assert rb.valid([12, 13, 14]).tolist() == [False, False, True]  # 13 needs frames 11 and 12
    np.random.seed(1)
    obs, *_ = rb.sample(200)
    assert (obs[:, ::3, 0, 0].long().diff(dim=1) <= 1).all() and obs.min() >= 12


def test_replay_stacks_are_tensors_on_the_buffers_device_and_the_rest_numpy():
    rb = ReplayBuffer(64, (3, 2, 2), 2, frame_stack=3, nstep=1, discount=0.5, device="cpu")
    fill(rb, [4])
    obs, action, reward, discount, next_obs = rb.sample(0, t=[0, 2])
    assert obs.dtype == next_obs.dtype == torch.uint8 and obs.device == next_obs.device == rb.frames.device
    assert obs.shape == next_obs.shape == (2, 9, 2, 2) and all(isinstance(x, np.ndarray) for x in (action, reward, discount))


def test_replay_device_is_the_gpu_only_when_one_is_in_use_with_room(monkeypatch, capsys):
    args = args_with(buffer_device="cuda", replay_buffer_size=100_000)  # 2.1 GB of frames
    assert drq.replay_device(args_with(), torch.device("cuda"), 100_000) == torch.device("cpu")  # the default
    assert drq.replay_device(args, torch.device("cpu"), 100_000) == torch.device("cpu")
    assert "note: no GPU in use, the replay buffer stays on the host" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10e9, 80e9))
    assert drq.replay_device(args, torch.device("cuda"), 100_000) == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4e9, 80e9))
    with pytest.raises(SystemExit, match=r"^error: --buffer-device cuda: --replay-buffer-size 100000 takes 2\.1 GB"):
        drq.replay_device(args, torch.device("cuda"), 100_000)


# --- DrQ-v2's loader sampling ------------------------------------------------------------------------


def fill_episodes(rb, finished, length, running=0):
    """`finished` whole episodes of `length` steps, then a running one of `running` steps; the action that leads to
    step i of episode e is [e, i], so a sampled transition's action names its episode."""
    for e in range(finished + (running > 0)):
        rb.add(np.full((3, 2, 2), e, np.uint8), first=True)
        steps = length if e < finished else running
        for i in range(1, steps + 1):
            rb.add(np.full((3, 2, 2), e, np.uint8), np.array([e, i], np.float32), float(i), 1.0, last=i == length)


def loader_buffer(seed=0, worker_capacity=10_000, fetch_every=1000, nstep=3):
    return ReplayBuffer(
        1000, (3, 2, 2), 2, nstep=nstep, discount=0.5, loader=LoaderReplay(worker_capacity, 4, fetch_every, seed)
    )


def test_loader_with_four_finished_episodes_fills_each_batch_from_one_episode_never_the_running_one():
    rb = loader_buffer()
    fill_episodes(rb, finished=4, length=8, running=6)
    episodes = [set(rb.sample(32)[1][:, 0].tolist()) for _ in range(8)]
    assert episodes == [{0.0}, {1.0}, {2.0}, {3.0}] * 2  # workers 0..3 in turn, each with its one episode
    obs, action, _, _, next_obs = rb.sample(2000)
    assert (obs[:, -3, 0, 0] == torch.as_tensor(action[:, 0])).all() and (obs[:, -3] == next_obs[:, -3]).all()


def test_loader_batches_each_come_from_one_share_and_cover_the_episodes_n_step_windows():
    rb = loader_buffer()
    fill_episodes(rb, finished=12, length=8, running=3)
    for batch in range(8):
        _, action, *_ = rb.sample(256)
        assert set((action[:, 0] % 4).tolist()) == {batch % 4}  # episodes whose number is the worker's modulo 4
        assert set(action[:, 0].tolist()) == {batch % 4, batch % 4 + 4, batch % 4 + 8}  # uniform over the share
        # DrQ-v2's idx in [1, length - nstep + 1]: the action of a window's first step is 1..6 of 8 steps, n = 3
        assert set(action[:, 1].tolist()) == set(range(1, 7))


def test_loader_workers_read_new_episodes_every_fetch_every_samples_newest_first_within_their_capacity():
    loader = LoaderReplay(worker_capacity=16, num_workers=4, fetch_every=10, seed=0)  # two 8-step episodes a worker
    for number in range(8):
        loader.add_episode(start=100 * number, length=8)
    assert all(set(loader.draw(4, nstep=1) // 100) <= {w, w + 4} for w in range(4))  # each worker's first batch
    for number in range(8, 12):  # the third episode of each worker: it evicts the worker's oldest at the next fetch
        loader.add_episode(start=100 * number, length=8)
    worker0 = [loader.draw(4, nstep=1) // 100 for _ in range(12)][0::4]  # worker 0's 2nd, 3rd and 4th batches
    assert set(worker0[0]) <= {0, 4} and set(worker0[1][:2]) <= {0, 4}  # its samples 4..9: before the fetch
    assert set(worker0[1][2:]) | set(worker0[2]) <= {4, 8}  # from its sample 10 on: episode 0 evicted
    fresh = LoaderReplay(worker_capacity=16, num_workers=4, fetch_every=10, seed=0)
    for number in range(12):
        fresh.add_episode(start=100 * number, length=8)
    assert set(fresh.draw(10, nstep=1) // 100) == {4, 8}  # worker 0's first fetch: the newest that fit


def test_loader_batches_are_fixed_by_the_seed():
    def batches(seed):
        rb = loader_buffer(seed)
        fill_episodes(rb, finished=8, length=8, running=2)
        return np.concatenate([rb.sample(16)[1] for _ in range(6)])

    np.testing.assert_array_equal(batches(3), batches(3))
    assert not np.array_equal(batches(3), batches(4))


def test_loader_forgets_everything_at_a_clear_and_restarts_with_worker_0():
    rb = loader_buffer()
    fill_episodes(rb, finished=4, length=8)
    rb.sample(4)
    rb.clear()
    fill_episodes(rb, finished=4, length=8, running=1)
    assert rb.sample(8)[1][:, 0].tolist() == [0.0] * 8 and rb.loader.num_episodes == 4


def test_uniform_replay_samples_every_stored_transition_the_running_episodes_too():
    rb = ReplayBuffer(1000, (3, 2, 2), 2, nstep=3, discount=0.5)
    fill_episodes(rb, finished=4, length=8, running=6)
    np.random.seed(0)
    _, action, *_ = rb.sample(2000)
    assert set(action[:, 0].tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}


# --- networks, augmentation, a reset ---------------------------------------------------------------


def test_random_shift_is_an_exact_integer_crop_of_the_padded_image():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 84, 84)
    out = drq.RandomShiftsAug(pad=4)(x)
    padded = torch.nn.functional.pad(x, (4,) * 4, mode="replicate")
    for i in range(6):
        crops = [padded[i, :, dy : dy + 84, dx : dx + 84] for dy in range(9) for dx in range(9)]
        assert any(torch.allclose(out[i], crop, atol=1e-5) for crop in crops)


def test_sample_action_is_clipped_with_a_straight_through_gradient():
    mu = torch.tensor([[0.99, -0.2, 0.0]], requires_grad=True)
    a = drq.sample_action(mu, 10.0, clip=0.3)
    assert (a.abs() < 1).all() and ((a - mu).abs() <= 0.3 + 1e-6).all()
    a.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))


ARGS = types.SimpleNamespace(stddev_clip=0.3, critic_target_tau=0.01)


def random_batch(n=4, action_dim=1):
    frames = torch.randint(0, 256, (n, 9, 84, 84), dtype=torch.uint8)
    return frames, torch.rand(n, action_dim) * 2 - 1, torch.rand(n, 1), torch.full((n, 1), 0.99), frames.flip(0)


@pytest.fixture
def one_thread():
    """In-process updates on 2 shared cores run several times faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_agent(seed=0):
    torch.manual_seed(seed)
    agent = drq.Agent((9, 84, 84), 1, feature_dim=8, hidden_dim=32)
    return agent, drq.make_optimizers(agent, 1e-3)


def test_a_reset_reinitialises_weights_optimizers_targets_and_buffer(one_thread):
    agent, optimizers = small_agent()
    aug = drq.RandomShiftsAug()
    for _ in range(2):
        drq.update(agent, optimizers, aug, random_batch(), 0.5, ARGS)
    trained = {k: v.clone() for k, v in agent.state_dict().items()}
    assert all(len(opt.state) > 0 for opt in optimizers.values())
    rb = ReplayBuffer(16, (3, 2, 2), 1)
    rb.add(np.zeros((3, 2, 2), np.uint8), first=True)

    new = drq.reset_training(agent, optimizers, rb, lr=1e-3)
    assert all(len(opt.state) == 0 for opt in new.values())  # no Adam moments
    assert {id(p) for opt in new.values() for g in opt.param_groups for p in g["params"]} == {
        id(p) for name, p in agent.named_parameters() if not name.startswith("critic_target.")
    }
    state = agent.state_dict()
    for name, value in state.items():
        if name.endswith(("convnet.0.weight", "trunk.0.weight", "policy.2.weight", "Q1.0.weight")):
            assert not torch.allclose(value, trained[name]), name
        if name.endswith("bias"):
            assert torch.count_nonzero(value) == 0, name
        if name.endswith("trunk.1.weight"):  # LayerNorm
            assert torch.equal(value, torch.ones_like(value))
    w = agent.actor.trunk[0].weight  # orthogonal rows again
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), atol=1e-4, rtol=0)
    for name, p in agent.critic.state_dict().items():
        assert torch.equal(p, agent.critic_target.state_dict()[name])
    assert rb.count == 0 and all(p.grad is None for p in agent.parameters())
    rb.add(np.zeros((3, 2, 2), np.uint8), first=True)
    drq.reset_training(agent, new, rb, lr=1e-3, keep_buffer=True)  # --reset-keep-buffer
    assert rb.count == 1


def test_update_lerps_the_targets_and_returns_the_mlp1_norm_as_a_tensor(one_thread):
    agent, optimizers = small_agent()
    agent.critic_target.load_state_dict({k: v + 1.0 for k, v in agent.critic.state_dict().items()})
    before = {k: v.clone() for k, v in agent.critic_target.state_dict().items()}
    logs = drq.update(agent, optimizers, drq.RandomShiftsAug(), random_batch(), 0.5, ARGS)
    assert torch.is_tensor(logs["mlp1_grad_norm"])  # read (a host sync) only where the rule reads it
    assert logs["mlp1_grad_norm"].item() == pytest.approx(drq.grad_norm(agent.actor.policy[0]), rel=1e-5)
    critic = agent.critic.state_dict()
    for name, target in agent.critic_target.state_dict().items():  # target + tau * (critic - target), tau 0.01
        torch.testing.assert_close(target, before[name] + 0.01 * (critic[name] - before[name]))


def test_the_rule_resets_an_actor_with_a_dead_mlp1_and_then_sees_the_fresh_one_escape(one_thread):
    agent, optimizers = small_agent()
    drq.kill_mlp1(agent.actor)  # every ReLU input is -1, so mlp1 = 0 and no gradient reaches it
    aug, rb = drq.RandomShiftsAug(), ReplayBuffer(16, (3, 2, 2), 1)
    rule = ResetRule(window=24, threshold=1e-3, consecutive=5)
    norms, resets = [], []
    for frame in range(4, 76, 4):
        norm = float(drq.update(agent, optimizers, aug, random_batch(), 0.5, ARGS)["mlp1_grad_norm"])
        norms.append(norm)
        if rule.update(norm, frame):
            resets.append(frame)
            metrics = drq.collapse_metrics(agent, random_batch(8)[0])  # before the reset: collapsed
            optimizers = drq.reset_training(agent, optimizers, rb, lr=1e-3)
    # tolerances: one output for every image can still differ in the last bits between the batch's rows, as the
    # matrix kernels round rows differently on some CPUs (a std of 5e-10 on an AMD EPYC); counts are exact
    assert max(norms[:6]) < 1e-8 and resets == [24]
    assert metrics["collapse/mlp1_zero_fraction"] == 1.0 and metrics["collapse/action_std"] < 1e-6
    assert metrics["collapse/mlp1_dead_units"] == 32.0  # every unit of mlp1 (hidden 32)
    assert metrics["collapse/mlp1_numerical_rank"] == 0.0 and metrics["collapse/mlp1_grad_norm"] < 1e-8
    assert all(n > 1e-3 for n in norms[6:11]) and rule.escape_frame == 44  # 5 healthy updates after the reset
    healthy = drq.collapse_metrics(agent, random_batch(8)[0])
    assert healthy["collapse/action_std"] > 0 and healthy["collapse/mlp1_zero_fraction"] < 1.0
    assert healthy["collapse/mlp1_dead_units"] < 32
    assert all(np.isfinite(v) for v in healthy.values())


# --- end to end ------------------------------------------------------------------------------------

TINY = [
    "--env-id", "cartpole_swingup", "--fast-render", "--max-episode-frames", 100, "--num-train-frames", 400,
    "--num-seed-frames", 40, "--num-expl-steps", 10, "--eval-every-frames", 200, "--num-eval-episodes", 1,
    "--replay-buffer-size", 300, "--batch-size", 4, "--feature-dim", 8, "--hidden-dim", 32, "--no-cuda",
    "--replay", "uniform",  # updates before the first episode ends; the loader is run by its own test
]  # fmt: skip
TAGS = {
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/SPS",
    "charts/stddev",
    "losses/critic_loss",
    "losses/actor_loss",
    "losses/qf_values",
    "eval/episodic_return",
    "eval/episodic_length",
    "reset/count",
    "reset/mlp1_grad_norm",
    "collapse/action_std",
} | {
    f"collapse/{layer}_{metric}"
    for layer in ("mlp0", "mlp1", "mlp2")
    for metric in ("numerical_rank", "nonzero_correlation", "zero_fraction", "dead_units", "grad_norm")
}


def test_end_to_end_run_with_forced_resets_logs_tags_and_saves_model(tmp_path):
    # a threshold no norm reaches: never an escape, so a reset at the end of every 160-frame window
    result = run_script("drqv2_reset_rule.py", *TINY, "--reset-window", 160, "--reset-threshold", 1e9, "--save-model",
                        "--reset-check", "update", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    missing = (TAGS | {"reset/frame"}) - set(scalars)
    assert not missing, missing
    assert "reset/escape_frame" not in scalars
    # windows start at 0 and at each reset: resets at 160 and 320, then the final count
    assert scalars["reset/frame"] == [160, 320] and scalars["reset/count"] == [1, 2, 2]
    # resets cut episodes 2 and 4 short (100-frame episodes: 0-100, 100-160, 160-260, 260-320, 320-400)
    assert len(scalars["charts/episodic_return"]) == 2 and len(scalars["eval/episodic_return"]) == 2
    assert all(np.isfinite(v) for tag in TAGS for v in scalars[tag])
    state = torch.load(run_dir / "drqv2_reset_rule.cleanrl_model")
    assert state["actor.policy.0.weight"].shape == (32, 8) and state["encoder.convnet.0.weight"].shape == (32, 9, 3, 3)
    assert "global_frame=160, reset 1" in result.stdout


def test_end_to_end_default_loader_replay_and_the_eta_after_the_seed_frames(tmp_path):
    tiny = [
        "--env-id", "cartpole_swingup", "--fast-render", "--max-episode-frames", 20, "--num-train-frames", 160,
        "--num-seed-frames", 80, "--num-expl-steps", 10, "--eval-every-frames", 1000, "--num-eval-episodes", 2,
        "--batch-size", 4, "--feature-dim", 8, "--hidden-dim", 32, "--no-cuda", "--no-reset-rule",
    ]  # fmt: skip
    result = run_script("drqv2_reset_rule.py", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "evaluating the initial policy (2 episodes) ..." in result.stdout
    etas = re.findall(r"^SPS: \d+ \| step (\d+)/160 \| ETA (.*)$", result.stdout, re.M)
    assert [frame for frame, _ in etas] == [str(20 * i) for i in range(1, 9)]
    assert all(eta == "after the seed frames" for frame, eta in etas if int(frame) <= 80)  # 4 episodes, no update
    assert all(re.fullmatch(r"\dh\d\dm", eta) for frame, eta in etas if int(frame) > 80) and etas[-1][1] == "0h00m"
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert np.isfinite(read_scalars(run_dir)["losses/critic_loss"]).all()


def test_end_to_end_healthy_agent_escapes_and_is_never_reset(tmp_path):
    result = run_script(
        "drqv2_reset_rule.py", *TINY, "--reset-window", 160, "--reset-check", "update", "--capture-video", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr  # no warnings
    assert len(list((tmp_path / "videos").glob("*/eval_*.mp4"))) == 2  # the first episode of each evaluation
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    # updates every 4 frames from frame 40: five healthy gradient norms in a row by frame 56
    assert scalars["reset/escape_frame"] == [56] and scalars["reset/count"] == [0]
    assert "reset/frame" not in scalars and len(scalars["charts/episodic_return"]) == 4


def test_track_offline_logs_each_video_once_and_prints_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    tiny = [*TINY, "--num-train-frames", 200, "--eval-every-frames", 100, "--no-reset-rule", "--capture-video", "--track"]
    result = run_script("drqv2_reset_rule.py", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"logs: runs/cartpole_swingup__drqv2_reset_rule__1__\d+ \(tensorboard --logdir runs\)", lines[0])
    assert lines[1] == "evaluating the initial policy (1 episode) ..."  # before the minutes-long frame-0 evaluation
    assert re.search(r"^SPS: \d+ \| step 200/200 \| ETA 0h00m$", result.stdout, re.M)  # CleanRL's `SPS:` first
    videos = list((tmp_path / "videos").rglob("eval_*.mp4"))
    assert len(videos) == 2  # evaluations at frames 0 and 100
    assert len(list((tmp_path / "wandb").rglob("media/videos/*.mp4"))) == len(videos)  # each logged once


def test_end_to_end_dead_mlp1_start_is_reset_once_then_escapes(tmp_path):
    tiny = [*TINY, "--eval-every-frames", 100, "--reset-window", 160, "--dead-mlp1-start", "--reset-check", "update"]
    result = run_script("drqv2_reset_rule.py", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir, with_steps=True)
    assert list(scalars["reset/frame"]) == [160] and list(scalars["reset/count"].values()) == [1, 1]
    # updates from frame 40: the dead actor's mlp1 gradient is 0 and its action one constant (up to rounding)
    assert scalars["reset/mlp1_grad_norm"][40] < 1e-8
    assert scalars["collapse/action_std"][100] < 1e-6 and scalars["collapse/mlp1_zero_fraction"][100] == 1.0
    assert scalars["collapse/mlp1_dead_units"][100] == 32.0 and scalars["collapse/mlp1_dead_units"][300] < 32.0
    # the fresh agent: seed frames again from 162, updates from 202, five healthy norms in a row
    (escape,) = scalars["reset/escape_frame"].values()
    assert 202 <= escape <= 240
    assert scalars["collapse/action_std"][300] > 0.0 and scalars["collapse/mlp1_zero_fraction"][300] < 1.0


def test_end_to_end_the_rule_reads_the_norm_at_evaluations_by_default(tmp_path):
    tiny = [*TINY, "--num-train-frames", 500, "--eval-every-frames", 40, "--reset-window", 240, "--dead-mlp1-start"]
    result = run_script("drqv2_reset_rule.py", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir, with_steps=True)
    # readings at evaluations 80..240 (the first update is at frame 40, after that evaluation): all 0, reset at 240
    assert list(scalars["reset/frame"]) == [240]
    assert scalars["collapse/action_std"][240] < 1e-6  # the evaluation at 240 sees the collapsed agent, then the reset
    # the fresh agent starts at step 120 (the reset's), updates from frame 280: readings at 320 ... 480 make the escape
    assert list(scalars["reset/escape_frame"]) == [480]


def test_end_to_end_dead_mlp1_start_stays_collapsed_without_the_rule(tmp_path):
    tiny = [*TINY, "--eval-every-frames", 100, "--dead-mlp1-start", "--no-reset-rule"]
    result = run_script("drqv2_reset_rule.py", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir, with_steps=True)
    assert "reset/frame" not in scalars and "reset/escape_frame" not in scalars
    assert max(scalars["reset/mlp1_grad_norm"].values()) < 1e-8  # logged every 100 steps: 0 throughout (rounding)
    assert max(scalars["collapse/action_std"].values()) < 1e-6
    assert set(scalars["collapse/mlp1_zero_fraction"].values()) == {1.0}


# --- bad input ---------------------------------------------------------------------------------------


def args_with(**changes):
    return drq.Args(**changes)


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(env_id="nosuchdomain_walk"), "unknown --env-id"),
        (dict(env_id="walker_fly"), "unknown --env-id"),
        (dict(env_id="CartPole-v1"), "unknown --env-id"),
        (dict(env_id="ALE/Pong-v5"), "unknown --env-id"),
        (dict(env_id="lqr_lqr_6_2"), "no time limit"),
        (dict(batch_size=512, replay_buffer_size=100, replay="uniform"), "exceeds the replay capacity"),
        (dict(replay_buffer_size=500, replay="uniform"), "--batch-size 512 exceeds"),  # walker's default batch
        (dict(replay_buffer_size=1999), "keeps 499 transitions, less than an episode (500)"),
        (dict(num_seed_frames=3998), "each of its 4 workers needs one by the first update: give at least 4 episodes"),
        (dict(env_id="fish_swim"), "has no DrQ-v2 settings (cfgs/task/*.yaml): give --num-train-frames and --stddev"),
        (dict(env_id="fish_swim", num_train_frames=10**6), "give --stddev-schedule (DrQ-v2's easy tasks"),
        (dict(num_seed_frames=5000, num_train_frames=4000), "exceeds --num-train-frames"),
        (dict(num_seed_frames=2, nstep=3), "fewer agent steps than --nstep"),
        (dict(stddev_schedule="cosine(1,0)"), "--stddev-schedule"),
        (dict(stddev_schedule="linear(1,0.1,0)"), "--stddev-schedule"),
        (dict(stddev_schedule="linear(1,inf,100)"), "--stddev-schedule"),
        (dict(stddev_schedule="-0.2"), "--stddev-schedule"),
        (dict(stddev_schedule="0.2"), "give --reset-window"),
        (dict(batch_size=0), "--batch-size must be finite and positive, got 0"),
        (dict(lr=math.nan), "--lr must be finite and positive, got nan"),
        (dict(lr=math.inf), "--lr must be finite and positive"),
        (dict(reset_threshold=-1e-3), "--reset-threshold must be finite and non-negative"),
        (dict(discount=1.01), "--discount must be finite and in [0, 1]"),
        (dict(critic_target_tau=0.0), "--critic-target-tau must be finite and positive"),
        (dict(critic_target_tau=1.5), "--critic-target-tau 1.5 must be at most 1"),
        (dict(seed=-1), "--seed must be in [0, 2**32), got -1"),
        (dict(seed=2**32), "--seed must be in [0, 2**32), got 4294967296"),
        (dict(max_episode_frames=0), "--max-episode-frames must be finite and positive"),
        (dict(env_id="cartpole_swingup", max_episode_frames=4), "--nstep 3 exceeds the agent steps of an episode"),
        (dict(image_size=64), "needs 84"),
        # the window must hold 5 readings after the seed frames: 40,000 / 10,000 holds 4
        (dict(reset_window=40_000), "holds 4 readings of the mlp1 gradient norm (one per evaluation"),
        (dict(reset_window=50_000, num_seed_frames=10_000), "holds 4 readings"),
        (dict(reset_window=16, reset_check="update"), "holds 1 readings of the mlp1 gradient norm (one per update"),
    ],
)
def test_check_args_rejects_bad_input(changes, message):
    with pytest.raises(SystemExit, match="^error: .*" + re.escape(message)):
        drq.check_args(args_with(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        dict(reset_window=50_000),  # readings at 10,000 ... 50,000: five
        dict(reset_window=4_020, reset_check="update"),  # six: updates at frames 4,000, 4,004, ..., 4,020
        dict(reset_window=16, no_reset_rule=True),  # no rule, no window to fill
        dict(reset_window=40_000, num_train_frames=40_000),  # the window never closes: no reset
        dict(stddev_schedule="0.2", reset_window=100_000),
    ],
)
def test_check_args_accepts_windows_that_hold_an_escape(changes):
    if changes.pop("no_reset_rule", False):
        changes["reset_rule"] = False
    drq.check_args(args_with(**changes))


EASY = dict(num_train_frames=1_100_000, stddev_schedule="linear(1.0,0.1,100000)", reset_window=200_000)
MEDIUM = dict(num_train_frames=3_100_000, stddev_schedule="linear(1.0,0.1,500000)", reset_window=1_000_000)
HARD = dict(num_train_frames=30_100_000, stddev_schedule="linear(1.0,0.1,2000000)", reset_window=4_000_000)
CONFIG = dict(lr=1e-4, feature_dim=50, batch_size=256, nstep=3, replay_buffer_size=1_000_000)


@pytest.mark.parametrize(
    "env_id,expected",
    [  # cfgs/config.yaml, cfgs/task/{easy,medium,hard}.yaml and the task's yaml; the window follows the schedule
        ("cup_catch", {**CONFIG, **EASY}),
        ("walker_walk", {**CONFIG, **EASY, "batch_size": 512, "nstep": 1}),
        ("cheetah_run", {**CONFIG, **MEDIUM}),
        ("quadruped_run", {**CONFIG, **MEDIUM, "replay_buffer_size": 100_000}),
        ("walker_run", {**CONFIG, **MEDIUM, "batch_size": 512, "nstep": 1}),
        ("humanoid_run", {**CONFIG, **HARD, "lr": 8e-5, "feature_dim": 100}),
    ],
)
def test_task_settings_are_drqv2s_per_group_and_task(env_id, expected):
    args = drq.check_args(args_with(env_id=env_id))
    assert {name: getattr(args, name) for name in expected} == expected


def test_task_settings_yield_to_the_command_line_and_a_task_outside_the_table_needs_frames_and_schedule():
    assert drq.resolve_task("ball_in_cup_catch") == drq.resolve_task("cup_catch") == ("ball_in_cup", "catch")
    args = drq.check_args(args_with(batch_size=64, nstep=2, lr=3e-4, replay_buffer_size=50_000, reset_window=60_000))
    assert (args.batch_size, args.nstep, args.lr, args.replay_buffer_size, args.reset_window) == (64, 2, 3e-4, 50_000, 60_000)
    assert drq.check_args(args_with(env_id="cheetah_run", action_repeat=4)).reset_window == 2_000_000  # 500,000 steps
    assert drq.check_args(args_with(stddev_schedule="0.2", reset_window=100_000)).reset_window == 100_000
    args = drq.check_args(args_with(env_id="fish_swim", num_train_frames=10**6, stddev_schedule="linear(1,0.1,50000)"))
    assert {name: getattr(args, name) for name in CONFIG} == CONFIG and args.reset_window == 100_000


def test_the_loader_ring_holds_the_workers_episodes_and_never_more_than_the_run_writes():
    args = drq.check_args(args_with(env_id="cheetah_run"))  # 3.1M frames, 1,000,000 transitions kept
    assert drq.replay_slots(args) == 1_000_000 + 4 * 500 + 2 * 501  # + each kept episode's first frame + 2 episodes
    assert drq.replay_slots(drq.check_args(args_with())) == 550_000 + 1_100 + 2  # an easy run: all it writes
    assert drq.replay_slots(drq.check_args(args_with(replay="uniform", replay_buffer_size=300_000))) == 300_000


def test_every_suite_task_but_the_refused_ones_has_a_time_limit():
    """An episode without a time limit never ends (lqr's end only at the goal): each one is refused."""
    for domain, task in drq.suite.ALL_TASKS:
        time_limit = inspect.signature(drq.suite._DOMAINS[domain].SUITE[task]).parameters["time_limit"].default
        if not math.isfinite(time_limit):
            with pytest.raises(SystemExit, match="no time limit"):
                drq.check_args(args_with(env_id=f"{domain}_{task}"))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--env-id", "CartPole-v1"], "unknown --env-id"),
        (["--env-id", "lqr_lqr_2_1"], "no time limit"),
        (["--batch-size", 64, "--replay-buffer-size", 32, "--replay", "uniform"], "exceeds"),
        (["--num-seed-frames", 1000], "or --replay uniform"),
        (["--env-id", "point_mass_easy"], "give --num-train-frames and --stddev-schedule"),
        (["--lr", "nan"], "--lr must be finite and positive"),
        (["--num-eval-episodes", 0], "--num-eval-episodes must be finite and positive"),
        (["--stddev-clip", -0.3], "--stddev-clip must be finite and non-negative"),
        (["--discount", 2], "--discount must be finite and in [0, 1]"),
        (["--critic-target-tau", 2], "at most 1"),
        (["--stddev-schedule", "linear(1,0.1,nan)"], "--stddev-schedule"),
        (["--num-seed-frames", 4000, "--num-train-frames", 2000], "exceeds --num-train-frames"),
        (["--max-episode-frames", 2, "--env-id", "cartpole_swingup"], "exceeds the agent steps of an episode"),
        (["--reset-window", 40000], "holds 4 readings"),
        (["--reset-window", 200, "--reset-check", "update"], "readings"),
    ],
)
def test_bad_input_stops_with_one_clear_line(tmp_path, args, message):
    result = run_script("drqv2_reset_rule.py", *args, cwd=tmp_path)
    assert_stops_with_one_line(result, message, tmp_path)


def test_help_shows_no_derived_fields(tmp_path):
    result = run_script("drqv2_reset_rule.py", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--batch-size" in result.stdout and "--reset-window" in result.stdout
    assert "--domain" not in result.stdout and "--task " not in result.stdout


# --- stopping: Ctrl-C, divergence -----------------------------------------------------------------------


def test_sigint_stops_after_the_step_and_keeps_logs_and_model(tmp_path):
    command = [sys.executable, str(ROOT / "drqv2_reset_rule.py"), *map(str, TINY), "--num-train-frames", 4000,
               "--reset-window", 1000, "--save-model"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(list(map(str, command)), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        for line in proc.stdout:  # the first episode's end: training is under way
            if "episodic_return" in line:
                proc.send_signal(signal.SIGINT)
                break
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("SIGINT: stopping") and lines[-1].startswith("error: stopped by SIGINT at global_frame=")
    assert len(lines) == 2 and "Traceback" not in stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    scalars = read_scalars(run_dir)
    assert scalars["charts/episodic_return"] and scalars["eval/episodic_return"] and scalars["reset/count"] == [0]
    state = torch.load(run_dir / "drqv2_reset_rule.cleanrl_model")
    assert all(torch.isfinite(v).all() for v in state.values())


def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_finite_model(tmp_path):
    result = run_script("drqv2_reset_rule.py", *TINY, "--lr", 1e30, "--reset-window", 1000, "--save-model", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training diverged at global_frame=") and "not finite" in lines[0]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "eval/episodic_return" in read_scalars(run_dir)  # the log was flushed
    state = torch.load(run_dir / "drqv2_reset_rule.cleanrl_model")
    assert all(torch.isfinite(v).all() for v in state.values())
