"""Bad input, the same classes for every PPO and REINFORCE script: each numeric flag's rule (finite; positive,
non-negative or a probability), sizes the batch cannot hold, computed fields, environments the script cannot serve.
The checks run in-process on the parsed Args (fast: no environment step); one case per script runs as a process to
see the single stderr line a user sees."""

import importlib

import pytest
import tyro
from conftest import assert_stops_with_one_line, run_script

PPO = ["ppo_atari_ale_vector", "ppo_etf_atari", "ppo_pfo_atari", "ppo_classic", "ppo_etf_classic"]
ETF = ["ppo_etf_atari", "ppo_etf_classic", "reinforce_etf"]
CLASSIC = ["ppo_classic", "ppo_etf_classic", "reinforce_etf"]
ATARI = ["ppo_atari_ale_vector", "ppo_etf_atari", "ppo_pfo_atari"]

NUMBERS = [
    (["--learning-rate", "nan"], "--learning-rate must be finite and positive"),
    (["--learning-rate", "inf"], "--learning-rate must be finite and positive"),
    (["--learning-rate", "-1"], "--learning-rate must be finite and positive"),
    (["--learning-rate", "0"], "--learning-rate must be finite and positive"),
    (["--gamma", "1.5"], "--gamma must be finite and in [0, 1]"),
    (["--gamma", "-0.1"], "--gamma must be finite and in [0, 1]"),
    (["--ent-coef", "-1"], "--ent-coef must be finite and non-negative"),
    (["--ent-coef", "nan"], "--ent-coef must be finite and non-negative"),
    (["--vf-coef", "-0.5"], "--vf-coef must be finite and non-negative"),
    (["--num-envs", "0"], "--num-envs must be finite and positive"),
    (["--total-timesteps", "-5"], "--total-timesteps must be finite and positive"),
    (["--seed", "-1"], "--seed must be in [0, 2**32)"),
    (["--seed", str(2**32)], "--seed must be in [0, 2**32)"),
    (["--eval-episodes", "0"], "--eval-episodes must be finite and positive"),
]
PPO_NUMBERS = [
    (["--clip-coef", "-0.1"], "--clip-coef must be finite and positive"),
    (["--clip-coef", "nan"], "--clip-coef must be finite and positive"),
    (["--gae-lambda", "2"], "--gae-lambda must be finite and in [0, 1]"),
    (["--max-grad-norm", "0"], "--max-grad-norm must be finite and positive"),
    (["--target-kl", "-1"], "--target-kl must be finite and positive"),
    (["--num-steps", "0"], "--num-steps must be finite and positive"),
    (["--num-minibatches", "0"], "--num-minibatches must be finite and positive"),
    (["--update-epochs", "0"], "--update-epochs must be finite and positive"),
    (["--num-minibatches", "3"], "does not divide the batch"),
    (["--num-envs", "2", "--num-steps", "5"], "does not divide the batch"),
    (["--num-minibatches", "100000"], "does not divide the batch"),
    (["--total-timesteps", "100"], "below one batch"),
    (["--batch-size", "64"], "are computed"),
    (["--minibatch-size", "64"], "are computed"),
    (["--num-iterations", "2"], "are computed"),
]
ETF_NUMBERS = [
    (["--etf-scale", "0"], "--etf-scale must be finite and positive"),
    (["--etf-scale", "-1"], "--etf-scale must be finite and positive"),
    (["--etf-scale", "nan"], "--etf-scale must be finite and positive"),
]
CLASSIC_ENVS = [
    (["--env-id", "NoSuchEnv-v0"], "unknown --env-id"),
    (["--env-id", "CartPol-v1"], "did you mean CartPole-v1"),
    (["--env-id", "Pendulum-v1"], "Box action space; only Discrete"),
    (["--env-id", "CarRacing-v3"], "Box action space; only Discrete"),
    (["--env-id", "Blackjack-v1"], "Tuple observations; only Box and Discrete"),
    (["--max-episode-steps", "0"], "--max-episode-steps must be finite and positive"),
]
ATARI_SCRIPT = {
    "ppo_classic": "ppo_atari_ale_vector.py",
    "ppo_etf_classic": "ppo_etf_atari.py",
    "reinforce_etf": "ppo_etf_atari.py",
}
ATARI_ENVS = [
    (["--env-id", "ALE/NoSuchGame-v5"], "unknown --env-id"),
    (["--env-id", "ALE/Breakot-v5"], "did you mean ALE/Breakout-v5"),
    (["--env-id", "BreakoutNoFrameskip-v4"], "use ALE/Breakout-v5 (the script applies upstream's wrappers; with "),
    (["--env-id", "PongNoFrameskip-v4"], "with --repeat-action-probability 0 for upstream's v4 settings)"),
    (["--env-id", "Phoenix-v5"], "use ALE/Phoenix-v5"),
    (["--env-id", "CartPole-v1"], "not an Atari game"),
    (["--repeat-action-probability", "1.5"], "--repeat-action-probability must be finite and in [0, 1]"),
    (["--video-interval", "0"], "--video-interval must be finite and positive"),
]
CASES = (
    [(script, *case) for script in PPO + ["reinforce_etf"] for case in NUMBERS]
    + [(script, *case) for script in PPO for case in PPO_NUMBERS]
    + [(script, *case) for script in ETF for case in ETF_NUMBERS]
    + [(script, *case) for script in CLASSIC for case in CLASSIC_ENVS]
    + [
        (script, ["--env-id", env_id], f"is an Atari game; use {ATARI_SCRIPT[script]}")
        for script in CLASSIC
        for env_id in ("ALE/Phoenix-v5", "PongNoFrameskip-v4")
    ]
    + [(script, ["--hidden-dim", "1"], "2 <= K <= d") for script in ETF[1:]]
    + [(script, *case) for script in ATARI for case in ATARI_ENVS]
    + [
        ("ppo_etf_atari", ["--feature-dim", "3"], "the ETF needs --feature-dim >= 4 actions"),
        ("ppo_etf_atari", ["--metrics-every", "0"], "--metrics-every must be finite and positive"),
        ("ppo_etf_atari", ["--feature-dim", "0"], "--feature-dim must be finite and positive"),
        ("reinforce_etf", ["--epsilon", "1.5"], "--epsilon must be finite and in [0, 1]"),
        ("reinforce_etf", ["--total-timesteps", "3", "--num-envs", "4"], "below one batch"),
        ("ppo_etf_classic", ["--epsilon", "-0.1"], "--epsilon must be finite and in [0, 1]"),
    ]
    + [(script, ["--etf-init", "--hidden-dim", "1"], "2 <= K <= d") for script in ETF[1:]]
    + [(script, ["--exploration", "greedy", "--epsilon", "2"], "--epsilon must be finite and in [0, 1]") for script in ETF[1:]]
)


