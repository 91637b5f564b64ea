# ACPG (Action Collapse Policy Gradient, Zhou et al., arXiv 2509.02737) on Monte-Carlo REINFORCE for classic control.
# The actor's last layer is a fixed simplex equiangular tight frame (ETF): a buffer, never trained, so
# only the backbone learns to place each state's features on its action's vertex. `--no-etf` restores
# a learned linear head and `--etf-init` a learned head started at the ETF, so the controls run from this same file.
# The ETF head is ppo_etf_classic.py's line for line (`simplex_etf`, `SimplexETF`, the layers of `Agent`,
# `behaviour_logits`, `rollout_metrics`, the input checks and messages): one method, two algorithms. Only `Agent`'s
# sampling methods differ (for `--epsilon` and `--exploration`).
#
# CleanRL has no REINFORCE, so there is no parent to fork: this file is based on the layout, names and
# log tags of CleanRL's cleanrl/ppo.py (MIT, https://github.com/vwxyzjn/cleanrl). What differs from ppo.py:
# - the algorithm: each update runs every one of the --num-envs environments from a reset for exactly one
#   complete episode, computes the discounted returns-to-go of each episode and takes one Adam step on the
#   REINFORCE loss -log pi(a|s) * G (optionally G - V(s) with a learned baseline, `--baseline`; optionally
#   normalised over the batch, `--norm-returns`). No GAE, no clipping, no epochs or minibatches;
# - `--epsilon`, `--exploration`: actions from b = (1-eps) p + eps/K (`behaviour_logits`), p = pi (`mixture`: the loss
#   differentiates log b) or p = 1[a = argmax pi] (`greedy`: b has no gradient, so the loss weights the score of pi
#   by pi/b, detached, and logs the mean weight as `losses/importance_weight`);
# - the ETF action head (`simplex_etf`, `--etf/--no-etf`, `--etf-init`, `--etf-scale`, `--hidden-dim`);
# - gymnasium 1.x: SAME_STEP autoreset; episode stats read from infos["final_info"]["episode"] masked by
#   infos["final_info"]["_episode"]; `--save-model`; Categorical without per-step argument checks;
# - once per update on the batch: policy entropy, action-collapse metrics of the actor's features grouped
#   by greedy action (`collapse/`), feature ranks, dead units and norm (`repr/`);
# - bad input, a diverged loss and Ctrl-C/SIGTERM stop with one line; logs and the model are kept.
# Defaults: CartPole-v1, 4 envs (4 episodes per update), Adam lr 3e-3, gamma 0.99, normalised returns, no
# baseline, 200k env steps: returns near the 500 cap in about a minute on one CPU core (OMP_NUM_THREADS=1).
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
from typing import Literal

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
    total_timesteps: int = 200000
    """total timesteps of the experiments (every env step taken counts; the last update may overshoot by one batch)"""
    learning_rate: float = 3e-3
    """the learning rate of the optimizer"""
    num_envs: int = 4
    """the number of parallel game environments; also the number of complete episodes per update"""
    gamma: float = 0.99
    """the discount factor gamma"""
    norm_returns: bool = True
    """Toggles normalising the returns (minus the baseline with `--baseline`) to zero mean, unit std over the batch"""
    baseline: bool = False
    """if toggled, subtract a learned state-value baseline V(s), fitted to the returns-to-go"""
    ent_coef: float = 0.0
    """coefficient of the entropy of pi_theta (0: plain REINFORCE)"""
    vf_coef: float = 0.5
    """coefficient of the value function (with `--baseline`)"""
    max_episode_steps: int | None = None
    """cap on an episode's length; default: the id's own time limit, or 200 (Taxi-v4's) for ids without one"""

    # ACPG arguments
    etf: bool = True
    """if toggled, the actor's last layer is a fixed simplex ETF (ACPG); `--no-etf` is a learned linear head"""
    etf_init: bool = False
    """if toggled, the head is `--no-etf`'s, its weight started at the ETF `--etf` fixes (etf_scale * W); overrides `--etf`"""
    etf_scale: float = 1.0
    """logits = etf_scale * h @ W; 1 keeps the ETF's unit-norm columns (the paper leaves the scale open)"""
    hidden_dim: int = 64
    """width d of the actor's hidden layers (upstream: 64, kept by the critic); the ETF needs d >= number of actions"""
    epsilon: float = 0.0
    """exploration rate of the behaviour policy b that acts (see `--exploration`)"""
    exploration: Literal["mixture", "greedy"] = "mixture"
    """b = (1 - epsilon) * p + epsilon / K with p = pi_theta (`mixture`) or p = 1[a = argmax pi_theta] (`greedy`)"""


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
            action = agent.get_action(torch.Tensor(obs).to(device))
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


