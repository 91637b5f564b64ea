# ACPG (Action Collapse Policy Gradient, Zhou et al., arXiv 2509.02737) on PPO for Atari: the actor's last layer is a
# fixed simplex equiangular tight frame (ETF), a buffer never trained, so only the backbone learns to place each state's
# features on its action's vertex; `--no-etf` restores the learned head. A fork of the script below (`diff` them): the ETF
# head (`SimplexETF`, `--etf-scale`, `--feature-dim`) and, every `--metrics-every` iterations, the rollout features'
# collapse metrics by greedy action (`collapse/`), ranks, dead units and norms (`repr/`).
# CleanRL's ppo_atari.py (MIT, https://github.com/vwxyzjn/cleanrl, fe8d8a03) ported to gymnasium 1.x and ale-py's
# native vector environment, and nothing else: the parent of ppo_etf_atari.py and ppo_pfo_atari.py. What differs:
# - environments: ALE/<Game>-v5 ids on ale_py's AtariVectorEnv (C++ threads) with upstream's preprocessing (30 noops,
#   frame skip 4 max-pooled, a termination at each life loss, fire at a new game, 84x84 grayscale, 4 frames), v5's
#   sticky actions (`--repeat-action-probability`, 0.25; upstream's v4 ids have 0) and SAME_STEP autoreset; nothing
#   presses FIRE after a life loss; the script clips rewards, so `charts/episodic_return` is a full game's score;
# - `--capture-video` films one game every `--video-interval` iterations (excluded from SPS); `--save-model`;
# - speed: uint8 observations, minibatch indices on the device, one host sync per iteration, channels_last;
# - bad input, a diverged loss and Ctrl-C/SIGTERM stop with one line; logs and the model are kept.
import copy
import difflib
import math
import os
import random
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import ale_py
import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
import tyro
from torch.distributions.categorical import Categorical
from torch.utils.tensorboard import SummaryWriter

from metrics_common import action_collapse_metrics, dead_units, mean_norm, rank_metrics, zero_fraction

gym.register_envs(ale_py)


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
    video_interval: int = 50
    """with `--capture-video`, film one game of the current policy at the first and every this many iterations"""
    eval_episodes: int = 10
    """with `--save-model`, games played by the reloaded model after training (`eval/episodic_return`)"""
    compile: bool = False
    """if toggled, torch.compile the agent's forward and backward passes (CUDA graphs on a GPU)"""

    # Algorithm specific arguments
    env_id: str = "ALE/Breakout-v5"
    """the id of the environment"""
    repeat_action_probability: float = 0.25
    """sticky actions (v5's 0.25; 0 matches upstream's v4 ids)"""
    total_timesteps: int = 10000000
    """total timesteps of the experiments"""
    learning_rate: float = 2.5e-4
    """the learning rate of the optimizer"""
    num_envs: int = 8
    """the number of parallel game environments"""
    num_steps: int = 128
    """the number of steps to run in each environment per policy rollout"""
    anneal_lr: bool = True
    """Toggle learning rate annealing for policy and value networks"""
    gamma: float = 0.99
    """the discount factor gamma"""
    gae_lambda: float = 0.95
    """the lambda for the general advantage estimation"""
    num_minibatches: int = 4
    """the number of mini-batches"""
    update_epochs: Annotated[int, tyro.conf.arg(aliases=("--epochs",))] = 4
    """the K epochs to update the policy"""
    norm_adv: bool = True
    """Toggles advantages normalization"""
    clip_coef: float = 0.1
    """the surrogate clipping coefficient"""
    clip_vloss: bool = True
    """Toggles whether or not to use a clipped loss for the value function, as per the paper."""
    ent_coef: float = 0.01
    """coefficient of the entropy"""
    vf_coef: float = 0.5
    """coefficient of the value function"""
    max_grad_norm: float = 0.5
    """the maximum norm for the gradient clipping"""
    target_kl: float | None = None
    """the target KL divergence threshold"""

    # ACPG arguments
    etf: bool = True
    """if toggled, the actor's last layer is a fixed simplex ETF (ACPG); `--no-etf` is upstream's learned head"""
    etf_scale: float = 1.0
    """logits = etf_scale * h @ W; 1 keeps the ETF's unit-norm columns (the paper leaves the scale open)"""
    feature_dim: int = 512
    """width d of the Nature CNN's feature layer (upstream: 512); the ETF needs d >= number of actions"""
    metrics_every: int = 1
    """compute the `collapse/` and `repr/` metrics at the first and every this many iterations"""

    # to be filled in runtime
    batch_size: int = 0
    """the batch size (computed in runtime)"""
    minibatch_size: int = 0
    """the mini-batch size (computed in runtime)"""
    num_iterations: int = 0
    """the number of iterations (computed in runtime)"""


