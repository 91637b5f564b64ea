"""ppo_atari_ale_vector.py, the Atari baseline: upstream's preprocessing on the native vector env, full-game return
accounting against hand-stepped games, video recording, an end-to-end run with upstream's tags and --save-model,
Ctrl-C/SIGTERM and a diverged loss stopping with one line while keeping the logs and the last finite model."""

import os
import re
import signal
import subprocess
import sys
import time
import types

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import ROOT, read_scalars, run_script

from ppo_atari_ale_vector import Agent, GameStatistics, make_env, nonfinite_terms, record_game

sys.path.insert(0, str(ROOT / "scripts"))
from plot import variant_of  # noqa: E402

SCRIPT = "ppo_atari_ale_vector.py"


def fake_envs(num_actions):
    return types.SimpleNamespace(single_action_space=gym.spaces.Discrete(num_actions))


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


def test_end_to_end_run_logs_upstreams_tags_saves_evaluates_and_tracks_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    result = run_script(SCRIPT, "--num-envs", 2, "--num-steps", 128, "--total-timesteps", 1024, "--epochs", 1,
                        "--save-model", "--eval-episodes", 2, "--capture-video", "--video-interval", 3, "--track",
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "logs: runs/ALE-Breakout-v5__ppo_atari_ale_vector__1__" in result.stdout
    assert "| step 1024/1024 | ETA 0h00m" in result.stdout  # progress, with CleanRL's `SPS:` first
    (run_dir,) = (tmp_path / "runs").iterdir()  # one flat folder per run: ALE-Breakout-v5__...
    env, _, seed, exp = variant_of(run_dir)  # as scripts/plot.py reads the name
    assert (env, exp, seed) == ("ALE/Breakout-v5", "ppo_atari_ale_vector", 1)
    scalars = read_scalars(run_dir)
    assert UPSTREAM_TAGS | {"eval/episodic_return"} == set(scalars)
    assert len(scalars["eval/episodic_return"]) == 2
    printed = re.findall(r"^eval_episode=(\d+), episodic_return=(\S+)$", result.stdout, re.MULTILINE)  # as CleanRL
    assert [(int(i), float(r)) for i, r in printed] == list(enumerate(scalars["eval/episodic_return"]))
    assert len(list((tmp_path / "wandb").rglob("media/videos/*.mp4"))) == 2  # each video logged to W&B
    assert len(scalars["charts/SPS"]) == 4  # one per iteration
    assert all(n >= 100 for n in scalars["charts/episodic_length"])  # full games, not single lives
    state = torch.load(run_dir / "ppo_atari_ale_vector.cleanrl_model")
    agent = Agent(fake_envs(4))
    agent.load_state_dict(state)
    assert len(list((tmp_path / "videos").rglob("*.mp4"))) == 2  # iterations 1 and 4


def test_nonfinite_terms_names_the_losses_and_parameters():
    agent = Agent(fake_envs(4))
    assert nonfinite_terms(agent, loss=torch.tensor(1.0)) == []
    with torch.no_grad():
        agent.critic.bias.fill_(float("nan"))
    assert nonfinite_terms(agent, loss=torch.tensor(float("inf"))) == ["loss", "critic.bias"]


def test_a_diverged_run_stops_with_one_line_and_keeps_the_last_finite_model(tmp_path):
    result = run_script(SCRIPT, "--num-envs", 2, "--num-steps", 32, "--total-timesteps", 256, "--learning-rate", 1e30,
                        "--save-model", "--no-cuda", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: training diverged at iteration 1: value_loss")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "losses/value_loss" in read_scalars(run_dir)  # the diverged iteration was logged and flushed
    state = torch.load(run_dir / "ppo_atari_ale_vector.cleanrl_model")
    assert all(torch.isfinite(value).all() for value in state.values())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_run_with_its_logs_and_model(tmp_path, signum):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    argv = [sys.executable, str(ROOT / SCRIPT), "--num-envs", "2", "--num-steps", "32", "--total-timesteps", "100000",
            "--save-model", "--no-cuda"]  # fmt: skip
    with open(tmp_path / "stdout.txt", "w") as stdout:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while (tmp_path / "stdout.txt").read_text().count("SPS:") < 2 and time.time() < deadline:
            time.sleep(0.5)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: stopped by {signal.Signals(signum).name} at global_step=")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(read_scalars(run_dir)["charts/SPS"]) >= 1
    assert (run_dir / "ppo_atari_ale_vector.cleanrl_model").exists()
