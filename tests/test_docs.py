"""The README stays short, every relative link in README.md and docs/ resolves (anchors included), and the project
speaks of itself only: no words about how it was written, papers by title."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# How the project was made is no user's business: process words, issue numbers, the papers' internal file numbers.
PROCESS_WORDS = re.compile(
    r"this session|earlier session|the (diff|speed|results|robustness|fidelity) issue|issues? #\d+|seeds? 00\d|paper 00\d"
    r"|\[00\d\]",
    re.IGNORECASE,
)


def slugs(page):
    """GitHub's heading anchors: lowercase, punctuation but - and _ dropped, spaces to -, repeats numbered."""
    found, seen = set(), {}
    for line in page.read_text().splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading[1].strip().lower()).replace(" ", "-")
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def links(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+://", target)]


def test_the_readme_reads_in_five_minutes():
    assert (ROOT / "README.md").stat().st_size <= 12_000


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and (dest.suffix != ".md" or anchor not in slugs(dest))):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_no_words_about_how_the_project_was_written():
    code = [*ROOT.glob("*.py"), *ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*"), *ROOT.glob("experiments/*.sh")]
    tests = [path for path in ROOT.glob("tests/*.py") if path.name != "test_docs.py"]  # this file names the words
    files = [*PAGES, *code, *tests, ROOT / "requirements.txt", ROOT / ".ci" / "run"]
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {match[0]}"
        for path in files
        if path.is_file()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in [PROCESS_WORDS.search(line)]
        if match
    ]
    assert not hits, "\n".join(hits)
