"""The forks' diff budgets, the helpers the scripts share byte-identical, and scripts/upstream_diff.py (offline)."""

import ast
import difflib
import functools
import io
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from conftest import ROOT, assert_stops_with_one_line

sys.path.insert(0, str(ROOT / "scripts"))
import upstream_diff  # noqa: E402

ATARI = ("ppo_atari_ale_vector.py", "ppo_etf_atari.py", "ppo_pfo_atari.py")
CLASSIC = ("ppo_classic.py", "ppo_etf_classic.py", "reinforce_etf.py")
ETF = ("ppo_etf_atari.py", "ppo_etf_classic.py", "reinforce_etf.py")
SCRIPTS = ATARI + CLASSIC + ("drqv2_reset_rule.py",)

# (helper, the scripts that carry it byte-identical); a script not in the repository yet is left out
SHARED = [
    *((name, SCRIPTS) for name in ("check_numbers", "nonfinite_terms")),
    *((name, ATARI + CLASSIC) for name in ("stop_on_signal", "progress")),
    *((name, ATARI) for name in ("make_env", "GameStatistics", "record_game", "evaluate", "check_atari_id", "check_batch")),
    (
        "layer_init",
        ("ppo_atari_ale_vector.py", "ppo_etf_atari.py", "ppo_classic.py", "ppo_etf_classic.py", "reinforce_etf.py"),
    ),
    *((name, ETF) for name in ("simplex_etf", "SimplexETF")),
    *((name, CLASSIC) for name in ("make_env", "check_env", "log_videos")),
    ("evaluate", ("ppo_classic.py", "ppo_etf_classic.py")),
    *((name, ("ppo_etf_classic.py", "reinforce_etf.py")) for name in ("behaviour_logits", "rollout_metrics")),
]
PER_SCRIPT = {"Args", "Agent", "check_args"}  # each script's own by design
DIFFERS = {  # (helper, script): why that script's version is its own
    ("layer_init", "ppo_pfo_atari.py"): "the authors' toggle_init switch (their ppo_atari_2models.py)",
    ("evaluate", "reinforce_etf.py"): "REINFORCE's agent has get_action, no get_action_and_value",
    ("evaluate", "drqv2_reset_rule.py"): "DrQ-v2's own evaluation of its deterministic actor",
    ("stop_on_signal", "drqv2_reset_rule.py"): "DrQ-v2 has no iterations: it stops after the current agent step",
    ("progress", "drqv2_reset_rule.py"): "counts frames, and its time left starts after the seed frames",
    ("rollout_metrics", "ppo_etf_atari.py"): "takes the rollout's kept features (--metrics-every), not observations",
}


@functools.cache
def definitions(script):
    """{name: source} of the script's top-level functions and classes."""
    source = (ROOT / script).read_text()
    nodes = ast.parse(source).body
    return {
        node.name: ast.get_source_segment(source, node) for node in nodes if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }


def present(scripts):
    return [script for script in scripts if (ROOT / script).exists()]


# --- the forks' budgets ------------------------------------------------------------------------


@pytest.mark.parametrize("parent,fork", list(upstream_diff.BUDGETS))
def test_fork_keeps_its_diff_budget(parent, fork):
    if not (ROOT / parent).exists():
        pytest.skip(f"{parent} does not exist yet (the port of CleanRL's ppo.py); remove this skip once it is merged")
    budget = upstream_diff.BUDGETS[parent, fork]
    count = upstream_diff.changed_lines(*((ROOT / name).read_text().splitlines() for name in (parent, fork)))
    assert count <= budget, (
        f"{parent} -> {fork}: {count} changed lines, over its budget of {budget} (scripts/upstream_diff.py)"
    )


