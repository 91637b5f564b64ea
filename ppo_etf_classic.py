# ACPG (Action Collapse Policy Gradient, Zhou et al., arXiv 2509.02737) on PPO: the actor's last layer is a fixed simplex ETF
# (equiangular tight frame), never trained (`--no-etf`: learned; `--etf-init`: learned from the ETF). Fork of ppo_classic.py
# (`diff` them): the ETF head (`--etf-scale`, `--hidden-dim`), `--epsilon`, `--exploration`, `collapse/` and `repr/` metrics.
#
# CleanRL's ppo.py (MIT, https://github.com/vwxyzjn/cleanrl, fe8d8a03) ported to gymnasium 1.x, and nothing else:
# the parent of ppo_etf_classic.py, for classic control and toy text. What differs:
# - gymnasium 1.x: SAME_STEP autoreset, so upstream's GAE is unchanged; episode stats read from
#   infos["final_info"]["episode"] masked by infos["final_info"]["_episode"]; videos logged to W&B by the script;
# - toy-text (Discrete) states as one-hot vectors; `--max-episode-steps` bounds every episode;
# - `--epochs` as an alias of `--update-epochs`; `--save-model`, then `--eval-episodes` episodes of the saved model;
# - speed: no argument checks in Categorical, inference_mode, fused Adam, the rollout's rewards and dones uploaded
#   once an iteration, minibatch indices on the device, clip fractions read once an iteration;
# - bad input, a diverged loss and Ctrl-C/SIGTERM stop with one line; logs and the model are kept.
import copy
import difflib
import glob
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
import tyro
from torch.distributions.categorical import Categorical
from torch.utils.tensorboard import SummaryWriter

from metrics_common import action_collapse_metrics, dead_units, mean_norm, rank_metrics


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
    eval_episodes: int = 10
    """with `--save-model`, episodes played by the reloaded model after training (`eval/episodic_return`)"""

    # Algorithm specific arguments
    env_id: str = "CartPole-v1"
    """the id of the environment"""
    total_timesteps: int = 500000
    """total timesteps of the experiments"""
    learning_rate: float = 2.5e-4
    """the learning rate of the optimizer"""
    num_envs: int = 4
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
    clip_coef: float = 0.2
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
    max_episode_steps: int | None = None
    """cap on an episode's length; default: the id's own time limit, or 200 (Taxi-v4's) for ids without one"""

    # ACPG arguments
    etf: bool = True
    """if toggled, the actor's last layer is a fixed simplex ETF (ACPG); `--no-etf` is upstream's learned head"""
    etf_init: bool = False
    """if toggled, the head is `--no-etf`'s, its weight started at the ETF `--etf` fixes (etf_scale * W); overrides `--etf`"""
    etf_scale: float = 1.0
    """logits = etf_scale * h @ W; 1 keeps the ETF's unit-norm columns (the paper leaves the scale open)"""
    hidden_dim: int = 64
    """width d of the actor's hidden layers (upstream: 64, kept by the critic); the ETF needs d >= number of actions"""
    epsilon: float = 0.0
    """exploration rate of the behaviour policy b that acts (see `--exploration`); the ratio's denominator is b's"""
    exploration: Literal["mixture", "greedy"] = "mixture"
    """b = (1 - epsilon) * p + epsilon / K with p = pi_theta (`mixture`) or p = 1[a = argmax pi_theta] (`greedy`)"""
    # to be filled in runtime
    batch_size: int = 0
    """the batch size (computed in runtime)"""
    minibatch_size: int = 0
    """the mini-batch size (computed in runtime)"""
    num_iterations: int = 0
    """the number of iterations (computed in runtime)"""


def make_env(env_id, idx, capture_video, run_name, max_episode_steps=None):
    def thunk():
        if capture_video and idx == 0:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # rgb_array needs no display; probing one prints an SDL "error:"
            env = gym.make(env_id, render_mode="rgb_array", max_episode_steps=max_episode_steps)
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}")
        else:
            env = gym.make(env_id, max_episode_steps=max_episode_steps)
        if isinstance(env.observation_space, gym.spaces.Discrete):  # toy text: each state as a one-hot vector
            one_hot = np.eye(env.observation_space.n, dtype=np.float32)
            env = gym.wrappers.TransformObservation(env, lambda s: one_hot[s], gym.spaces.Box(0, 1, one_hot[0].shape))
        env = gym.wrappers.RecordEpisodeStatistics(env)
        return env

    return thunk


