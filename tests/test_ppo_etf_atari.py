"""ppo_etf_atari.py: the ETF head on the Nature CNN, the environment settings, full-game return accounting
against hand-stepped games, video recording, an end-to-end run with its TensorBoard tags and --save-model,
and bad input."""

import types

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import assert_stops_with_one_line, read_scalars, run_script

from ppo_etf_atari import Agent, GameStatistics, make_env, record_game, rollout_metrics

SCRIPT = "ppo_etf_atari.py"


def fake_envs(num_actions):
    return types.SimpleNamespace(single_action_space=gym.spaces.Discrete(num_actions))


@pytest.mark.parametrize("num_actions", [4, 18])
def test_etf_head_is_a_fixed_simplex_buffer(num_actions):
    torch.manual_seed(0)
    agent = Agent(fake_envs(num_actions))
    w = agent.action_layer()
    assert w.shape == (512, num_actions) and "etf" in agent.state_dict()
    assert all(p is not agent.etf for p in agent.parameters()) and not hasattr(agent, "actor")
    cos = w.T @ w
    torch.testing.assert_close(cos.diagonal(), torch.ones(num_actions), atol=1e-5, rtol=0)
    off_diagonal = cos[~torch.eye(num_actions, dtype=torch.bool)]
    torch.testing.assert_close(off_diagonal, torch.full_like(off_diagonal, -1 / (num_actions - 1)), atol=1e-5, rtol=0)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-2, eps=1e-5)
    etf_before = agent.etf.clone()
    obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8)
    for _ in range(2):
        _, logprob, entropy, value, hidden = agent.get_action_and_value(obs)
        loss = -(logprob.mean() + entropy.mean()) + value.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(agent.etf, etf_before)  # bit-identical
    assert hidden.shape == (32, 512) and (hidden >= 0).all()
    metrics = rollout_metrics(agent, hidden.detach())
    assert {"collapse/policy_entropy", "repr/dead_units", "repr/zero_fraction", "repr/feature_norm"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())


def test_no_etf_is_upstreams_learned_head():
    agent = Agent(fake_envs(6), etf=False)
    assert not hasattr(agent, "etf") and agent.actor.weight.requires_grad
    assert agent.action_layer().shape == (512, 6)


def test_env_is_cleanrls_pipeline_on_the_native_vector_env():
    envs = make_env("ALE/Breakout-v5", 2)
    assert type(envs).__name__ == "AtariVectorEnv"
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert envs.single_observation_space.shape == (4, 84, 84) and envs.single_observation_space.dtype == np.uint8
    assert envs.single_action_space == gym.spaces.Discrete(4)
    envs.close()


def test_game_return_matches_a_hand_stepped_game():
    # Without noops, fire reset and sticky actions the native env replays exactly the emulator trajectory of
    # gymnasium's single AtariEnv (frameskip 4), whose `terminated` is the ALE's own game over: the per-game
    # raw scores and lengths (in agent steps) must agree, across every life-loss termination in between.
    envs = make_env("ALE/Phoenix-v5", 1, noop_max=0, use_fire_reset=False, repeat_action_probability=0.0)
    reference = gym.make("ALE/Phoenix-v5", repeat_action_probability=0.0, frameskip=4)
    _, info = envs.reset(seed=5)
    reference.reset(seed=5)
    stats, rng = GameStatistics(info), np.random.default_rng(0)
    games, reference_games, ref_return, ref_length, life_losses = [], [], 0.0, 0, 0
    for _ in range(1800):
        action = rng.integers(0, envs.single_action_space.n, 1)
        _, reward, terminations, truncations, info = envs.step(action)
        life_losses += int(terminations[0])
        games += list(zip(*stats.update(reward, terminations, truncations, info)))
        _, ref_reward, ref_terminated, ref_truncated, _ = reference.step(int(action[0]))
        ref_return, ref_length = ref_return + ref_reward, ref_length + 1
        if ref_terminated or ref_truncated:
            reference_games.append((ref_return, ref_length))
            ref_return, ref_length = 0.0, 0
            reference.reset()
    assert len(reference_games) >= 2 and life_losses > len(reference_games)  # lives were lost within games
    assert [(float(r), int(n)) for r, n in games] == reference_games
    assert any(r > 1 for r, _ in games)  # raw Phoenix scores, not clipped rewards
    envs.close()
    reference.close()