def test_changed_lines_count_as_diff_does():
    assert upstream_diff.changed_lines(["a", "b", "c"], ["a", "B", "c", "d"]) == 3  # -b, +B, +d
    assert upstream_diff.changed_lines(["a"], ["a"]) == 0
    if not shutil.which("diff"):
        pytest.skip("no diff on PATH to compare with")
    for parent, fork in [pair for pair in upstream_diff.BUDGETS if all((ROOT / name).exists() for name in pair)]:
        pipeline = f"diff -u {parent} {fork} | grep -E '^[+-]' | grep -vE '^(\\+\\+\\+|---)' | wc -l"
        shell = subprocess.run(pipeline, shell=True, cwd=ROOT, capture_output=True, text=True).stdout
        ours = upstream_diff.changed_lines(*((ROOT / name).read_text().splitlines() for name in (parent, fork)))
        assert ours == int(shell), (parent, fork)


# --- helpers shared byte-identical ---------------------------------------------------------------


def label(name, scripts):
    family = {SCRIPTS: "all", ATARI: "Atari", CLASSIC: "classic", ETF: "ETF"}.get(scripts)
    return f"{name}-{family or '+'.join(script.removesuffix('.py') for script in scripts)}"


@pytest.mark.parametrize("name,scripts", SHARED, ids=[label(name, scripts) for name, scripts in SHARED])
def test_shared_helper_is_byte_identical(name, scripts):
    sources = {script: definitions(script).get(name) for script in present(scripts)}
    assert all(sources.values()), f"{name} is missing in {[s for s, source in sources.items() if source is None]}"
    first, *others = sources
    for script in others:
        drift = difflib.unified_diff(sources[first].splitlines(), sources[script].splitlines(), first, script, lineterm="")
        assert sources[script] == sources[first], f"{name} drifted:\n" + "\n".join(drift)


def test_every_helper_defined_twice_is_shared_or_says_why_not():
    """A top-level function or class in several scripts is either in SHARED (and so kept identical), each
    script's own (PER_SCRIPT), or a script's own version with its reason (DIFFERS): a new copy cannot drift unseen."""
    carriers = {}
    for script in present(SCRIPTS):
        for name in definitions(script):
            carriers.setdefault(name, []).append(script)
    shared = {(name, script) for name, scripts in SHARED for script in scripts}
    unlisted = [
        (name, script)
        for name, scripts in carriers.items()
        if len(scripts) > 1 and name not in PER_SCRIPT
        for script in scripts
        if (name, script) not in shared and (name, script) not in DIFFERS
    ]
    assert not unlisted, f"helpers in several scripts, neither in SHARED nor in DIFFERS: {unlisted}"


# --- scripts/upstream_diff.py, with a fake repository and no network ---------------------------

PARENT, CHILD = "a\nb\nc\n", "a\nB\nc\nd\n"  # 3 changed lines: -b, +B, +d


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository of tiny scripts (ports: PARENT -> CHILD, forks: one line more), its upstream/ folder, and a
    network that refuses; `fetched` lists the URLs asked for."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("ppo_classic.py", "ppo_atari_ale_vector.py"):  # the ports of PARENT, parents of the forks
        (root / name).write_text(CHILD)
    for name in ("ppo_etf_classic.py", "ppo_etf_atari.py", "ppo_pfo_atari.py"):
        (root / name).write_text(CHILD + "e\n")  # 1 changed line over its parent
    monkeypatch.setattr(upstream_diff, "ROOT", root)
    monkeypatch.setattr(upstream_diff, "UPSTREAM", root / "upstream")
    fetched = []

    def offline(url, timeout):
        fetched.append(url)
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return root, fetched


def run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["upstream_diff.py", *map(str, args)])
    upstream_diff.main()
    return capsys.readouterr()


EXPECTED_TABLE = """| diff | changed lines | budget |
|---|---|---|
| `cleanrl/ppo.py` → `ppo_classic.py` | 3 |  |
| `cleanrl/ppo_atari.py` → `ppo_atari_ale_vector.py` | 3 |  |
| `ppo_classic.py` → `ppo_etf_classic.py` | 1 | ≤ 100 |
| `ppo_atari_ale_vector.py` → `ppo_etf_atari.py` | 1 | ≤ 80 |
| `ppo_atari_ale_vector.py` → `ppo_pfo_atari.py` | 1 | ≤ 220 |
"""