def make_env(env_id, num_envs, **kwargs):
    """ale-py's native vector env with upstream's wrappers as settings. SAME_STEP autoreset, as upstream's GAE assumes."""
    settings = dict(
        noop_max=30,  # NoopResetEnv
        frameskip=4,  # MaxAndSkipEnv: repeat the action 4 frames, max-pool the last two
        maxpool=True,
        use_fire_reset=True,  # FireResetEnv
        episodic_life=False,  # True would restart the whole game at each life loss
        life_loss_info=True,  # EpisodicLifeEnv: a termination at each life loss, the game goes on
        reward_clipping=False,  # ClipRewardEnv is done by the script, so the env's rewards are the raw score
        img_height=84,  # ResizeObservation, GrayScaleObservation, FrameStack
        img_width=84,
        grayscale=True,
        stack_num=4,
    )
    vectorization = dict(vectorization_mode="vector_entry_point", autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return gym.make_vec(env_id, num_envs, **vectorization, **(settings | kwargs))


class GameStatistics:
    """Raw score and length (agent steps) of each full game, per env: what upstream's RecordEpisodeStatistics
    reports below its life-loss and reward-clipping wrappers. A game ends where the env starts a new one, seen as
    a move of the frame it started at (frame_number - episode_frame_number); with SAME_STEP autoreset the step's
    info already describes the new game, so its `lives` cannot tell."""

    def __init__(self, info):
        self.game_start = info["frame_number"] - info["episode_frame_number"]
        self.returns = np.zeros(len(self.game_start))
        self.lengths = np.zeros(len(self.game_start), dtype=np.int64)

    def update(self, reward, terminations, truncations, info):
        """Count one step of every env; return the (returns, lengths) arrays of the games that ended in it."""
        self.returns += reward
        self.lengths += 1
        game_start = info["frame_number"] - info["episode_frame_number"]
        ended = np.flatnonzero((terminations | truncations) & (game_start != self.game_start))
        self.game_start = game_start
        finished = self.returns[ended], self.lengths[ended]
        self.returns[ended], self.lengths[ended] = 0, 0
        return finished


def record_game(agent, env_id, seed, path, device, max_steps=4500, **kwargs):
    """Play one game (at most max_steps agent steps) with the current policy into an mp4. The agent sees the
    training preprocessing; the frames come from a twin env stepped in lockstep with the same seed and actions,
    which returns full-size colour frames (the ALE is deterministic given both)."""
    import imageio_ffmpeg  # installed with moviepy, which gymnasium's RecordVideo uses

    play = make_env(env_id, 1, **kwargs)
    film = make_env(env_id, 1, **kwargs, grayscale=False, img_height=210, img_width=160, stack_num=1)
    (obs, info), (frames, _) = play.reset(seed=seed), film.reset(seed=seed)
    game = GameStatistics(info)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    video = imageio_ffmpeg.write_frames(path, (160, 210), fps=15, macro_block_size=1, ffmpeg_log_level="error")
    video.send(None)
    for _ in range(max_steps):
        video.send(np.ascontiguousarray(frames[0, -1]))
        with torch.no_grad():
            action = agent.get_action_and_value(torch.from_numpy(obs).to(device))[0].cpu().numpy()
        obs, reward, terminations, truncations, info = play.step(action)
        frames = film.step(action)[0]
        if len(game.update(reward, terminations, truncations, info)[0]):
            break
    video.close()
    play.close()
    film.close()


def evaluate(model_path, agent, env_id, eval_episodes, seed, device, **kwargs):
    """CleanRL's evaluation after --save-model: reload the saved file and play eval_episodes full games in a row."""
    agent.load_state_dict(torch.load(model_path, map_location=device))
    envs = make_env(env_id, 1, **kwargs)
    obs, info = envs.reset(seed=seed)
    games, episodic_returns = GameStatistics(info), []
    while len(episodic_returns) < eval_episodes:
        with torch.no_grad():
            action = agent.get_action_and_value(torch.from_numpy(obs).to(device))[0].cpu().numpy()
        obs, reward, terminations, truncations, info = envs.step(action)
        for episodic_return in games.update(reward, terminations, truncations, info)[0]:
            print(f"eval_episode={len(episodic_returns)}, episodic_return={episodic_return}")
            episodic_returns.append(episodic_return)
    envs.close()
    return episodic_returns


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def simplex_etf(dim, num_actions):
    """ACPG's fixed action layer W (dim x K) = sqrt(K/(K-1)) U (I_K - 11^T/K), U^T U = I_K from the QR of a
    Gaussian: unit-norm columns, pairwise cosine -1/(K-1), columns summing to zero."""
    if num_actions < 2 or dim < num_actions:
        raise ValueError(f"the ETF needs 2 <= K <= d, got K={num_actions} and d={dim}")
    u, _ = torch.linalg.qr(torch.randn(dim, num_actions))
    centring = torch.eye(num_actions) - torch.ones(num_actions, num_actions) / num_actions
    return (num_actions / (num_actions - 1)) ** 0.5 * u @ centring


class SimplexETF(nn.Module):
    """ACPG's actor head: logits = scale * h @ W. W is a buffer stored as `weight` (K x d, as nn.Linear's), so it is
    saved and moved with the model and never seen by the optimizer."""

    def __init__(self, dim, num_actions, scale=1.0):
        super().__init__()
        self.register_buffer("weight", simplex_etf(dim, num_actions).T.contiguous())
        self.scale = scale

    def forward(self, hidden):
        return self.scale * hidden @ self.weight.T


class Agent(nn.Module):
    def __init__(self, envs, etf=True, etf_scale=1.0, feature_dim=512):
        super().__init__()
        self.network = nn.Sequential(
            layer_init(nn.Conv2d(4, 32, 8, stride=4)),
            nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
            layer_init(nn.Linear(64 * 7 * 7, feature_dim)),
            nn.ReLU(),
        )
        if etf:
            self.actor = SimplexETF(feature_dim, envs.single_action_space.n, etf_scale)
        else:
            self.actor = layer_init(nn.Linear(feature_dim, envs.single_action_space.n), std=0.01)
        self.critic = layer_init(nn.Linear(feature_dim, 1), std=1)

    def get_value(self, x):
        return self.critic(self.network(x / 255.0))

    def get_action_and_value(self, x, action=None):
        hidden = self.network(x / 255.0)
        self.features = hidden  # kept for the rollout's metrics (upstream's four outputs unchanged)
        logits = self.actor(hidden)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden)


