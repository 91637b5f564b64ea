# DrQ-v2 from pixels on the DeepMind Control suite, with the action-collapse reset rule of "Understanding Learned
# Representations and Action Collapse in Visual RL" (Section 5.2). Some DrQ-v2 agents fall into action collapse: the
# actor outputs one action whatever the image, its MLP features collapse to a point and the gradient of its mlp1 layer
# vanishes. The rule reads that gradient norm at each evaluation, where the paper computes its metrics
# (`--reset-check update`: at every actor update); in each window of m frames (m = the frames over which the
# exploration noise decays, Proposition 1), unless five consecutive norms exceed 1e-3 ("an escape"), training restarts
# from scratch. After an escape it never resets again. `--no-reset-rule` is plain DrQ-v2, from this same file.
#
# Based on DrQ-v2 (Yarats et al. 2021, https://github.com/facebookresearch/drqv2, MIT), rewritten in CleanRL's
# single-file shape (tyro Args, TensorBoard under runs/, --track, --capture-video, --save-model). What differs from
# the DrQ-v2 repository:
# - one file, no hydra: DrQ-v2's per-task settings (cfgs/task/*.yaml: frames, noise schedule, learning rate, feature
#   dim, batch size, n-step, replay size) are the defaults for --env-id (TASKS below); a suite task outside that
#   table needs --num-train-frames and --stddev-schedule; the lqr tasks (no time limit, so an evaluation would never
#   end, and actions bounded at +-1e10) are refused;
# - the replay buffer lives in memory (`--buffer-device cuda`: the frames in GPU memory) and stores each 84x84 frame
#   once (uint8), rebuilding the frame stacks at sample time. `--replay loader` (the default) samples as DrQ-v2's
#   DataLoader does (finished episodes only, 4 workers each owning a quarter of the episodes, each batch from one
#   worker's episodes), emulated in this process without worker processes or .npz files; `--replay uniform` samples
#   every stored transition alike, the running episode's too;
# - the environment wrapper is a small class (action repeat, rescaled actions, rendering) instead of four dm_env
#   wrappers; `--fast-render` switches off shadows and anti-aliasing for software (CPU) rendering;
# - TensorBoard tags in CleanRL's names, the x axis is environment frames; `--capture-video` records the first
#   evaluation episode at the observation's 84x84 (DrQ-v2 renders a separate 256x256 video); charts/SPS and the
#   printed `SPS:` line count frames per second of training, evaluation time excluded, and its ETA the frames left
#   at the rate measured since the first update; `--max-episode-frames` (for tests);
# - the reset rule (`reset/`): a reset re-draws every weight, the optimizers, empties the buffer, cuts the running
#   episode (not logged, never sampled) and restarts the seed phase, uniform exploration and the stddev schedule;
#   `--dead-mlp1-start` starts from a collapsed actor, to see the rule work;
# - the Figure 4 collapse metrics of the actor's mlp0/mlp1/mlp2 on a replay batch, with their dead units
#   (`collapse/`);
# - bad input (unknown task, impossible sizes, a window too short for an escape) stops with one line before any
#   environment is made; Ctrl-C/SIGTERM and a non-finite loss, parameter or action stop with one line after the
#   normal ending (TensorBoard flushed, the last finite model saved with --save-model).
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before dm_control: EGL renders on the GPU, or in software (Mesa)

import bisect
import copy
import dataclasses
import math
import random
import re
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from dm_control import suite
from torch.utils.tensorboard import SummaryWriter