@pytest.mark.parametrize("script,argv,message", CASES, ids=[f"{s}:{' '.join(a)}" for s, a, _ in CASES])
def test_check_args_refuses_with_one_line(script, argv, message):
    module = importlib.import_module(script)
    args = tyro.cli(module.Args, args=argv)
    with pytest.raises(SystemExit) as stopped:
        module.check_args(args)
    line = str(stopped.value.code)
    assert line.startswith("error: ") and message in line and "\n" not in line, line


@pytest.mark.parametrize("script", PPO + ["reinforce_etf"])
def test_defaults_pass_the_checks(script):
    module = importlib.import_module(script)
    module.check_args(tyro.cli(module.Args, args=[]))


CONTROLS = [
    ["--etf-scale", "0.1"],
    ["--etf-scale", "0.3"],
    ["--etf-init"],
    ["--no-etf", "--etf-init", "--etf-scale", "0.3"],
    ["--exploration", "greedy", "--epsilon", "0"],
    ["--exploration", "greedy", "--epsilon", "1"],
    ["--exploration", "mixture", "--epsilon", "0.2", "--no-etf"],
]


@pytest.mark.parametrize("script", ETF[1:])
@pytest.mark.parametrize("argv", CONTROLS, ids=" ".join)
def test_controls_pass_the_checks(script, argv):
    module = importlib.import_module(script)
    module.check_args(tyro.cli(module.Args, args=argv))


UNPARSABLE = [["--exploration", "epsilon-greedy"], ["--exploration", "Greedy"], ["--etf-init", "yes"]]


@pytest.mark.parametrize("script", ETF[1:])
@pytest.mark.parametrize("argv", UNPARSABLE, ids=" ".join)
def test_tyro_refuses_what_it_cannot_parse(script, argv, capsys):
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as stopped:
        tyro.cli(module.Args, args=argv)
    assert stopped.value.code == 2 and argv[-1] in capsys.readouterr().err  # tyro's message names the value


@pytest.mark.parametrize(
    "script,argv,message",
    [
        ("ppo_atari_ale_vector.py", ["--num-minibatches", "3"], "does not divide the batch"),
        ("ppo_etf_atari.py", ["--env-id", "CartPole-v1"], "not an Atari game"),
        ("ppo_classic.py", ["--env-id", "ALE/Phoenix-v5"], "use ppo_atari_ale_vector.py"),
        ("ppo_etf_classic.py", ["--env-id", "ALE/Phoenix-v5"], "use ppo_etf_atari.py"),
        ("reinforce_etf.py", ["--learning-rate", "-1"], "--learning-rate must be finite and positive"),
        ("drqv2_reset_rule.py", ["--total-timesteps", "100000"], "use --num-train-frames (environment frames"),
        ("drqv2_reset_rule.py", ["--total-timesteps=100000"], "use --num-train-frames (environment frames"),
    ],
)
def test_a_user_sees_one_line_and_a_nonzero_exit(tmp_path, script, argv, message):
    assert_stops_with_one_line(run_script(script, *argv, cwd=tmp_path, timeout=120), message, tmp_path)
