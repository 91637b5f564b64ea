"""benchmarks/: the steady-state rate from the arrival times of SPS lines, the sampling profiler's loop parts and
phases on the real scripts' sources, a script at an older commit, and the whole GPU suite end to end on the CPU with
tiny sizes (CleanRL's (b) only where BENCH_UPSTREAM_PYTHON and BENCH_UPSTREAM_SCRIPT name a gymnasium 0.29 Python
and CleanRL's cleanrl/ppo_atari.py)."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import phase_profile  # noqa: E402
import sps  # noqa: E402

FAKE = "import time\nfor i in range(1, 7):\n    time.sleep(0.2 if i > 2 else 1.0)\n    print(f'SPS: {i}')\n"


def test_sps_lines_of_every_script_format():
    assert sps.SPS_LINE.match("SPS: 334")[1] == "334"
    assert sps.SPS_LINE.match("SPS: 7 | step 64/128 | ETA 0h00m")[1] == "7"
    assert sps.SPS_LINE.match("SPS (frames per second, evaluation excluded): 12.5")[1] == "12.5"
    assert not sps.SPS_LINE.match("global_step=64, episodic_return=3.0")


def test_steady_rate_leaves_the_warm_up_out(tmp_path):
    # two slow warm-up lines (1 s each), then one line every 0.2 s: 100 steps a line -> ~500 steps/s steady
    times, values = sps.run_until([sys.executable, "-c", FAKE], sps.process_env(1), prints=6, timeout=60)
    assert values == [1, 2, 3, 4, 5, 6]
    assert 400 < sps.steady_rate(times, 100, 2, 6) < 520
    assert sps.steady_rate(times, 100, 1, 6) < 330  # with the warm-up in


def test_run_until_reports_a_script_that_stops_early():
    with pytest.raises(RuntimeError, match="2 of 5 SPS lines"):
        sps.run_until([sys.executable, "-c", "print('SPS: 1'); print('SPS: 2')"], sps.process_env(1), 5, 60)


PPO_SCRIPTS = ["ppo_atari_ale_vector.py", "ppo_etf_atari.py", "ppo_pfo_atari.py", "ppo_classic.py", "ppo_etf_classic.py"]


@pytest.mark.parametrize("script", PPO_SCRIPTS)
def test_loop_parts_of_the_ppo_scripts(script):
    source = (ROOT / script).read_text()
    parts = phase_profile.loop_parts(source)
    lines = source.splitlines()
    assert lines[parts["loop"][0] - 1].strip().startswith("for iteration in range(")
    assert "num_steps" in lines[parts["rollout"][0] - 1] and "epoch" in lines[parts["update"][0] - 1]
    assert parts["loop"][0] < parts["rollout"][0] < parts["update"][0] <= parts["loop"][1]


@pytest.mark.parametrize("script", PPO_SCRIPTS)
def test_the_rollout_keeps_rewards_and_dones_on_the_host(script):
    source = (ROOT / script).read_text()
    start, end = phase_profile.loop_parts(source)["rollout"]
    rollout = "\n".join(source.splitlines()[start - 1 : end])
    assert "host_rewards[step] =" in rollout and "host_dones[step] =" in rollout
    assert not re.search(r"^\s*(rewards|dones)\[step\] =|next_done = .*device", rollout, re.M)
    assert "rewards.copy_(host_rewards)" in source and "dones.copy_(host_dones)" in source


def test_phases_of_sampled_stacks():
    def phase(text, kind="atari"):
        return next((name for name, rule in phase_profile.PHASES[kind] if re.search(rule, text)), "other")

    assert phase("[rollout] ale_py/vector_env.py:step | next_obs, ... = envs.step(action.cpu().numpy())") == "env step"
    assert phase("[rollout] ppo_etf_atari.py:get_action_and_value > torch/nn/modules/conv.py:forward") == "rollout: forward"
    assert phase("[update] torch/_tensor.py:backward > torch/autograd/graph.py:_engine_run_backward | loss.backward()") == (
        "update: backward + optimizer"
    )
    assert phase("[update] ppo_etf_atari.py:get_action_and_value > torch/nn/modules/conv.py:forward | x") == (
        "update: forward + loss"
    )
    assert phase("[loop] ppo_etf_atari.py:rollout_metrics > metrics_common.py:rank_metrics | m") == "metrics"
    assert phase("[loop] drqv2_reset_rule.py:sample | batch = ...", "drqv2") == "replay sample"
    assert phase("[loop] drqv2_reset_rule.py:<genexpr> | batch = tuple(torch.as_tensor(x...", "drqv2") == (
        "host-to-device copies"
    )
    assert phase("[loop] drqv2_reset_rule.py:step > dm_control/mujoco/engine.py:render | e", "drqv2") == "env step + render"


def test_ref_script_is_the_file_at_that_commit():
    head = subprocess.run(["git", "show", "HEAD:ppo_etf_classic.py"], cwd=ROOT, capture_output=True, text=True).stdout
    old = sps.ref_script("HEAD", "ppo_etf_classic.py")
    assert old.read_text() == head and (old.parent / "metrics_common.py").exists()


def test_atari_sps_refuses_a_flag_the_script_lacks(tmp_path):
    command = [sys.executable, ROOT / "benchmarks" / "atari_sps.py", "--script-args=--no-such-flag"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=sps.process_env(1))
    assert result.returncode == 1 and result.stderr.strip() == "error: ppo_etf_atari.py has no --no-such-flag flag"


def test_gpu_suite_end_to_end_tiny(tmp_path):
    report = tmp_path / "report.md"
    command = [sys.executable, ROOT / "benchmarks" / "gpu_suite.py", "--tiny", "--no-cuda", "--out", report]
    command += ["--pfo-ref", "HEAD"]  # a commit every checkout has
    upstream = [os.environ.get(name) for name in ("BENCH_UPSTREAM_PYTHON", "BENCH_UPSTREAM_SCRIPT")]
    if all(upstream):
        command += ["--upstream-python", upstream[0], "--upstream-script", upstream[1]]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(list(map(str, command)), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    sections = dict(re.findall(r"^## (\S+) (.*?)(?=^## |\Z)", text, re.M | re.S))
    assert list(sections) == ["1.", "1b.", "1c.", "1d.", "2.", "2b.", "3."], text
    for body in sections.values():
        assert "**failed**" not in body and "**stopped after" not in body, body
    assert re.search(r"\| \(a\) ppo_etf_atari\.py .*\| \d+ \|", sections["1."])
    assert "(c) 2 ALE/Phoenix-v5 envs alone" in sections["1."] and "| env step |" in sections["1."]
    assert re.search(r"^metrics: [\d.]+% of an iteration", sections["1."], re.M)
    assert ("(b) CleanRL ppo_atari.py" in sections["1."]) == all(upstream)
    assert "skipped" in sections["1b."] and re.search(r"a/plain = [\d.]+", sections["1c."])
    assert "(ref) ppo_pfo_atari.py at HEAD" in sections["1d."] and re.search(r"a/ref = [\d.]+", sections["1d."])
    assert "Renderer: MUJOCO_GL=" in sections["2."] and "| update |" in sections["2."]
    assert "--buffer-device cuda" in sections["2b."] and "| update |" in sections["2b."]
    for run in ("etf", "no-etf", "pfo", "ppo", "drqv2"):
        assert re.search(rf"^\| {run} \| `.*` \| \d+ \| 0 \| [1-9]\d* \|$", sections["3."], re.M), sections["3."]
    assert "| repr/actor_preactivation_norm |" in sections["3."] and "| reset/mlp1_grad_norm |" in sections["3."]
    assert (tmp_path / "learning" / "etf" / "runs").is_dir()