from metrics_common import dead_units, grad_norm, nonzero_correlation, rank_metrics, zero_fraction


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=False`"""
    cuda: bool = True
    """if toggled, cuda will be enabled by default"""
    track: bool = False
    """if toggled, this experiment will be tracked with Weights and Biases"""
    wandb_project_name: str = "cleanRL"
    """the wandb's project name"""
    wandb_entity: str | None = None
    """the entity (team) of wandb's project"""
    capture_video: bool = False
    """whether to capture videos of the agent performances (check out `videos` folder)"""
    save_model: bool = False
    """whether to save model into the `runs/{run_name}` folder"""

    # DrQ-v2 arguments (cfgs/config.yaml of the DrQ-v2 repository; None: the task's setting, cfgs/task/*.yaml)
    env_id: str = "walker_walk"
    """a dm_control suite task as `domain_task` (walker_walk, cartpole_swingup, ball_in_cup_catch, cup_catch...)"""
    num_train_frames: int | None = None
    """total environment frames, agent steps x action repeat (default: the task's, 1.1M for easy tasks)"""
    action_repeat: int = 2
    """how many times each action is repeated"""
    frame_stack: int = 3
    """the number of consecutive frames in an observation"""
    image_size: int = 84
    """height and width of the rendered frames"""
    discount: float = 0.99
    """the discount factor gamma"""
    num_seed_frames: int = 4000
    """frames collected before the first update (after every reset too)"""
    num_expl_steps: int = 2000
    """agent steps with uniformly random actions at the start (after every reset too)"""
    eval_every_frames: int = 10000
    """evaluate (mean action) and compute the collapse metrics every this many frames"""
    num_eval_episodes: int = 10
    """evaluation episodes per evaluation"""
    replay: Literal["loader", "uniform"] = "loader"
    """replay sampling: `loader` as DrQ-v2's DataLoader (finished episodes only; 4 workers, each owning the episodes
    whose number is its own modulo 4, re-reading new ones every 1,000 of its samples; each batch from one worker, the
    workers in turn); `uniform`: every stored transition alike, the running episode's too"""
    replay_buffer_size: int | None = None
    """replay capacity (default: the task's, 1,000,000, 100,000 for quadruped_run): with `--replay loader`, transitions
    as DrQ-v2's (each worker keeps its newest episodes within a quarter of it); with `uniform`, frames. About 21.2 KB a
    frame (84x84x3 uint8 + action, reward, discount, index), reserved as written, never more than the run writes"""
    buffer_device: Literal["cpu", "cuda"] = "cpu"
    """where the replay frames live: `cuda` keeps them in GPU memory and gathers each batch there, instead of a host
    gather and a host-to-GPU copy of 2 x 9 x 84 x 84 bytes a sample"""
    nstep: int | None = None
    """n-step returns (default: the task's, 1 for walker tasks, else 3)"""
    batch_size: int | None = None
    """the batch size of replay samples (default: the task's, 512 for walker tasks, else 256)"""
    lr: float | None = None
    """the learning rate of the encoder, actor and critic optimizers (Adam) (default: the task's, 8e-5 for humanoid
    tasks, else 1e-4)"""
    feature_dim: int | None = None
    """width of the actor's and critic's trunk (mlp0) (default: the task's, 100 for humanoid tasks, else 50)"""
    hidden_dim: int = 1024
    """width of the hidden MLP layers (mlp1, mlp2)"""
    critic_target_tau: float = 0.01
    """target smoothing coefficient"""
    update_every_steps: int = 2
    """update the agent every this many agent steps"""
    stddev_schedule: str | None = None
    """exploration noise: a constant or linear(initial,final,agent steps) (default: the task's, linear(1.0,0.1,100000)
    for easy tasks)"""
    stddev_clip: float = 0.3
    """clip of the exploration noise in the actor and critic targets"""
    fast_render: bool = False
    """render without shadows and multisampling: about 5x faster in software (CPU) rendering; images differ"""
    max_episode_frames: int | None = None
    """end (truncate) episodes after this many frames (default: the task's limit, 1000 frames); for quick tests"""

    # Reset rule arguments (Section 5.2 of the paper)
    reset_rule: bool = True
    """apply the action-collapse reset rule; `--no-reset-rule` is plain DrQ-v2"""
    reset_window: int | None = None
    """window m in frames (default: the stddev schedule's duration x action repeat: 200,000 frames for easy tasks,
    1,000,000 for medium, 4,000,000 for hard);
    in a run longer than it, it must hold --reset-consecutive readings of the norm after the seed frames, or every
    run would be reset"""
    reset_threshold: float = 1e-3
    """an actor mlp1 gradient norm above this counts towards an escape"""
    reset_consecutive: int = 5
    """this many consecutive norms above the threshold are an escape"""
    reset_check: Literal["eval", "update"] = "eval"
    """when the rule reads the mlp1 gradient norm: at each evaluation, the norm of the last actor update (the
    cadence of the paper's Figure 4 metrics), or at every actor update (a fresh actor's first five updates
    then count as an escape before the collapse that every agent goes through sets in: see the README)"""
    reset_keep_buffer: bool = False
    """keep the replay buffer at a reset (default: clear it, training restarts from scratch)"""
    dead_mlp1_start: bool = False
    """start from a collapsed actor (mlp1 dead, see `kill_mlp1`) to see the rule fire; resets draw healthy weights"""


# ---------------------------------------------------------------------------------------------------
# Environment


TASK_FRAMES = 1000  # every suite task's time limit in frames (control steps), but lqr's (none; refused)
LOADER_WORKERS, FETCH_EVERY = 4, 1000  # DrQ-v2's replay_buffer_num_workers and make_replay_loader's fetch_every

# DrQ-v2's per-task settings: cfgs/config.yaml, then the task's group (cfgs/task/{easy,medium,hard}.yaml), then the
# task's own yaml. DrQ-v2's cup_catch is the suite's ball_in_cup_catch; its reach_duplo (manipulation) is not a suite
# task.
CONFIG = dict(lr=1e-4, feature_dim=50, batch_size=256, nstep=3, replay_buffer_size=1_000_000)
GROUPS = {
    "easy": dict(num_train_frames=1_100_000, stddev_schedule="linear(1.0,0.1,100000)"),
    "medium": dict(num_train_frames=3_100_000, stddev_schedule="linear(1.0,0.1,500000)"),
    "hard": dict(num_train_frames=30_100_000, stddev_schedule="linear(1.0,0.1,2000000)"),
}
WALKER, HUMANOID = dict(nstep=1, batch_size=512), dict(lr=8e-5, feature_dim=100)
TASKS = {
    "cartpole_balance": ("easy", {}),
    "cartpole_balance_sparse": ("easy", {}),
    "cartpole_swingup": ("easy", {}),
    "ball_in_cup_catch": ("easy", {}),
    "finger_spin": ("easy", {}),
    "hopper_stand": ("easy", {}),
    "pendulum_swingup": ("easy", {}),
    "walker_stand": ("easy", WALKER),
    "walker_walk": ("easy", WALKER),
    "acrobot_swingup": ("medium", {}),
    "cartpole_swingup_sparse": ("medium", {}),
    "cheetah_run": ("medium", {}),
    "finger_turn_easy": ("medium", {}),
    "finger_turn_hard": ("medium", {}),
    "hopper_hop": ("medium", {}),
    "quadruped_run": ("medium", dict(replay_buffer_size=100_000)),
    "quadruped_walk": ("medium", {}),
    "reacher_easy": ("medium", {}),
    "reacher_hard": ("medium", {}),
    "walker_run": ("medium", WALKER),
    "humanoid_stand": ("hard", HUMANOID),
    "humanoid_walk": ("hard", HUMANOID),
    "humanoid_run": ("hard", HUMANOID),
}


def resolve_task(env_id):
    """`domain_task` -> (domain, task) of the dm_control suite; domains may contain underscores
    (ball_in_cup_catch, point_mass_easy). DrQ-v2's `cup_catch` means ball_in_cup. None if unknown."""
    env_id = {"cup_catch": "ball_in_cup_catch"}.get(env_id, env_id)
    for domain, task in suite.ALL_TASKS:
        if f"{domain}_{task}" == env_id:
            return domain, task
    return None


class DMCEnv:
    """A suite task from pixels, as DrQ-v2's wrappers: actions in [-1, 1] rescaled to the task's bounds,
    each repeated `action_repeat` times (rewards summed, discounts multiplied, stopping at the episode's
    end), an RGB frame (3 x size x size, uint8) from camera 2 for quadruped, else camera 0."""

    def __init__(self, domain, task, seed, action_repeat=2, size=84, fast_render=False, max_episode_frames=None):
        self.env = suite.load(domain, task, task_kwargs={"random": seed}, visualize_reward=False)
        self.max_episode_frames, self.frames = max_episode_frames, 0
        spec = self.env.action_spec()
        self.low, self.high, self.action_dim = spec.minimum, spec.maximum, spec.shape[0]
        self.action_repeat, self.size = action_repeat, size
        self.camera_id = 2 if domain == "quadruped" else 0
        if fast_render:  # read when the rendering context is made, i.e. at the first render
            self.env.physics.model.vis.quality.shadowsize = 0
            self.env.physics.model.vis.quality.offsamples = 0

    def render(self):
        frame = self.env.physics.render(height=self.size, width=self.size, camera_id=self.camera_id)
        return np.ascontiguousarray(frame.transpose(2, 0, 1))

    def reset(self):
        self.env.reset()
        self.frames = 0
        return self.render()

    def step(self, action):
        """-> frame, reward, discount, done (DMC episodes end by time limit: done is a truncation)"""
        action = self.low + (np.asarray(action, np.float64) + 1.0) * (self.high - self.low) / 2.0
        reward, discount = 0.0, 1.0
        for _ in range(self.action_repeat):
            time_step = self.env.step(action)
            reward += (time_step.reward or 0.0) * discount
            discount *= time_step.discount
            self.frames += 1
            if time_step.last():
                break
        done = time_step.last() or (self.max_episode_frames is not None and self.frames >= self.max_episode_frames)
        return self.render(), reward, discount, done

    def close(self):
        self.env.close()


# ---------------------------------------------------------------------------------------------------
# Replay buffer


class LoaderReplay:
    """DrQ-v2's default replay (replay_buffer.py: ReplayBuffer as an IterableDataset behind a 4-worker DataLoader)
    emulated in this process: which stored transitions each batch draws from. Finished episodes are numbered in order;
    worker w owns the episodes whose number is w modulo `num_workers`. Every `fetch_every` of its samples (its first
    one included) a worker reads its new episodes, newest first, as long as they fit in `worker_capacity`
    transitions, and evicts its oldest ones to make room. A sample picks one of the worker's episodes uniformly and
    a start uniformly among the episode's length - nstep + 1 windows. A batch is `batch_size` samples of one worker,
    the workers in turn (the DataLoader's batches come from its workers round robin). Episodes are (start, length):
    the global index of the frame after the reset, and the agent steps."""

    def __init__(self, worker_capacity, num_workers=4, fetch_every=1000, seed=0):
        self.worker_capacity, self.num_workers, self.fetch_every = worker_capacity, num_workers, fetch_every
        self.rng = np.random.default_rng(seed)
        self.clear()

    def clear(self):
        workers = range(self.num_workers)
        self.num_episodes, self.next_worker = 0, 0  # finished episodes; the worker of the next batch
        self.new = [[] for _ in workers]  # finished, not read by the worker yet (files not loaded, in DrQ-v2)
        self.episodes = [[] for _ in workers]  # the worker's episodes, oldest first
        self.size = [0] * self.num_workers  # transitions in each worker's episodes
        self.since_fetch = [self.fetch_every] * self.num_workers  # so the first sample fetches
        self.arrays = [None] * self.num_workers  # (starts, lengths) of the worker's episodes, built when sampled

    def add_episode(self, start, length):
        self.new[self.num_episodes % self.num_workers].append((start, length))
        self.num_episodes += 1

    def fetch(self, w):
        """IterableReplayBuffer._try_fetch and _store_episode: new episodes newest first until one would overflow
        the worker's capacity; each stored after evicting the worker's oldest episodes it does not fit beside."""
        fetched, read = 0, 0
        for start, length in reversed(self.new[w]):
            if fetched + length > self.worker_capacity:
                break
            fetched, read = fetched + length, read + 1
            while self.episodes[w] and self.size[w] + length > self.worker_capacity:
                self.size[w] -= self.episodes[w].pop(0)[1]
            bisect.insort(self.episodes[w], (start, length))
            self.size[w] += length
        del self.new[w][len(self.new[w]) - read :]
        self.arrays[w] = None

    def drop_overwritten(self, oldest):
        """Forget episodes whose first frame the ring has overwritten (global index below `oldest`)."""
        for w in range(self.num_workers):
            self.new[w] = [episode for episode in self.new[w] if episode[0] >= oldest]
            while self.episodes[w] and self.episodes[w][0][0] < oldest:
                self.size[w] -= self.episodes[w].pop(0)[1]
                self.arrays[w] = None

    def draw(self, batch_size, nstep):
        """-> the global start indices of the next batch (one worker's samples)."""
        w, t, done = self.next_worker, np.empty(batch_size, dtype=np.int64), 0
        self.next_worker = (w + 1) % self.num_workers
        while done < batch_size:
            if self.since_fetch[w] >= self.fetch_every:
                self.since_fetch[w] = 0
                self.fetch(w)
            if not self.episodes[w]:
                raise ValueError(f"loader worker {w} holds no finished episode")
            if self.arrays[w] is None:
                self.arrays[w] = np.array(self.episodes[w], dtype=np.int64).T
            starts, lengths = self.arrays[w]
            n = min(batch_size - done, self.fetch_every - self.since_fetch[w])  # up to the worker's next fetch
            episode = self.rng.integers(len(starts), size=n)
            t[done : done + n] = starts[episode] + self.rng.integers(0, lengths[episode] - nstep + 1)
            self.since_fetch[w], done = self.since_fetch[w] + n, done + n
        return t


class ReplayBuffer:
    """Stores every frame once and rebuilds frame stacks and n-step returns at sample time.

    Slots form a ring indexed by a global counter t (slot t % capacity). Slot t holds the frame observed at
    t, the action that led to it, the reward and discount received on the way, and its index within its
    episode (0 for the frame after a reset, whose action/reward are zero). A transition starting at t is
      obs      frames t-k+1..t (k = frame_stack; indices before the episode's first frame repeat it),
      action   actions[t+1],
      reward   sum_{i<n} gamma^i * prod_{j<i} discounts[t+1+j] * rewards[t+1+i],
      discount gamma^n * prod_{i<n} discounts[t+1+i],
      next_obs the stack at t+n,
    and is sampled only when t+1..t+n are stored and belong to the same episode. DMC has no terminal
    states (discount stays 1) and ends episodes by a time limit, so as in DrQ-v2 the n-step sum never
    crosses into the next episode and the last n-1 frames of an episode start no transition.
    Batches are drawn by `loader` (a LoaderReplay: DrQ-v2's sampler, finished episodes only) or, without one,
    uniformly over every valid start (the running episode's too).
    Memory: 3*size^2 bytes (21,168 at 84x84) + 4*action_dim + 16 bytes per slot, reserved up front. The frames
    live on `device` (a GPU gathers a batch's stacks in place of a host gather and a 2 x batch x 9 x 84 x 84-byte
    copy); the rest stays on the host, where the indices are drawn.
    """

    def __init__(self, capacity, frame_shape, action_dim, frame_stack=3, nstep=3, discount=0.99, device="cpu", loader=None):
        self.capacity, self.frame_stack, self.nstep, self.discount = capacity, frame_stack, nstep, discount
        self.frames = torch.empty((capacity, *frame_shape), dtype=torch.uint8, device=device)  # host pages on first write
        self.actions = np.zeros((capacity, action_dim), dtype=np.float32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.ones(capacity, dtype=np.float32)
        self.episode_index = np.zeros(capacity, dtype=np.int64)
        self.loader = loader
        self.count = 0  # slots ever written since the last clear

    def __len__(self):
        return min(self.count, self.capacity)

    def clear(self):
        self.count = 0
        if self.loader is not None:
            self.loader.clear()

    def add(self, frame, action=None, reward=0.0, discount=1.0, first=False, last=False):
        """Store one frame: `first=True` after a reset, else with the action, reward and discount that led to it;
        `last=True` when it ends its episode (the loader samples finished episodes only)."""
        slot = self.count % self.capacity
        self.frames[slot] = torch.as_tensor(frame)
        if first or self.count == 0:
            self.actions[slot], self.rewards[slot], self.discounts[slot], self.episode_index[slot] = 0.0, 0.0, 1.0, 0
        else:
            self.actions[slot], self.rewards[slot], self.discounts[slot] = action, reward, discount
            self.episode_index[slot] = self.episode_index[(self.count - 1) % self.capacity] + 1
        if last and self.loader is not None and self.episode_index[slot] >= self.nstep:  # else it holds no transition
            self.loader.add_episode(self.count - self.episode_index[slot], int(self.episode_index[slot]))
        self.count += 1

    def _stack(self, t):
        """Frame stacks (len(t), frame_stack * C, H, W) ending at global indices t."""
        back = np.arange(self.frame_stack - 1, -1, -1)  # oldest first, as DrQ-v2 concatenates
        index = t[:, None] - np.minimum(back[None, :], self.episode_index[t % self.capacity][:, None])
        index = torch.as_tensor((index % self.capacity).ravel(), device=self.frames.device)  # [index]: slower on a CPU
        return self.frames.index_select(0, index).reshape(len(t), -1, *self.frames.shape[2:])

    def valid(self, t):
        """Whether a transition can start at global indices t."""
        oldest, n = max(0, self.count - self.capacity), self.nstep
        t = np.asarray(t)
        ok = (t >= oldest) & (t + n <= self.count - 1)
        tc = np.clip(t, oldest, max(oldest, self.count - 1 - n))
        same_episode = self.episode_index[(tc + n) % self.capacity] == self.episode_index[tc % self.capacity] + n
        stack_stored = tc - np.minimum(self.frame_stack - 1, self.episode_index[tc % self.capacity]) >= oldest
        return ok & same_episode & stack_stored

    def uniform_indices(self, batch_size):
        """Uniform over valid start indices (rejection sampling)."""
        oldest, newest = max(0, self.count - self.capacity), self.count - 1 - self.nstep
        if newest < oldest:
            raise ValueError("the replay buffer holds no transition yet")
        t = np.random.randint(oldest, newest + 1, size=batch_size)
        for _ in range(1000):
            bad = ~self.valid(t)
            if not bad.any():
                return t
            t[bad] = np.random.randint(oldest, newest + 1, size=int(bad.sum()))
        raise ValueError("the replay buffer holds no valid transition")

    def sample(self, batch_size, t=None):
        """-> obs, action, reward (B x 1), discount (B x 1), next_obs: the stacks as uint8 tensors on the buffer's
        device, the rest as numpy arrays. Drawn by the loader, else uniformly, or at the given global indices t."""
        if t is None and self.loader is not None:
            if self.count > self.capacity:
                self.loader.drop_overwritten(self.count - self.capacity)
            t = self.loader.draw(batch_size, self.nstep)
        elif t is None:
            t = self.uniform_indices(batch_size)
        t = np.asarray(t, dtype=np.int64)
        reward = np.zeros(len(t), dtype=np.float32)
        discount = np.ones(len(t), dtype=np.float32)
        for i in range(self.nstep):
            slot = (t + 1 + i) % self.capacity
            reward += discount * self.rewards[slot]
            discount *= self.discounts[slot] * self.discount
        action = self.actions[(t + 1) % self.capacity]
        return self._stack(t), action, reward[:, None], discount[:, None], self._stack(t + self.nstep)


# ---------------------------------------------------------------------------------------------------
# Networks


def weight_init(m):
    """DrQ-v2's initialisation: orthogonal weights (gain sqrt(2) for convolutions), zero biases."""
    if isinstance(m, nn.Linear):
        nn.init.orthogonal_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        nn.init.orthogonal_(m.weight, nn.init.calculate_gain("relu"))
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class RandomShiftsAug(nn.Module):
    """DrQ's random shift: replicate-pad by `pad`, then crop back at a random integer offset per sample,
    read with bilinear grid_sample at pixel centres (so the crop is exact)."""

    def __init__(self, pad=4):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        n, _, h, w = x.shape
        assert h == w, "square images only"
        padded = h + 2 * self.pad
        x = F.pad(x, (self.pad,) * 4, mode="replicate")
        # normalised coordinates (align_corners=False) of the first h pixel centres of the padded image
        centres = (2.0 * torch.arange(h, device=x.device, dtype=x.dtype) + 1.0) / padded - 1.0
        grid = torch.stack(torch.broadcast_tensors(centres[None, :], centres[:, None]), dim=-1)  # (h, w, [x, y])
        shift = torch.randint(0, 2 * self.pad + 1, (n, 1, 1, 2), device=x.device).to(x.dtype) * (2.0 / padded)
        return F.grid_sample(x, grid[None] + shift, padding_mode="zeros", align_corners=False)


class Encoder(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.repr_dim = 32 * 35 * 35
        self.convnet = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
        )

    def forward(self, obs):
        return self.convnet(obs / 255.0 - 0.5).flatten(1)


class Actor(nn.Module):
    """trunk: Linear -> LayerNorm -> Tanh (output: mlp0, feature_dim); policy: Linear -> ReLU (mlp1) ->
    Linear -> ReLU (mlp2) -> Linear -> tanh = the mean action. The paper's Figure 1 names mlp0-mlp2."""

    def __init__(self, repr_dim, action_dim, feature_dim, hidden_dim):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())
        self.policy = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, action_dim),
        )

    def layers(self):
        """The modules whose outputs are mlp0, mlp1, mlp2 (for their gradient norms)."""
        return {"mlp0": self.trunk, "mlp1": self.policy[0], "mlp2": self.policy[2]}

    def features(self, h):
        """-> mean action, {mlp0, mlp1, mlp2 activations}"""
        mlp0 = self.trunk(h)
        mlp1 = self.policy[1](self.policy[0](mlp0))
        mlp2 = self.policy[3](self.policy[2](mlp1))
        return torch.tanh(self.policy[4](mlp2)), {"mlp0": mlp0, "mlp1": mlp1, "mlp2": mlp2}

    def forward(self, h):
        return torch.tanh(self.policy(self.trunk(h)))


class Critic(nn.Module):
    def __init__(self, repr_dim, action_dim, feature_dim, hidden_dim):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())

        def q_net():
            return nn.Sequential(
                nn.Linear(feature_dim + action_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, 1),
            )

        self.Q1, self.Q2 = q_net(), q_net()

    def forward(self, h, action):
        x = torch.cat([self.trunk(h), action], dim=-1)
        return self.Q1(x), self.Q2(x)


class Agent(nn.Module):
    """Encoder, actor, twin critics and the target critics; `reinitialise` draws fresh weights in place."""

    def __init__(self, obs_shape, action_dim, feature_dim=50, hidden_dim=1024):
        super().__init__()
        self.encoder = Encoder(obs_shape[0])
        self.actor = Actor(self.encoder.repr_dim, action_dim, feature_dim, hidden_dim)
        self.critic = Critic(self.encoder.repr_dim, action_dim, feature_dim, hidden_dim)
        self.critic_target = Critic(self.encoder.repr_dim, action_dim, feature_dim, hidden_dim)
        self.reinitialise()

    def reinitialise(self):
        self.apply(weight_init)
        self.critic_target.load_state_dict(self.critic.state_dict())


def kill_mlp1(actor):
    """`--dead-mlp1-start`: mlp1's weights 0 and biases -1, so every unit outputs 0 for every image and, ReLU's
    gradient being 0 there, no gradient ever reaches mlp1 or mlp0: the actor outputs one action whatever it sees,
    an action collapse it cannot leave by training (Adam moves nothing whose gradient is always 0)."""
    with torch.no_grad():
        actor.policy[0].weight.zero_()
        actor.policy[0].bias.fill_(-1.0)


def make_optimizers(agent, lr):
    return {
        "encoder": torch.optim.Adam(agent.encoder.parameters(), lr=lr),
        "actor": torch.optim.Adam(agent.actor.parameters(), lr=lr),
        "critic": torch.optim.Adam(agent.critic.parameters(), lr=lr),
    }


def reset_training(agent, optimizers, rb, lr, keep_buffer=False):
    """The rule's reset: fresh encoder, actor, critic and target critic (in place), fresh optimizers (no Adam
    moments), and an empty replay buffer unless `keep_buffer`. Returns the new optimizers."""
    agent.reinitialise()
    for p in agent.parameters():
        p.grad = None
    if not keep_buffer:
        rb.clear()
    return make_optimizers(agent, lr)


def sample_action(mu, std, clip=None):
    """DrQ-v2's truncated normal: mu + clip(std * eps, -clip, clip), clamped to (-1, 1) with a
    straight-through gradient (the gradient flows to mu as if no clamp)."""
    eps = torch.randn_like(mu) * std
    if clip is not None:
        eps = eps.clamp(-clip, clip)
    x = mu + eps
    return x - x.detach() + x.detach().clamp(-1.0 + 1e-6, 1.0 - 1e-6)


def parse_schedule(spec):
    """'0.2' or 'linear(initial,final,steps)' -> (function of the agent step, steps or None). None if invalid:
    another form, a stddev that is negative or not finite, or fewer than 1 step."""
    match = re.fullmatch(r"\s*linear\(([^,]+),([^,]+),([^,]+)\)\s*", spec)
    try:
        values = [float(g) for g in match.groups()] if match else [float(spec)]
    except ValueError:
        return None
    if not all(math.isfinite(v) and v >= 0 for v in values) or (match and values[2] < 1):
        return None
    if not match:
        return (lambda step: values[0]), None
    initial, final, duration = values
    return (lambda step: initial + min(max(step / duration, 0.0), 1.0) * (final - initial)), int(duration)


def update_critic(agent, optimizers, obs, action, reward, discount, next_obs, stddev, args):
    """The critic's (and the encoder's) step on the clipped double-Q target of the target critic."""
    with torch.no_grad():
        next_action = sample_action(agent.actor(next_obs), stddev, args.stddev_clip)
        target_q1, target_q2 = agent.critic_target(next_obs, next_action)
        target_q = reward + discount * torch.min(target_q1, target_q2)
    q1, q2 = agent.critic(obs, action)
    critic_loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
    optimizers["encoder"].zero_grad(set_to_none=True)
    optimizers["critic"].zero_grad(set_to_none=True)
    critic_loss.backward()
    optimizers["critic"].step()
    optimizers["encoder"].step()
    return {"critic_loss": critic_loss.detach(), "qf_values": q1.detach().mean()}


def update_actor(agent, optimizers, obs, stddev, args):
    """The actor's step (deterministic policy gradient through the critic, on detached features); also returns
    the gradient norm of mlp1 that the reset rule reads."""
    pi = sample_action(agent.actor(obs), stddev, args.stddev_clip)
    actor_loss = -torch.min(*agent.critic(obs, pi)).mean()
    optimizers["actor"].zero_grad(set_to_none=True)
    actor_loss.backward()
    # metrics_common.grad_norm as a tensor: read (.item(), a host sync) only where the rule reads it
    mlp1_grad_norm = torch.stack([p.grad.norm() for p in agent.actor.layers()["mlp1"].parameters()]).norm()
    optimizers["actor"].step()
    return {"actor_loss": actor_loss.detach(), "mlp1_grad_norm": mlp1_grad_norm}


def update(agent, optimizers, aug, batch, stddev, args):
    """One DrQ-v2 update (drqv2.py's DrQV2Agent.update): augment and encode, the critic and encoder, the actor on
    detached features, then the target critic (one fused lerp). Returns the losses and the mlp1 gradient norm
    (tensors)."""
    obs, action, reward, discount, next_obs = batch
    obs = agent.encoder(aug(obs.float()))
    with torch.no_grad():
        next_obs = agent.encoder(aug(next_obs.float()))
    logs = update_critic(agent, optimizers, obs, action, reward, discount, next_obs, stddev, args)
    logs.update(update_actor(agent, optimizers, obs.detach(), stddev, args))
    with torch.no_grad():
        targets, params = list(agent.critic_target.parameters()), list(agent.critic.parameters())
        torch._foreach_lerp_(targets, params, args.critic_target_tau)
    return logs


# ---------------------------------------------------------------------------------------------------
# The reset rule and the collapse metrics


class ResetRule:
    """The paper's rule on a stream of actor mlp1 gradient norms (one per evaluation, or per actor update).

    An escape is `consecutive` norms in a row above `threshold`. Windows of `window` frames start at frame 0
    and at each reset. `update(grad_norm, frame)` returns True when training must be reset: the window has
    ended (frame - start >= window) with no escape in it. After an escape it always returns False.
    """

    def __init__(self, window, threshold=1e-3, consecutive=5):
        self.window, self.threshold, self.consecutive = window, threshold, consecutive
        self.window_start, self.run, self.resets = 0, 0, 0
        self.escape_frame = None

    @property
    def escaped(self):
        return self.escape_frame is not None

    def update(self, grad_norm, frame):
        if self.escaped:
            return False
        self.run = self.run + 1 if grad_norm > self.threshold else 0
        if self.run >= self.consecutive:
            self.escape_frame = frame
            return False
        if frame - self.window_start >= self.window:
            self.window_start, self.run, self.resets = frame, 0, self.resets + 1
            return True
        return False


def apply_rule(rule, mlp1_grad_norm, frame, writer):
    """Feed one gradient norm to the rule; log an escape or a reset when it happens. Returns whether to reset."""
    escaped = rule.escaped
    reset_now = rule.update(mlp1_grad_norm, frame)
    if rule.escaped and not escaped:
        print(f"global_frame={frame}, escaped action collapse")
        writer.add_scalar("reset/escape_frame", rule.escape_frame, frame)
    if reset_now:
        reason = f"no {rule.consecutive} consecutive mlp1 gradient norms > {rule.threshold} in {rule.window} frames"
        print(f"global_frame={frame}, reset {rule.resets}: {reason}")
        writer.add_scalar("reset/count", rule.resets, frame)
        writer.add_scalar("reset/frame", frame, frame)
        writer.add_text("reset/reason", f"frame {frame}: {reason}", frame)
    return reset_now


@torch.no_grad()
def collapse_metrics(agent, obs):
    """The paper's Figure 4 metrics on a batch of (uint8) observations, for the actor's mlp0, mlp1, mlp2:
    numerical rank, mean correlation of non-zero activations, fraction of zero activations, and the
    gradient norm left by the last actor update; beside the zero fraction, the dead units (the paper calls zero
    activations "dead neurons"; a ReLU unit of mlp1/mlp2 zero for the whole batch, a tanh unit of mlp0 whose
    std over the batch is below 1e-3, as metrics_common.dead_units counts them); plus `action_std`, the
    mean over action dimensions of the standard deviation of the mean action across the batch (0 when the
    actor has collapsed)."""
    mu, activations = agent.actor.features(agent.encoder(obs.float()))
    metrics = {"collapse/action_std": mu.std(dim=0).mean().item() if mu.shape[0] > 1 else 0.0}
    for name, h in activations.items():
        metrics[f"collapse/{name}_numerical_rank"] = rank_metrics(h)["numerical_rank"]
        metrics[f"collapse/{name}_nonzero_correlation"] = nonzero_correlation(h)
        metrics[f"collapse/{name}_zero_fraction"] = zero_fraction(h)
        metrics[f"collapse/{name}_dead_units"] = dead_units(h, "tanh" if name == "mlp0" else "relu")
        metrics[f"collapse/{name}_grad_norm"] = grad_norm(agent.actor.layers()[name])
    return metrics


def check_numbers(args, positive="", non_negative="", probability=""):
    """Stop with one line at the first numeric flag (space-separated names) that is not finite or breaks its rule."""
    rules = ((positive, "positive", lambda v: v > 0), (non_negative, "non-negative", lambda v: v >= 0))
    for names, allowed, ok in rules + ((probability, "in [0, 1]", lambda v: 0 <= v <= 1),):
        for name in names.split():
            value = getattr(args, name)
            if value is not None and not (math.isfinite(value) and ok(value)):
                raise SystemExit(f"error: --{name.replace('_', '-')} must be finite and {allowed}, got {value}")


def with_task_settings(args, domain, task):
    """-> args with DrQ-v2's settings for the task where the command line leaves them out (TASKS), and the reset
    window: the noise schedule's length x action repeat (None for a constant schedule). A suite task outside the
    table gets cfgs/config.yaml's settings and must be given the frames and the noise schedule."""
    env_id = f"{domain}_{task}"
    if env_id in TASKS:
        group, extra = TASKS[env_id]
        settings = {**CONFIG, **GROUPS[group], **extra}
    else:
        missing = [name for name in ("num_train_frames", "stddev_schedule") if getattr(args, name) is None]
        if missing:
            flags = " and ".join(f"--{name.replace('_', '-')}" for name in missing)
            raise SystemExit(
                f"error: --env-id {args.env_id} has no DrQ-v2 settings (cfgs/task/*.yaml): give {flags} (DrQ-v2's easy "
                "tasks: --num-train-frames 1100000 --stddev-schedule 'linear(1.0,0.1,100000)', medium 3100000 and "
                "'linear(1.0,0.1,500000)')"
            )
        settings = dict(CONFIG)
    settings = {name: value if getattr(args, name) is None else getattr(args, name) for name, value in settings.items()}
    args = dataclasses.replace(args, **settings)
    if args.reset_window is None:
        schedule_steps = parse_schedule(args.stddev_schedule)[1]
        args.reset_window = None if schedule_steps is None else schedule_steps * args.action_repeat
    return args


def steps_per_episode(args):
    """Agent steps of a whole episode (the task's 1000 frames or --max-episode-frames, in action repeats)."""
    return -(-min(args.max_episode_frames or TASK_FRAMES, TASK_FRAMES) // args.action_repeat)


def replay_slots(args):
    """Frames the replay ring holds. `uniform`: --replay-buffer-size. `loader`: room for the workers' transitions,
    each of their episodes' first frame and two more episodes (the running one and one not read yet), so the
    workers' own eviction decides what leaves, as in DrQ-v2. Never more than the run can write (with the buffer
    kept at resets, unknown)."""
    slots, steps = args.replay_buffer_size, steps_per_episode(args)
    if args.replay == "loader":
        slots += LOADER_WORKERS * max(1, args.replay_buffer_size // LOADER_WORKERS // steps) + 2 * (steps + 1)
    if not args.reset_keep_buffer:
        train_steps = args.num_train_frames // args.action_repeat
        slots = min(slots, train_steps + train_steps // steps + 2)  # a frame a step and after each reset (+ a rule's)
    return slots


def readings_per_window(args, window):
    """How many mlp1 gradient norms the rule reads in a window of `window` frames from a (re)start: updates begin
    after the seed frames; `eval` reads at each evaluation the norm the updates before it left, `update` reads at
    every update; the window closes at the first reading `window` frames or more after its start."""
    seed_steps, every = args.num_seed_frames // args.action_repeat, args.update_every_steps
    first_update = -(-seed_steps // every) * every  # agent steps from the start
    window_steps = -(-window // args.action_repeat)
    if args.reset_check == "eval":
        eval_every_steps = max(1, args.eval_every_frames // args.action_repeat)
        return max(1, -(-window_steps // eval_every_steps) - first_update // eval_every_steps)
    return max(1, -(-window_steps // every) - first_update // every + 1)


def check_args(args):
    """Stop with one clear line on input this script cannot serve, before any environment is made; -> args with the
    task's settings filled in."""
    check_numbers(
        args,
        positive="num_train_frames action_repeat frame_stack image_size eval_every_frames num_eval_episodes "
        "replay_buffer_size nstep batch_size lr feature_dim hidden_dim critic_target_tau update_every_steps "
        "max_episode_frames reset_window reset_consecutive",
        non_negative="num_seed_frames num_expl_steps stddev_clip reset_threshold",
        probability="discount",
    )
    if not 0 <= args.seed < 2**32:  # numpy and the envs take 32-bit seeds
        raise SystemExit(f"error: --seed must be in [0, 2**32), got {args.seed}")
    if args.critic_target_tau > 1:
        raise SystemExit(f"error: --critic-target-tau {args.critic_target_tau} must be at most 1")
    if args.image_size != 84:
        raise SystemExit(f"error: --image-size {args.image_size}: the encoder's 35x35 output needs 84")
    resolved = resolve_task(args.env_id)
    if resolved is None:
        raise SystemExit(
            f"error: unknown --env-id {args.env_id!r}: not a dm_control suite task "
            "(domain_task, e.g. walker_walk, cartpole_swingup, ball_in_cup_catch)"
        )
    if resolved[0] == "lqr":  # the suite's only tasks without a time limit
        raise SystemExit(
            f"error: --env-id {args.env_id}: the lqr tasks have no time limit (an evaluation would never end) and "
            "actions bounded at +-1e10, which DrQ-v2 rescales [-1, 1] to; use another suite task"
        )
    if args.stddev_schedule is not None and parse_schedule(args.stddev_schedule) is None:
        raise SystemExit(
            f"error: --stddev-schedule {args.stddev_schedule!r} is not a stddev or linear(initial,final,steps) "
            "(stddevs finite and non-negative, steps at least 1)"
        )
    args = with_task_settings(args, *resolved)
    nstep, steps = args.nstep, steps_per_episode(args)
    if args.num_seed_frames > args.num_train_frames:
        raise SystemExit(f"error: --num-seed-frames {args.num_seed_frames} exceeds --num-train-frames {args.num_train_frames}")
    if args.num_seed_frames // args.action_repeat < nstep:
        raise SystemExit(
            f"error: --num-seed-frames {args.num_seed_frames} gives fewer agent steps than --nstep {nstep}: "
            "the first update would find no transition"
        )
    if steps < nstep:
        raise SystemExit(
            f"error: --nstep {nstep} exceeds the agent steps of an episode ({steps * args.action_repeat} frames, "
            f"--action-repeat {args.action_repeat}): no transition could be sampled"
        )
    if args.replay == "loader" and args.num_seed_frames // args.action_repeat < LOADER_WORKERS * steps:
        raise SystemExit(
            f"error: --num-seed-frames {args.num_seed_frames}: --replay loader samples finished episodes only and each "
            f"of its {LOADER_WORKERS} workers needs one by the first update: give at least {LOADER_WORKERS} episodes "
            f"({LOADER_WORKERS * steps * args.action_repeat} frames) or --replay uniform"
        )
    if args.replay == "loader" and args.replay_buffer_size // LOADER_WORKERS < steps:
        raise SystemExit(
            f"error: --replay-buffer-size {args.replay_buffer_size}: each of the {LOADER_WORKERS} loader workers keeps "
            f"{args.replay_buffer_size // LOADER_WORKERS} transitions, less than an episode ({steps}); raise it or "
            "use --replay uniform"
        )
    if args.batch_size > args.replay_buffer_size:
        raise SystemExit(
            f"error: --batch-size {args.batch_size} exceeds the replay capacity --replay-buffer-size {args.replay_buffer_size}"
        )
    if args.replay_buffer_size < nstep + args.frame_stack:
        raise SystemExit(
            f"error: --replay-buffer-size {args.replay_buffer_size} cannot hold one transition "
            f"(needs --nstep + --frame-stack = {nstep + args.frame_stack} frames)"
        )
    if args.reset_rule and args.reset_window is None:
        raise SystemExit("error: a constant --stddev-schedule has no decay length: give --reset-window")
    readings = readings_per_window(args, args.reset_window) if args.reset_rule else args.reset_consecutive
    if readings < args.reset_consecutive and args.reset_window < args.num_train_frames:  # else the window never closes
        raise SystemExit(
            f"error: --reset-window {args.reset_window} holds {readings} readings of the mlp1 gradient norm (one per "
            f"{'evaluation' if args.reset_check == 'eval' else 'update'} after the {args.num_seed_frames} seed frames) "
            f"and an escape needs --reset-consecutive {args.reset_consecutive}: every run would be reset; lengthen it"
        )
    return args


def refuse_cleanrl_flags(argv):
    """CleanRL's --total-timesteps counts agent steps; this script counts frames as DrQ-v2 does (one line, not tyro's
    box)."""
    for arg in argv:
        if arg.split("=")[0] in ("--total-timesteps", "--total_timesteps"):
            raise SystemExit(
                "error: --total-timesteps is not a flag here: use --num-train-frames (environment frames, agent steps x "
                "--action-repeat; default: the task's, 1100000 for easy tasks)"
            )


def replay_device(args, device, slots):
    """Where the replay frames go: the GPU for `--buffer-device cuda` if one is in use and has room for `slots`
    frames, else the host."""
    if args.buffer_device == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        print("note: no GPU in use, the replay buffer stays on the host (--buffer-device cpu silences this)", file=sys.stderr)
        return torch.device("cpu")
    need, free = slots * 3 * args.image_size**2, torch.cuda.mem_get_info(device)[0]
    if need > free - 2e9:  # leave about 2 GB to the networks and a batch's activations (an estimate)
        raise SystemExit(
            f"error: --buffer-device cuda: --replay-buffer-size {args.replay_buffer_size} takes {need / 1e9:.1f} GB of "
            f"GPU memory and {free / 1e9:.1f} GB is free (2 GB kept for training); lower it or use --buffer-device cpu"
        )
    return device


def stop_on_signal():
    """Ctrl-C or SIGTERM ends training after the current agent step, so the logs and the model are kept;
    a second signal aborts at once."""
    received = []

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        print(f"{received[0]}: stopping after this agent step (again to abort)", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    return received


def progress(global_frame, total_frames, now, start_time, update_start):
    """CleanRL's `SPS:` line with the frame out of the total and the time left: the frames left at the rate measured
    since the first update, `update_start` = (frame, time); the seed frames before it (no update) run much faster.
    Times on one clock that leaves evaluations out."""
    sps = int(global_frame / (now - start_time))
    left = max(total_frames - global_frame, 0)
    line = f"SPS: {sps} | step {global_frame}/{total_frames} | ETA "
    if left and (update_start is None or global_frame <= update_start[0]):
        return line + "after the seed frames"
    seconds = left and left * (now - update_start[1]) / (global_frame - update_start[0])
    return line + f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def nonfinite_terms(model, **losses):
    """Names of the losses and parameters that are NaN or infinite (one host sync)."""
    named = list(losses.items()) + list(model.named_parameters())
    finite = torch.stack([torch.isfinite(value).all() for _, value in named]).tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok]


def evaluate(env, agent, num_episodes, frame_stack, device, video_frames=None, stop=()):
    """Mean return and length (frames) over episodes with the mean action; frames of the first episode
    are appended to `video_frames` when it is a list. Ends after the current episode once `stop` holds a
    signal; NaN if the actor outputs a non-finite action (it has diverged, and MuJoCo would refuse it)."""
    returns, lengths = [], []
    for episode in range(num_episodes):
        frame = env.reset()
        frames = deque([frame] * frame_stack, maxlen=frame_stack)
        episode_return, steps, done = 0.0, 0, False
        while not done:
            if video_frames is not None and episode == 0:
                video_frames.append(frame.transpose(1, 2, 0))
            obs = torch.as_tensor(np.concatenate(frames), device=device)[None]
            with torch.no_grad():
                action = agent.actor(agent.encoder(obs.float()))[0].cpu().numpy()
            if not np.isfinite(action).all():
                return math.nan, math.nan
            frame, reward, _, done = env.step(action)
            frames.append(frame)
            episode_return, steps = episode_return + reward, steps + 1
        returns.append(episode_return)
        lengths.append(steps * env.action_repeat)
        if stop:
            break
    return float(np.mean(returns)), float(np.mean(lengths))


if __name__ == "__main__":
    refuse_cleanrl_flags(sys.argv[1:])
    args = check_args(tyro.cli(Args))
    domain, task = resolve_task(args.env_id)
    stddev_at = parse_schedule(args.stddev_schedule)[0]
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            monitor_gym=False,  # no gym environment here: the videos are logged below
            save_code=True,
        )
    writer = SummaryWriter(f"runs/{run_name}")
    print(f"logs: runs/{run_name} (tensorboard --logdir runs)")
    writer.add_text(
        "hyperparameters",
        "|param|value|\n|-|-|\n%s" % ("\n".join([f"|{key}|{value}|" for key, value in vars(args).items()])),
    )

    # seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.backends.cudnn.benchmark = not args.torch_deterministic

    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and not torch.cuda.is_available():
        print("note: no GPU available, running on the CPU (--no-cuda silences this)", file=sys.stderr)
    slots = replay_slots(args)
    buffer_device = replay_device(args, device, slots)

    # env setup: DrQ-v2 gives the training and the evaluation environment the same seed
    env_kwargs = dict(size=args.image_size, fast_render=args.fast_render, max_episode_frames=args.max_episode_frames)
    env = DMCEnv(domain, task, args.seed, args.action_repeat, **env_kwargs)
    eval_env = DMCEnv(domain, task, args.seed, args.action_repeat, **env_kwargs)
    frame_shape = (3, args.image_size, args.image_size)
    obs_shape = (3 * args.frame_stack, args.image_size, args.image_size)

    agent = Agent(obs_shape, env.action_dim, args.feature_dim, args.hidden_dim).to(device)
    if args.dead_mlp1_start:
        kill_mlp1(agent.actor)
    optimizers = make_optimizers(agent, args.lr)
    aug = RandomShiftsAug(pad=4)
    loader = None
    if args.replay == "loader":  # make_replay_loader: each worker keeps max_size // num_workers transitions
        loader = LoaderReplay(args.replay_buffer_size // LOADER_WORKERS, LOADER_WORKERS, FETCH_EVERY, args.seed)
    rb = ReplayBuffer(slots, frame_shape, env.action_dim, args.frame_stack, args.nstep, args.discount, buffer_device, loader)
    rule = ResetRule(args.reset_window, args.reset_threshold, args.reset_consecutive)
    seed_steps = args.num_seed_frames // args.action_repeat
    eval_every_steps = max(1, args.eval_every_frames // args.action_repeat)
    num_train_steps = args.num_train_frames // args.action_repeat

    start_time, eval_time = time.time(), 0.0  # charts/SPS leaves evaluation time out
    update_start = None  # (frame, time less evaluations) of the first update: the ETA's rate
    trial_start = 0  # the agent step at which training last (re)started from scratch
    mlp1_grad_norm, logs, last_log_step, done = None, None, -100, False
    stop, diverged = stop_on_signal(), []
    last_finite = copy.deepcopy(agent.state_dict()) if args.save_model else None
    print(f"evaluating the initial policy ({args.num_eval_episodes} episode{'s' * (args.num_eval_episodes > 1)}) ...")
    for global_step in range(num_train_steps):
        global_frame = global_step * args.action_repeat
        if stop or diverged:
            break

        if global_step % eval_every_steps == 0:
            eval_start, video = time.time(), [] if args.capture_video else None
            eval_return, eval_length = evaluate(eval_env, agent, args.num_eval_episodes, args.frame_stack, device, video, stop)
            if math.isnan(eval_return):
                diverged = nonfinite_terms(agent) or ["the evaluation's action"]
                break
            print(f"global_frame={global_frame}, eval_return={eval_return:.1f}")
            writer.add_scalar("eval/episodic_return", eval_return, global_frame)
            writer.add_scalar("eval/episodic_length", eval_length, global_frame)
            if rb.count > args.nstep + 1:  # a uniform batch: the loader's batches stay as in training
                obs_batch = torch.as_tensor(rb.sample(0, t=rb.uniform_indices(args.batch_size))[0], device=device)
                for tag, value in collapse_metrics(agent, obs_batch).items():
                    writer.add_scalar(tag, value, global_frame)
            if video:
                from moviepy import ImageSequenceClip

                os.makedirs(f"videos/{run_name}", exist_ok=True)
                video_path = f"videos/{run_name}/eval_{global_frame}.mp4"
                ImageSequenceClip(video, fps=20).write_videofile(video_path, logger=None)
                if args.track:
                    wandb.log({"videos": wandb.Video(video_path, format="mp4")})
            eval_time += time.time() - eval_start
            # the rule reads the norm the last actor update left; a reset restarts training from scratch now
            if args.reset_rule and args.reset_check == "eval" and mlp1_grad_norm is not None:
                if apply_rule(rule, mlp1_grad_norm.item(), global_frame, writer):
                    optimizers = reset_training(agent, optimizers, rb, args.lr, args.reset_keep_buffer)
                    trial_start, logs, mlp1_grad_norm = global_step, None, None

        if done or global_step == trial_start:  # a new episode: the last one ended, or training (re)started
            frame = env.reset()
            rb.add(frame, first=True)
            frames = deque([frame] * args.frame_stack, maxlen=args.frame_stack)
            episode_return, episode_steps = 0.0, 0
        trial_step = global_step - trial_start
        stddev = stddev_at(trial_step)

        # ALGO LOGIC: put action logic here
        if trial_step < args.num_expl_steps:
            action = np.random.uniform(-1.0, 1.0, env.action_dim).astype(np.float32)
        else:
            with torch.no_grad():
                obs = torch.as_tensor(np.concatenate(frames), device=device)[None]
                mu = agent.actor(agent.encoder(obs.float()))
                action = sample_action(mu, stddev)[0].cpu().numpy()
            if not np.isfinite(action).all():  # on the host already (no sync); MuJoCo would refuse it
                diverged = nonfinite_terms(agent) or ["action"]
                break

        # ALGO LOGIC: training.
        if trial_step >= seed_steps and global_step % args.update_every_steps == 0:
            update_start = update_start or (global_frame, time.time() - eval_time)
            batch = tuple(torch.as_tensor(x, device=device) for x in rb.sample(args.batch_size))
            logs = update(agent, optimizers, aug, batch, stddev, args)
            mlp1_grad_norm = logs["mlp1_grad_norm"]
            # `--reset-check update`: the rule reads every update (a host sync); after a reset this step's transition
            # is the fresh buffer's first frame and the next step starts a new episode
            if (
                args.reset_rule
                and args.reset_check == "update"
                and apply_rule(rule, mlp1_grad_norm.item(), global_frame, writer)
            ):
                optimizers = reset_training(agent, optimizers, rb, args.lr, args.reset_keep_buffer)
                trial_start, logs, mlp1_grad_norm = global_step + 1, None, None

        # execute the environment step and log data
        frame, reward, discount, done = env.step(action)
        rb.add(frame, action, reward, discount, last=done)
        frames.append(frame)
        episode_return, episode_steps = episode_return + reward, episode_steps + 1
        if done:
            print(f"global_frame={global_frame + args.action_repeat}, episodic_return={episode_return:.1f}")
            writer.add_scalar("charts/episodic_return", episode_return, global_frame + args.action_repeat)
            writer.add_scalar("charts/episodic_length", episode_steps * args.action_repeat, global_frame + args.action_repeat)
            sps = round((global_frame + args.action_repeat) / (time.time() - start_time - eval_time), 1)
            now = time.time() - eval_time
            print(progress(global_frame + args.action_repeat, args.num_train_frames, now, start_time, update_start))
            writer.add_scalar("charts/SPS", sps, global_frame + args.action_repeat)

        if logs is not None and global_step - last_log_step >= 100:  # the first update every 100 steps
            last_log_step = global_step
            writer.add_scalar("losses/critic_loss", logs["critic_loss"].item(), global_frame)
            writer.add_scalar("losses/actor_loss", logs["actor_loss"].item(), global_frame)
            writer.add_scalar("losses/qf_values", logs["qf_values"].item(), global_frame)
            writer.add_scalar("charts/stddev", stddev, global_frame)
            writer.add_scalar("reset/mlp1_grad_norm", mlp1_grad_norm.item(), global_frame)
            diverged = nonfinite_terms(agent, critic_loss=logs["critic_loss"], actor_loss=logs["actor_loss"])
            if diverged:
                writer.flush()
            elif args.save_model:
                last_finite = copy.deepcopy(agent.state_dict())
    else:
        global_frame = num_train_steps * args.action_repeat  # the frames done, as after a break

    diverged = diverged or nonfinite_terms(agent)  # the steps since the last check
    writer.add_scalar("reset/count", rule.resets, global_frame)
    if args.save_model:
        if diverged:
            agent.load_state_dict(last_finite)  # the last finite model
        model_path = f"runs/{run_name}/{args.exp_name}.cleanrl_model"
        torch.save(agent.state_dict(), model_path)
        print(f"model saved to {model_path}")

    env.close()
    eval_env.close()
    writer.close()
    if diverged:
        names = ", ".join(diverged[:3]) + (f" and {len(diverged) - 3} more" if len(diverged) > 3 else "")
        raise SystemExit(f"error: training diverged at global_frame={global_frame}: {names} not finite")
    if stop:
        raise SystemExit(f"error: stopped by {stop[0]} at global_frame={global_frame}; logs in runs/{run_name}")