def rollout_metrics(agent, hidden):
    """ACPG's collapse metrics and the representation metrics of the rollout's features (N x d), grouped by greedy action."""
    with torch.no_grad():
        logits = agent.actor(hidden)
    metrics = {"collapse/policy_entropy": Categorical(logits=logits).entropy().mean().item()}
    nc = action_collapse_metrics(hidden, logits.argmax(dim=1), agent.actor.weight.T)
    metrics.update({f"collapse/{key}": value for key, value in nc.items()})
    metrics.update({f"repr/{key}": value for key, value in rank_metrics(hidden).items()})
    metrics["repr/dead_units"] = dead_units(hidden, "relu")
    metrics["repr/zero_fraction"] = zero_fraction(hidden)
    metrics["repr/feature_norm"] = mean_norm(hidden)
    return metrics


def check_numbers(args, positive="", non_negative="", probability=""):
    """Stop with one line at the first numeric flag (space-separated names) that is not finite or breaks its rule."""
    rules = ((positive, "positive", lambda v: v > 0), (non_negative, "non-negative", lambda v: v >= 0))
    for names, allowed, ok in rules + ((probability, "in [0, 1]", lambda v: 0 <= v <= 1),):
        for name in names.split():
            value = getattr(args, name)
            if value is not None and not (math.isfinite(value) and ok(value)):
                raise SystemExit(f"error: --{name.replace('_', '-')} must be finite and {allowed}, got {value}")