def evaluate(model_path, agent, env_id, eval_episodes, seed, device, max_episode_steps):
    """CleanRL's evaluation after --save-model: reload the saved file and play eval_episodes episodes in a row."""
    agent.load_state_dict(torch.load(model_path, map_location=device))
    same_step = gym.vector.AutoresetMode.SAME_STEP
    envs = gym.vector.SyncVectorEnv([make_env(env_id, 0, False, "", max_episode_steps)], autoreset_mode=same_step)
    obs, _ = envs.reset(seed=seed)
    episodic_returns = []
    while len(episodic_returns) < eval_episodes:
        with torch.no_grad():
            action = agent.get_action_and_value(torch.Tensor(obs).to(device))[0]
        obs, _, _, _, infos = envs.step(action.cpu().numpy())
        if "final_info" in infos:  # one env: its episode ended
            episodic_return = infos["final_info"]["episode"]["r"][0]
            print(f"eval_episode={len(episodic_returns)}, episodic_return={episodic_return}")
            episodic_returns += [episodic_return]
    envs.close()
    return episodic_returns


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def behaviour_logits(logits, epsilon, exploration="mixture"):
    """The behaviour policy b = (1 - eps) p + eps / K, p = pi_theta or 1[a = argmax pi_theta], as logits (in log space)."""
    logits = nn.functional.one_hot(logits.argmax(dim=-1), logits.shape[-1]).log() if exploration == "greedy" else logits
    if epsilon == 0.0:
        return logits
    log_kept = torch.log_softmax(logits, dim=-1) + (np.log1p(-epsilon) if epsilon < 1.0 else -np.inf)
    return torch.logaddexp(log_kept, torch.full_like(log_kept, np.log(epsilon / logits.shape[-1])))


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
    def __init__(self, envs, etf=True, etf_scale=1.0, hidden_dim=64, etf_init=False):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(np.array(envs.single_observation_space.shape).prod(), 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(np.array(envs.single_observation_space.shape).prod(), hidden_dim)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden_dim, hidden_dim)),
            nn.Tanh(),
            SimplexETF(hidden_dim, envs.single_action_space.n, etf_scale)
            if etf or etf_init
            else layer_init(nn.Linear(hidden_dim, envs.single_action_space.n), std=0.01),
        )
        if etf_init:  # --no-etf's head with --etf's initial logits (scale folded in): only the initialisation differs
            head, self.actor[-1] = self.actor[-1], layer_init(nn.Linear(hidden_dim, envs.single_action_space.n), std=0.01)
            self.actor[-1].weight.data.copy_(head.scale * head.weight)

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None, epsilon=0.0, exploration="mixture"):
        logits = self.actor(x)
        probs = Categorical(logits=behaviour_logits(logits, epsilon, exploration))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), (Categorical(logits=logits) if epsilon else probs).entropy(), self.critic(x)


def rollout_metrics(agent, obs):
    """ACPG's collapse metrics and the representation metrics of the actor's features h on the rollout, by greedy action."""
    hidden = agent.actor[:-1](obs).detach()  # one batched forward: the rollout's features, as the weights are unchanged
    logits = agent.actor[-1](hidden).detach()
    metrics = {"collapse/policy_entropy": Categorical(logits=logits).entropy().mean().item()}
    nc = action_collapse_metrics(hidden, logits.argmax(dim=1), agent.actor[-1].weight.T)
    metrics.update({f"collapse/{key}": value for key, value in nc.items()})
    metrics.update({f"repr/{key}": value for key, value in rank_metrics(hidden).items()})
    return metrics | {"repr/dead_units": dead_units(hidden, "tanh"), "repr/feature_norm": mean_norm(hidden)}


def check_numbers(args, positive="", non_negative="", probability=""):
    """Stop with one line at the first numeric flag (space-separated names) that is not finite or breaks its rule."""
    rules = ((positive, "positive", lambda v: v > 0), (non_negative, "non-negative", lambda v: v >= 0))
    for names, allowed, ok in rules + ((probability, "in [0, 1]", lambda v: 0 <= v <= 1),):
        for name in names.split():
            value = getattr(args, name)
            if value is not None and not (math.isfinite(value) and ok(value)):
                raise SystemExit(f"error: --{name.replace('_', '-')} must be finite and {allowed}, got {value}")


