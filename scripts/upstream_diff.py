"""The diffs of the ports and forks against their parents, with their changed-line counts.

    python scripts/upstream_diff.py                          # the five diffs, then the counts table
    python scripts/upstream_diff.py --counts                 # only the counts table
    python scripts/upstream_diff.py --cleanrl ~/src/cleanrl  # upstream from a CleanRL checkout

Ports: CleanRL's cleanrl/ppo.py -> ppo_classic.py and cleanrl/ppo_atari.py -> ppo_atari_ale_vector.py, upstream
at commit fe8d8a03c41a7ef5b523e2e354bd01c363e786bb, fetched once from GitHub into upstream/ (ignored by git) and
reused from there; --cleanrl PATH reads PATH/cleanrl/ instead, as it is (check out that commit for these counts).
Forks: ppo_classic.py -> ppo_etf_classic.py, ppo_atari_ale_vector.py -> ppo_etf_atari.py and -> ppo_pfo_atari.py,
with the budget each fork keeps (tests/test_fork_diffs.py checks them).
Changed lines: the lines of `diff -u A B` that start with + or -, the two file headers left out, i.e.
`diff -u A B | grep -E '^[+-]' | grep -vE '^(\\+\\+\\+|---)' | wc -l`, computed with difflib (its SequenceMatcher
with autojunk off, which counts as diff does here; its hunks may be cut a line apart). A pair with a missing file
is skipped with a note.
"""

import argparse
import difflib
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "upstream"  # the fetched upstream files
COMMIT = "fe8d8a03c41a7ef5b523e2e354bd01c363e786bb"
URL = "https://raw.githubusercontent.com/vwxyzjn/cleanrl/{commit}/cleanrl/{name}"
TIMEOUT_S = 30
PORTS = [("cleanrl/ppo.py", "ppo_classic.py"), ("cleanrl/ppo_atari.py", "ppo_atari_ale_vector.py")]
BUDGETS = {  # fork: the most changed lines it may have over its parent
    ("ppo_classic.py", "ppo_etf_classic.py"): 100,
    ("ppo_atari_ale_vector.py", "ppo_etf_atari.py"): 80,
    ("ppo_atari_ale_vector.py", "ppo_pfo_atari.py"): 220,
}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # bad input: one line on stderr, no usage block
        raise SystemExit(f"error: {message} (see --help)")


def fetch(name):
    """upstream/<name> (cleanrl/<name> at COMMIT), downloaded unless it is there already."""
    path = UPSTREAM / name
    if not path.exists():
        url = URL.format(commit=COMMIT, name=name)
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                text = response.read().decode()
        except (OSError, ValueError) as problem:  # URLError, HTTPError, timeouts are OSErrors
            raise SystemExit(
                f"error: cannot fetch {url} ({problem}); put CleanRL's files (cleanrl/ppo.py, cleanrl/ppo_atari.py at "
                f"{COMMIT[:8]}) in {UPSTREAM}/ or pass --cleanrl PATH"
            ) from None
        UPSTREAM.mkdir(exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(text)
        partial.replace(path)  # whole or not at all: a broken download is not reused
    return path


def locate(name, cleanrl=None):
    """The file a pair names: cleanrl/... from --cleanrl or upstream/, the others in the repository."""
    if not name.startswith("cleanrl/"):
        return ROOT / name
    if cleanrl is None:
        return fetch(name.removeprefix("cleanrl/"))
    path = cleanrl / name
    if not path.is_file():
        raise SystemExit(f"error: --cleanrl {cleanrl} has no {name}; give the folder of a CleanRL checkout")
    return path


def opcodes(a, b):
    """difflib's changes from lines a to lines b; autojunk off, or frequent lines (blank ones) match poorly."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False)


def changed_lines(a, b):
    """The + and - lines of `diff -u` from lines a to lines b."""
    return sum(i2 - i1 + j2 - j1 for tag, i1, i2, j1, j2 in opcodes(a, b).get_opcodes() if tag != "equal")


def span(start, stop):
    """A hunk header's range, as diff -u writes it (difflib's format)."""
    length = stop - start
    return f"{start + (length > 0)},{length}" if length != 1 else f"{start + 1}"


def unified(a, b, name_a, name_b, context=3):
    """The lines of `diff -u` from lines a to lines b, from the same changes that changed_lines counts."""
    lines = [f"--- {name_a}", f"+++ {name_b}"]
    for group in opcodes(a, b).get_grouped_opcodes(context):
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        lines.append(f"@@ -{span(i1, i2)} +{span(j1, j2)} @@")
        for tag, i1, i2, j1, j2 in group:
            lines += [" " + line for line in a[i1:i2]] if tag == "equal" else []
            lines += ["-" + line for line in a[i1:i2]] if tag in ("replace", "delete") else []
            lines += ["+" + line for line in b[j1:j2]] if tag in ("replace", "insert") else []
    return lines


def pairs():
    """(parent, child, budget or None) of every port and fork."""
    return [(a, b, None) for a, b in PORTS] + [(a, b, budget) for (a, b), budget in BUDGETS.items()]


def main():
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cleanrl", type=Path, help="a CleanRL checkout: its cleanrl/ppo.py and cleanrl/ppo_atari.py")
    parser.add_argument("--counts", action="store_true", help="print only the table of changed-line counts")
    args = parser.parse_args()
    if args.cleanrl is not None and not args.cleanrl.is_dir():
        raise SystemExit(f"error: --cleanrl {args.cleanrl} is not a folder; give a CleanRL checkout")
    ours = {name for a, b, _ in pairs() for name in (a, b) if not name.startswith("cleanrl/")}
    missing = {name for name in ours if not (ROOT / name).exists()}
    chosen = [(a, b, budget) for a, b, budget in pairs() if not {a, b} & missing]
    if missing:
        skipped = ", ".join(f"{a} -> {b}" for a, b, _ in pairs() if {a, b} & missing)
        print(f"note: {', '.join(sorted(missing))} missing in {ROOT}; skipped {skipped}", file=sys.stderr)
    lines = {name: locate(name, args.cleanrl).read_text().splitlines() for a, b, _ in chosen for name in (a, b)}  # all first
    table = ["| diff | changed lines | budget |", "|---|---|---|"]
    for a, b, budget in chosen:
        count = changed_lines(lines[a], lines[b])
        table.append(f"| `{a}` → `{b}` | {count} | {'' if budget is None else f'≤ {budget}'} |")
        if not args.counts:
            print(f"# {a} -> {b}: {count} changed lines")
            print("\n".join(unified(lines[a], lines[b], a, b)), end="\n\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