def check_batch(args, frames_per_step=1):
    """Stop with one line unless the budget (steps or frames) holds a batch and the minibatches split it evenly."""
    if args.batch_size or args.minibatch_size or args.num_iterations:
        raise SystemExit(
            "error: --batch-size, --minibatch-size and --num-iterations are computed; set --num-envs, "
            "--num-steps, --num-minibatches and --total-timesteps instead"
        )
    batch_size = args.num_envs * args.num_steps
    if args.total_timesteps < batch_size * frames_per_step:
        raise SystemExit(
            f"error: --total-timesteps {args.total_timesteps} is below one batch ({batch_size * frames_per_step})"
        )
    if batch_size % args.num_minibatches:
        raise SystemExit(f"error: --num-minibatches {args.num_minibatches} does not divide the batch {batch_size}")


def check_atari_id(env_id):
    """Stop with one line unless env_id is an ALE/<Game>-v5 id, naming the id or the script to use instead."""
    legacy = re.fullmatch(r"(?:ALE/)?(\w+?)(?:NoFrameskip|Deterministic)?-v[045]", env_id)
    if legacy and env_id != f"ALE/{legacy[1]}-v5" and f"ALE/{legacy[1]}-v5" in gym.registry:
        raise SystemExit(
            f"error: --env-id {env_id}: use ALE/{legacy[1]}-v5 (the script applies upstream's wrappers; "
            "with --repeat-action-probability 0 for upstream's v4 settings)"
        )
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, gym.registry, n=1)
        raise SystemExit(f"error: unknown --env-id {env_id!r}" + (f"; did you mean {close[0]}?" if close else ""))
    if gym.spec(env_id).vector_entry_point != "ale_py.vector_env:AtariVectorEnv":
        raise SystemExit(f"error: --env-id {env_id} is not an Atari game; use ppo_classic.py (ppo_etf_classic.py for ACPG)")


def check_args(args):
    """Stop with one clear line on input this script cannot serve."""
    check_numbers(
        args,
        positive="total_timesteps learning_rate num_envs num_steps num_minibatches update_epochs clip_coef max_grad_norm "
        "target_kl video_interval eval_episodes etf_scale feature_dim metrics_every",
        non_negative="ent_coef vf_coef",
        probability="gamma gae_lambda repeat_action_probability",
    )
    if not 0 <= args.seed < 2**32:  # numpy and the envs take 32-bit seeds
        raise SystemExit(f"error: --seed must be in [0, 2**32), got {args.seed}")
    check_batch(args)
    check_atari_id(args.env_id)
    envs = make_env(args.env_id, 1)  # every game has K >= 2 actions; the ETF also needs K <= d
    if args.etf and envs.single_action_space.n > args.feature_dim:
        raise SystemExit(f"error: the ETF needs --feature-dim >= {envs.single_action_space.n} actions (or --no-etf)")
    envs.close()