def check_env(env_id, atari_script="ppo_atari_ale_vector.py"):
    """Stop with one line unless env_id makes an env with Box or Discrete observations and Discrete actions; return K."""
    if env_id not in gym.registry:  # it may be an Atari id: register them, only to name the right script
        gym.register_envs(__import__("ale_py"))
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, gym.registry, n=1)
        raise SystemExit(f"error: unknown --env-id {env_id!r}" + (f"; did you mean {close[0]}?" if close else ""))
    if str(gym.spec(env_id).entry_point).startswith("ale_py"):
        raise SystemExit(f"error: --env-id {env_id} is an Atari game; use {atari_script}")
    try:
        env = gym.make(env_id)
    except Exception as error:  # e.g. a missing extra (box2d, mujoco)
        raise SystemExit(f"error: --env-id {env_id} cannot be made: {str(error).splitlines()[0]}")
    env.close()
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise SystemExit(f"error: {env_id} has a {type(env.action_space).__name__} action space; only Discrete is supported")
    if not isinstance(env.observation_space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise SystemExit(f"error: {env_id} has {type(env.observation_space).__name__} observations; only Box and Discrete")
    return env.action_space.n


def check_args(args):
    """Stop with one clear line on input this script cannot serve."""
    check_numbers(
        args,
        positive="total_timesteps learning_rate eval_episodes num_envs num_steps num_minibatches update_epochs clip_coef "
        "max_grad_norm target_kl max_episode_steps etf_scale hidden_dim",
        non_negative="ent_coef vf_coef",
        probability="gamma gae_lambda epsilon",
    )
    if not 0 <= args.seed < 2**32:  # numpy and the envs take 32-bit seeds
        raise SystemExit(f"error: --seed must be in [0, 2**32), got {args.seed}")
    if args.batch_size or args.minibatch_size or args.num_iterations:
        raise SystemExit(
            "error: --batch-size, --minibatch-size and --num-iterations are computed; set --num-envs, "
            "--num-steps, --num-minibatches and --total-timesteps instead"
        )
    batch_size = args.num_envs * args.num_steps
    if args.total_timesteps < batch_size:
        raise SystemExit(f"error: --total-timesteps {args.total_timesteps} is below one batch ({batch_size})")
    if batch_size % args.num_minibatches:
        raise SystemExit(f"error: --num-minibatches {args.num_minibatches} does not divide the batch {batch_size}")
    num_actions = check_env(args.env_id, "ppo_etf_atari.py")
    if (args.etf or args.etf_init) and not 2 <= num_actions <= args.hidden_dim:
        raise SystemExit(f"error: the ETF needs 2 <= K <= d, got K={num_actions} and d={args.hidden_dim}; raise --hidden-dim")


def progress(global_step, total_timesteps, start_time):
    """CleanRL's `SPS:` line with the step out of the total and the time left."""
    sps = int(global_step / (time.time() - start_time))
    left = max(total_timesteps - global_step, 0) / max(sps, 1)
    return f"SPS: {sps} | step {global_step}/{total_timesteps} | ETA {left // 3600:.0f}h{left % 3600 // 60:02.0f}m"


def log_videos(folder, logged):
    """Log each new video of RecordVideo to W&B once (wandb's gym hook breaks on gymnasium 1.x)."""
    import wandb

    for path in sorted(set(glob.glob(f"{folder}/*.mp4")) - logged):
        wandb.log({"videos": wandb.Video(path, format="mp4")})
        logged.add(path)


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


def nonfinite_terms(model, **losses):
    """Names of the losses and parameters that are NaN or infinite (one host sync)."""
    named = list(losses.items()) + list(model.named_parameters())
    finite = torch.stack([torch.isfinite(value).all() for _, value in named]).tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok]


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(args)
    args.max_episode_steps = args.max_episode_steps or gym.spec(args.env_id).max_episode_steps or 200
    args.batch_size = int(args.num_envs * args.num_steps)
    args.minibatch_size = int(args.batch_size // args.num_minibatches)
    args.num_iterations = args.total_timesteps // args.batch_size
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
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
    print(f"logs: runs/{run_name} (tensorboard --logdir runs)")
    stop = stop_on_signal()
    writer.add_text(
        "hyperparameters",
        "|param|value|\n|-|-|\n%s" % ("\n".join([f"|{key}|{value}|" for key, value in vars(args).items()])),
    )

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.distributions.Distribution.set_default_validate_args(False)  # argument checks: ~15% of a CartPole step

    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and not torch.cuda.is_available():
        print("note: no GPU available, running on the CPU (--no-cuda silences this)", file=sys.stderr)

    # env setup
    envs = gym.vector.SyncVectorEnv(
        [make_env(args.env_id, i, args.capture_video, run_name, args.max_episode_steps) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    assert isinstance(envs.single_action_space, gym.spaces.Discrete), "only discrete action space is supported"

    agent = Agent(envs, args.etf, args.etf_scale, args.hidden_dim, args.etf_init).to(device)
    optimizer = optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)  # one kernel a step

    # ALGO Logic: Storage setup
    obs = torch.zeros((args.num_steps, args.num_envs) + envs.single_observation_space.shape).to(device)
    actions = torch.zeros((args.num_steps, args.num_envs) + envs.single_action_space.shape).to(device)
    logprobs = torch.zeros((args.num_steps, args.num_envs)).to(device)
    rewards = torch.zeros((args.num_steps, args.num_envs)).to(device)
    dones = torch.zeros((args.num_steps, args.num_envs)).to(device)
    values = torch.zeros((args.num_steps, args.num_envs)).to(device)
    host_rewards, host_dones = torch.zeros(rewards.shape), torch.zeros(dones.shape)  # the rollout's, uploaded once

    # TRY NOT TO MODIFY: start the game
    global_step = 0
    start_time = time.time()
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = torch.Tensor(next_obs).to(device)
    next_done = torch.zeros(args.num_envs)
    diverged, videos_logged = [], set()
    last_finite = copy.deepcopy(agent.state_dict()) if args.save_model else None

    for iteration in range(1, args.num_iterations + 1):
        if stop:
            break
        # Annealing the rate if instructed to do so.
        if args.anneal_lr:
            frac = 1.0 - (iteration - 1.0) / args.num_iterations
            lrnow = frac * args.learning_rate
            optimizer.param_groups[0]["lr"] = lrnow

        for step in range(0, args.num_steps):
            global_step += args.num_envs
            obs[step] = next_obs
            host_dones[step] = next_done

            # ALGO LOGIC: action logic
            with torch.inference_mode():  # lighter than no_grad for the per-step forward
                action, logprob, _, value = agent.get_action_and_value(next_obs, None, args.epsilon, args.exploration)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            next_done = np.logical_or(terminations, truncations)
            host_rewards[step] = torch.as_tensor(reward)
            next_obs = torch.Tensor(next_obs).to(device)
            next_done = torch.Tensor(next_done)

            if "final_info" in infos:
                episode = infos["final_info"]["episode"]
                for i in np.flatnonzero(infos["final_info"]["_episode"]):
                    print(f"global_step={global_step}, episodic_return={episode['r'][i]}")
                    writer.add_scalar("charts/episodic_return", episode["r"][i], global_step)
                    writer.add_scalar("charts/episodic_length", episode["l"][i], global_step)

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
        b_obs = obs.reshape((-1,) + envs.single_observation_space.shape)
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1,) + envs.single_action_space.shape).long()
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)
        for tag, value in rollout_metrics(agent, b_obs).items():  # the rollout policy's, before the update
            writer.add_scalar(tag, value, global_step)

        # Optimizing the policy and value network
        ratio_eps = args.epsilon * (args.exploration == "mixture")  # greedy: pi_theta / b_old, as b has no gradient via argmax
        clipfracs = []
        for epoch in range(args.update_epochs):
            b_inds = torch.randperm(args.batch_size, device=device)
            for start in range(0, args.batch_size, args.minibatch_size):
                end = start + args.minibatch_size
                mb_inds = b_inds[start:end]

                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds], ratio_eps)
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
        if args.track and args.capture_video:
            log_videos(f"videos/{run_name}", videos_logged)
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
                model_path, agent, args.env_id, args.eval_episodes, args.seed + 1, device, args.max_episode_steps
            )
            for idx, episodic_return in enumerate(episodic_returns):
                writer.add_scalar("eval/episodic_return", episodic_return, idx)

    envs.close()
    if args.track and args.capture_video:
        log_videos(f"videos/{run_name}", videos_logged)
    writer.close()
    if diverged:
        raise SystemExit(f"error: training diverged at iteration {iteration}: {', '.join(diverged[:3])} not finite")
    if stop:
        raise SystemExit(f"error: stopped by {stop[0]} at global_step={global_step}; logs in runs/{run_name}")