def test_offline_without_upstream_files_stops_with_one_line(repo, monkeypatch, capsys):
    root, fetched = repo
    with pytest.raises(SystemExit) as stop:
        run(monkeypatch, capsys, "--counts")
    line = stop.value.code
    assert line.startswith("error: cannot fetch https://raw.githubusercontent.com/vwxyzjn/cleanrl/") and "\n" not in line
    assert upstream_diff.COMMIT in line and f"in {root / 'upstream'}/ or pass --cleanrl PATH" in line
    assert capsys.readouterr().out == "" and fetched  # nothing printed before the error
    assert not (root / "upstream").exists()


def test_upstream_files_are_fetched_once_then_reused(repo, monkeypatch, capsys):
    root, fetched = repo

    def online(url, timeout):
        fetched.append(url)
        return io.BytesIO(PARENT.encode())

    monkeypatch.setattr(urllib.request, "urlopen", online)
    assert run(monkeypatch, capsys, "--counts").out == EXPECTED_TABLE
    commit_url = f"https://raw.githubusercontent.com/vwxyzjn/cleanrl/{upstream_diff.COMMIT}/cleanrl/"
    assert sorted(fetched) == [commit_url + "ppo.py", commit_url + "ppo_atari.py"]
    assert (root / "upstream" / "ppo.py").read_text() == PARENT and not list((root / "upstream").glob("*.part"))
    assert run(monkeypatch, capsys, "--counts").out == EXPECTED_TABLE
    assert len(fetched) == 2  # reused, not fetched again


def test_diffs_from_files_put_in_upstream(repo, monkeypatch, capsys):
    root, fetched = repo
    (root / "upstream").mkdir()
    for name in ("ppo.py", "ppo_atari.py"):
        (root / "upstream" / name).write_text(PARENT)
    out = run(monkeypatch, capsys).out
    assert not fetched
    assert "# cleanrl/ppo.py -> ppo_classic.py: 3 changed lines\n--- cleanrl/ppo.py\n+++ ppo_classic.py\n" in out
    assert "@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n" in out  # as diff -u writes it
    assert "# ppo_atari_ale_vector.py -> ppo_pfo_atari.py: 1 changed lines" in out and out.endswith(EXPECTED_TABLE)


def test_a_cleanrl_checkout_and_a_missing_port(repo, monkeypatch, capsys):
    root, fetched = repo
    checkout = root.parent / "cleanrl"
    (checkout / "cleanrl").mkdir(parents=True)
    for name in ("ppo.py", "ppo_atari.py"):
        (checkout / "cleanrl" / name).write_text(PARENT)
    (root / "ppo_classic.py").unlink()
    result = run(monkeypatch, capsys, "--cleanrl", checkout, "--counts")
    assert not fetched
    assert result.out == "\n".join(line for line in EXPECTED_TABLE.splitlines() if "ppo_classic.py" not in line) + "\n"
    (note,) = result.err.splitlines()  # one line
    assert note.startswith("note: ppo_classic.py missing") and "cleanrl/ppo.py -> ppo_classic.py" in note

    (checkout / "cleanrl" / "ppo_atari.py").unlink()
    with pytest.raises(SystemExit, match=r"^error: --cleanrl .* has no cleanrl/ppo_atari.py"):
        run(monkeypatch, capsys, "--cleanrl", checkout)


def test_bad_cleanrl_folder_stops_with_one_line_as_a_process(tmp_path):
    script = ROOT / "scripts" / "upstream_diff.py"
    result = subprocess.run([sys.executable, script, "--cleanrl", "nowhere"], cwd=tmp_path, capture_output=True, text=True)
    assert_stops_with_one_line(result, "--cleanrl nowhere is not a folder", tmp_path)