def stop_on_signal():
    """Ctrl-C or SIGTERM ends training after the current iteration, so the logs and the model are kept;
    a second signal aborts at once."""
    received = []

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        print(f"{received[0]}: stopping after this iteration (again to abort)", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    return received


def progress(global_step, total_timesteps, start_time):
    """CleanRL's `SPS:` line with the step out of the total and the time left."""
    sps = int(global_step / (time.time() - start_time))
    left = max(total_timesteps - global_step, 0) / max(sps, 1)
    return f"SPS: {sps} | step {global_step}/{total_timesteps} | ETA {left // 3600:.0f}h{left % 3600 // 60:02.0f}m"


def nonfinite_terms(model, **losses):
    """Names of the losses and parameters that are NaN or infinite (one host sync)."""
    named = list(losses.items()) + list(model.named_parameters())
    finite = torch.stack([torch.isfinite(value).all() for _, value in named]).tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok]


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(args)
    args.batch_size = int(args.num_envs * args.num_steps)
    args.minibatch_size = int(args.batch_size // args.num_minibatches)
    args.num_iterations = args.total_timesteps // args.batch_size
    run_name = f"{args.env_id.replace('/', '-')}__{args.exp_name}__{args.seed}__{int(time.time())}"  # one folder
    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            monitor_gym=False,  # wandb's gym hook breaks on gymnasium 1.x: videos are logged below
            save_code=True,
        )
    writer = SummaryWriter(f"runs/{run_name}")
    stop = stop_on_signal()
    print(f"logs: runs/{run_name} (tensorboard --logdir runs)")
    writer.add_text(
        "hyperparameters",
        "|param|value|\n|-|-|\n%s" % ("\n".join([f"|{key}|{value}|" for key, value in vars(args).items()])),
    )

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.distributions.Distribution.set_default_validate_args(False)  # no argument checks: a host sync each

    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and not torch.cuda.is_available():
        print("note: no GPU available, running on the CPU (--no-cuda silences this)", file=sys.stderr)

    # env setup
    env_kwargs = dict(repeat_action_probability=args.repeat_action_probability)
    envs = make_env(args.env_id, args.num_envs, **env_kwargs)
    assert isinstance(envs.single_action_space, gym.spaces.Discrete), "only discrete action space is supported"

    # channels_last: ~1.45x faster CPU convolutions; a fused Adam: one kernel a step
    agent = Agent(envs, args.etf, args.etf_scale, args.feature_dim).to(device, memory_format=torch.channels_last)
    optimizer = optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
    if args.compile:
        mode = "reduce-overhead" if device.type == "cuda" else None
        agent.get_value = torch.compile(agent.get_value, mode=mode)
        agent.get_action_and_value = torch.compile(agent.get_action_and_value, mode=mode)

    # ALGO Logic: Storage setup
    obs = torch.zeros((args.num_steps, args.num_envs) + envs.single_observation_space.shape, dtype=torch.uint8).to(device)
    actions = torch.zeros((args.num_steps, args.num_envs) + envs.single_action_space.shape).to(device)
    logprobs = torch.zeros((args.num_steps, args.num_envs)).to(device)
    rewards = torch.zeros((args.num_steps, args.num_envs)).to(device)
    dones = torch.zeros((args.num_steps, args.num_envs)).to(device)
    values = torch.zeros((args.num_steps, args.num_envs)).to(device)
    features = torch.zeros((args.num_steps, args.num_envs, args.feature_dim)).to(device)
    host_rewards, host_dones = torch.zeros(rewards.shape), torch.zeros(dones.shape)  # the rollout's, uploaded once

    # TRY NOT TO MODIFY: start the game
    global_step = 0
    start_time = time.time()
    next_obs, infos = envs.reset(seed=args.seed)
    games = GameStatistics(infos)
    next_obs = torch.from_numpy(next_obs).to(device)
    next_done = torch.zeros(args.num_envs)
    diverged = []
    last_finite = copy.deepcopy(agent.state_dict()) if args.save_model else None

    for iteration in range(1, args.num_iterations + 1):
        if stop:
            break
        # Annealing the rate if instructed to do so.
        if args.anneal_lr:
            frac = 1.0 - (iteration - 1.0) / args.num_iterations
            lrnow = frac * args.learning_rate
            optimizer.param_groups[0]["lr"] = lrnow

        if args.capture_video and (iteration - 1) % args.video_interval == 0:
            video_start = time.time()
            video_path = f"videos/{run_name}/iteration-{iteration}.mp4"
            record_game(agent, args.env_id, args.seed + iteration, video_path, device, **env_kwargs)
            if args.track:
                wandb.log({"videos": wandb.Video(video_path, format="mp4")})
            start_time += time.time() - video_start  # SPS counts training only

        for step in range(0, args.num_steps):
            global_step += args.num_envs
            obs[step] = next_obs
            host_dones[step] = next_done

            # ALGO LOGIC: action logic
            with torch.inference_mode():  # lighter than no_grad for the per-step forward
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
                features[step] = agent.features
            actions[step] = action
            logprobs[step] = logprob

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            next_done = np.logical_or(terminations, truncations)
            host_rewards[step] = torch.as_tensor(np.sign(reward))
            next_obs = torch.from_numpy(next_obs).to(device)
            next_done = torch.as_tensor(next_done, dtype=torch.float32)

            for episodic_return, episodic_length in zip(*games.update(reward, terminations, truncations, infos)):
                print(f"global_step={global_step}, episodic_return={episodic_return}")
                writer.add_scalar("charts/episodic_return", episodic_return, global_step)
                writer.add_scalar("charts/episodic_length", episodic_length, global_step)

        rewards.copy_(host_rewards)  # one upload an iteration, not two small blocking ones a step
        dones.copy_(host_dones)

        # bootstrap value if not done
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards).to(device)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done.to(device)
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values

        # flatten the batch
        b_obs = obs.reshape((-1,) + envs.single_observation_space.shape).contiguous(memory_format=torch.channels_last)
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1,) + envs.single_action_space.shape).long()
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)
        if (iteration - 1) % args.metrics_every == 0:  # the rollout's features, before the update
            for tag, value in rollout_metrics(agent, features.reshape(-1, args.feature_dim)).items():
                writer.add_scalar(tag, value, global_step)

        # Optimizing the policy and value network
        clipfracs = []
        for epoch in range(args.update_epochs):
            b_inds = torch.randperm(args.batch_size, device=device)
            for start in range(0, args.batch_size, args.minibatch_size):
                end = start + args.minibatch_size
                mb_inds = b_inds[start:end]

                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds])
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()

                with torch.no_grad():
                    # calculate approx_kl http://joschu.net/blog/kl-approx.html
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > args.clip_coef).float().mean()]

                mb_advantages = b_advantages[mb_inds]
                if args.norm_adv:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                # Policy loss
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                # Value loss
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                    v_clipped = b_values[mb_inds] + torch.clamp(
                        newvalue - b_values[mb_inds],
                        -args.clip_coef,
                        args.clip_coef,
                    )
                    v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                    v_loss_max = torch.max(v_loss_unclipped, v_loss_clipped)
                    v_loss = 0.5 * v_loss_max.mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        diverged = nonfinite_terms(agent, value_loss=v_loss, policy_loss=pg_loss, entropy=entropy_loss)
        if args.save_model and not diverged:
            last_finite = copy.deepcopy(agent.state_dict())

        # TRY NOT TO MODIFY: record rewards for plotting purposes
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
        writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
        writer.add_scalar("losses/entropy", entropy_loss.item(), global_step)
        writer.add_scalar("losses/old_approx_kl", old_approx_kl.item(), global_step)
        writer.add_scalar("losses/approx_kl", approx_kl.item(), global_step)
        writer.add_scalar("losses/clipfrac", torch.stack(clipfracs).mean().item(), global_step)
        writer.add_scalar("losses/explained_variance", explained_var, global_step)
        print(progress(global_step, args.total_timesteps, start_time))
        writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)
        if diverged:
            break

    if args.save_model:
        agent.load_state_dict(last_finite)
        model_path = f"runs/{run_name}/{args.exp_name}.cleanrl_model"
        torch.save(agent.state_dict(), model_path)
        print(f"model saved to {model_path}")
        if not (stop or diverged):  # a finished run: play the saved model, as CleanRL does
            episodic_returns = evaluate(
                model_path, agent, args.env_id, args.eval_episodes, args.seed + 1, device, **env_kwargs
            )
            for idx, episodic_return in enumerate(episodic_returns):
                writer.add_scalar("eval/episodic_return", episodic_return, idx)

    envs.close()
    writer.close()
    if diverged:
        raise SystemExit(f"error: training diverged at iteration {iteration}: {', '.join(diverged[:3])} not finite")
    if stop:
        raise SystemExit(f"error: stopped by {stop[0]} at global_step={global_step}; logs in runs/{run_name}")