def returns_to_go(rewards, dones, gamma):
    """Discounted returns-to-go G_t = r_t + gamma * G_{t+1} * (1 - done_t) along dim 0 (time) of T x ...
    tensors, where done_t = 1 when the episode ended at step t.

    Truncation (the time limit, e.g. 500 steps in CartPole-v1) is treated exactly as termination: plain
    Monte-Carlo REINFORCE does not bootstrap, so G_t sums only the rewards observed until the episode was
    cut, and states near the limit get a smaller return than their true value (even with `--baseline`,
    whose value net is fitted to these same returns). The gamma^t factor of the discounted objective is
    dropped, as is usual."""
    returns = torch.zeros_like(rewards)
    next_return = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        next_return = returns[t] = rewards[t] + gamma * next_return * (1.0 - dones[t])
    return returns


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

    def get_action(self, x, epsilon=0.0, exploration="mixture"):
        """Sample actions from the behaviour policy (the rollout needs nothing else)."""
        return Categorical(logits=behaviour_logits(self.actor(x), epsilon, exploration)).sample()

    def get_logprob_and_entropy(self, x, action, epsilon=0.0, exploration="mixture"):
        """The log-probability whose gradient the loss weights, its importance weight, and the entropy of pi_theta.
        `mixture`: log b(action|x), weight 1 (b's gradient reaches pi_theta through (1 - eps) pi_theta). `greedy`: b has
        no gradient through the argmax, so log pi_theta(action|x) weighted by pi_theta / b, detached: the per-decision
        importance weight of off-policy policy gradient (pi_theta at eps = 0, at most K / eps off the argmax)."""
        logits = self.actor(x)
        behaviour = Categorical(logits=behaviour_logits(logits, epsilon, exploration))
        if exploration == "mixture":
            return behaviour.log_prob(action), 1.0, Categorical(logits=logits).entropy()
        pi = Categorical(logits=logits)
        log_pi = pi.log_prob(action)
        return log_pi, (log_pi - behaviour.log_prob(action)).exp().detach(), pi.entropy()


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
        positive="total_timesteps learning_rate eval_episodes num_envs etf_scale hidden_dim max_episode_steps",
        non_negative="ent_coef vf_coef",
        probability="gamma epsilon",
    )
    if not 0 <= args.seed < 2**32:  # numpy and the envs take 32-bit seeds
        raise SystemExit(f"error: --seed must be in [0, 2**32), got {args.seed}")
    if args.total_timesteps < args.num_envs:
        raise SystemExit(f"error: --total-timesteps {args.total_timesteps} is below one batch (--num-envs {args.num_envs})")
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

    # TRY NOT TO MODIFY: start the game
    global_step = 0
    iteration = 0
    start_time = time.time()
    next_obs, _ = envs.reset(seed=args.seed)
    diverged, videos_logged = [], set()
    last_finite = copy.deepcopy(agent.state_dict()) if args.save_model else None

    while global_step < args.total_timesteps and not stop:
        iteration += 1
        # ALGO Logic: a batch of complete episodes, one per env, every one run from a reset by the current
        # policy. An env that finishes first goes on stepping (SyncVectorEnv steps all of them) until the
        # last one finishes; those extra steps are counted in global_step but left out of the batch
        # (`valid`), so the batch holds num_envs i.i.d. episodes and no episode is favoured for being short.
        if iteration > 1:
            next_obs, _ = envs.reset()
        next_obs = torch.Tensor(next_obs).to(device)
        alive = np.ones(args.num_envs, dtype=bool)  # env still in its batch episode
        obs, actions, valid, rewards, dones = [], [], [], [], []
        while alive.any():
            global_step += args.num_envs
            obs.append(next_obs)
            valid.append(alive.copy())

            # ALGO LOGIC: action logic
            with torch.inference_mode():  # lighter than no_grad for the per-step forward
                action = agent.get_action(next_obs, args.epsilon, args.exploration)
            actions.append(action)

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            next_done = np.logical_or(terminations, truncations)
            rewards.append(reward)
            dones.append(next_done)
            next_obs = torch.Tensor(next_obs).to(device)

            if "final_info" in infos:
                episode = infos["final_info"]["episode"]
                for i in np.flatnonzero(infos["final_info"]["_episode"] & alive):
                    print(f"global_step={global_step}, episodic_return={episode['r'][i]}")
                    writer.add_scalar("charts/episodic_return", episode["r"][i], global_step)
                    writer.add_scalar("charts/episodic_length", episode["l"][i], global_step)
            alive &= ~next_done

        # discounted returns-to-go of each episode (no bootstrapping: see `returns_to_go`)
        rewards = torch.tensor(np.array(rewards), dtype=torch.float32).to(device)
        dones = torch.tensor(np.array(dones), dtype=torch.float32).to(device)
        valid = torch.tensor(np.array(valid)).to(device)
        returns = returns_to_go(rewards, dones, args.gamma)

        # flatten the batch: the steps of the batch episodes only
        b_obs = torch.stack(obs)[valid]
        b_actions = torch.stack(actions)[valid]
        b_returns = returns[valid]
        metrics = rollout_metrics(agent, b_obs)

        # Optimizing the policy (and value) network: one REINFORCE step on the whole batch
        logprob, weight, entropy = agent.get_logprob_and_entropy(b_obs, b_actions, args.epsilon, args.exploration)
        b_advantages = b_returns
        if args.baseline:
            newvalue = agent.get_value(b_obs).view(-1)
            b_advantages = b_returns - newvalue.detach()
        if args.norm_returns:
            b_advantages = (b_advantages - b_advantages.mean()) / (b_advantages.std(correction=0) + 1e-8)
        pg_loss = -(b_advantages * weight * logprob).mean()
        entropy_loss = entropy.mean()
        loss = pg_loss - args.ent_coef * entropy_loss
        if args.baseline:
            v_loss = 0.5 * ((newvalue - b_returns) ** 2).mean()
            loss = loss + args.vf_coef * v_loss

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        diverged = nonfinite_terms(agent, policy_loss=pg_loss, entropy=entropy_loss, loss=loss)
        if args.save_model and not diverged:
            last_finite = copy.deepcopy(agent.state_dict())

        # TRY NOT TO MODIFY: record rewards for plotting purposes
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        if args.baseline:
            writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
        writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
        writer.add_scalar("losses/entropy", entropy_loss.item(), global_step)
        if args.exploration == "greedy":
            writer.add_scalar("losses/importance_weight", weight.mean().item(), global_step)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, global_step)
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