def test_game_return_with_the_scripts_settings_matches_game_over_episodes():
    # The script's env (noops, fire reset, sticky actions, life loss as termination) and the same env
    # terminating only at game over, stepped with the same seed and actions, play identical games.
    script_env = make_env("ALE/Breakout-v5", 2)
    game_over_env = make_env("ALE/Breakout-v5", 2, life_loss_info=False)
    _, info = script_env.reset(seed=3)
    game_over_env.reset(seed=3)
    stats, rng = GameStatistics(info), np.random.default_rng(1)
    games, reference_games, life_losses = [], [], 0
    returns, lengths = np.zeros(2), np.zeros(2, dtype=np.int64)
    for _ in range(700):
        action = rng.integers(0, 4, 2)
        _, reward, terminations, truncations, info = script_env.step(action)
        life_losses += terminations.sum()
        rets, lens = stats.update(reward, terminations, truncations, info)
        games += [(float(r), int(n)) for r, n in zip(rets, lens)]
        if terminations.any():  # SAME_STEP: the terminal observation comes in the same step's info
            assert "final_obs" in info
        _, ref_reward, ref_terminations, ref_truncations, _ = game_over_env.step(action)
        returns, lengths = returns + ref_reward, lengths + 1
        for i in np.flatnonzero(ref_terminations | ref_truncations):
            reference_games.append((float(returns[i]), int(lengths[i])))
            returns[i], lengths[i] = 0, 0
    assert len(reference_games) >= 3 and life_losses > len(reference_games)
    assert sorted(games) == sorted(reference_games)


def test_record_game_writes_a_video(tmp_path):
    torch.manual_seed(0)
    agent = Agent(fake_envs(4))
    path = tmp_path / "videos" / "game.mp4"
    record_game(agent, "ALE/Breakout-v5", 1, str(path), torch.device("cpu"), max_steps=30)
    assert path.exists() and path.stat().st_size > 1000


# --- end to end -------------------------------------------------------------------------------

UPSTREAM_TAGS = {
    "charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate",
    "losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/old_approx_kl",
    "losses/approx_kl", "losses/clipfrac", "losses/explained_variance",
}  # fmt: skip
METHOD_TAGS = {
    "collapse/policy_entropy", "collapse/nc1", "collapse/equinorm_means", "collapse/equinorm_weights",
    "collapse/equiangularity", "collapse/self_duality", "repr/effective_rank", "repr/approx_rank",
    "repr/srank", "repr/feature_rank", "repr/pytorch_rank", "repr/numerical_rank", "repr/dead_units",
    "repr/zero_fraction", "repr/feature_norm",
}  # fmt: skip


@pytest.mark.parametrize("variant", ["--etf", "--no-etf"])
def test_end_to_end_run_logs_tags_and_saves_model(tmp_path, variant):
    # Breakout, 2 envs x 128 steps x 4 iterations: near-random play ends a few games (all five lives) per env
    result = run_script(SCRIPT, "--num-envs", 2, "--num-steps", 128, "--total-timesteps", 1024, "--epochs", 1,
                        "--save-model", variant, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs" / "ALE").iterdir()
    scalars = read_scalars(run_dir)
    missing = (UPSTREAM_TAGS | METHOD_TAGS) - set(scalars)
    assert not missing, missing
    assert len(scalars["charts/SPS"]) == 4  # one per iteration
    assert all(np.isfinite(v) for tag in METHOD_TAGS for v in scalars[tag])
    assert all(n >= 100 for n in scalars["charts/episodic_length"])  # full games, not single lives
    state = torch.load(run_dir / "ppo_etf_atari.cleanrl_model")
    if variant == "--etf":
        torch.manual_seed(1)  # the run's seed: its ETF, drawn at construction, is unchanged by training
        assert torch.equal(state["etf"], Agent(fake_envs(4)).etf) and "actor.weight" not in state
    else:
        assert "etf" not in state and "actor.weight" in state


@pytest.mark.parametrize(
    "args,message",
    [
        (["--env-id", "ALE/NoSuchGame-v5"], "unknown --env-id"),
        (["--env-id", "BreakoutNoFrameskip-v4"], "use ALE/Breakout-v5"),
        (["--env-id", "Pendulum-v1"], "not an Atari game"),
        (["--continuous"], "--continuous is not supported"),
        (["--feature-dim", "3"], "2 <= K <= d"),
        (["--total-timesteps", "100"], "below one batch"),
    ],
)
def test_bad_input_stops_with_one_clear_line(tmp_path, args, message):
    result = run_script(SCRIPT, *args, cwd=tmp_path)
    assert_stops_with_one_line(result, message, tmp_path)
