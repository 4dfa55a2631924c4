"""The user documentation keeps its shape: a short README, links that resolve, measurements
labelled by commit and date (never by development round), raw data under docs/data/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 350
# `grep -rniE "\bsession [0-9]+|this session|last session|next session"`, as the issue asks.
ROUND_WORDING = re.compile(r"\bsession [0-9]+|this session|last session|next session", re.I)

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of brackets inside
    r"\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"  # (target "optional title")
)
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _links(path: Path) -> list[str]:
    prose = _prose(path.read_text())
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def _is_relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) and not target.startswith("//")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lowercase, without punctuation, spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").replace("*", "").replace("<", "").replace(">", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_the_readme_is_at_most_350_lines() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to a docs/ page")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in _links(page):
        if not _is_relative(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file {linked.relative_to(ROOT)}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_link_check_sees_links_and_headings() -> None:
    """The checks above would pass on nothing: prove they read links and anchors."""
    readme = ROOT / "README.md"
    assert "docs/results-format.md" in _links(readme)
    assert "harness/results/schema.json" in _links(readme)
    assert _slug("Performance: the >20% regression gate") == "performance-the-20-regression-gate"
    assert _slug("Your tests, on both versions (`--project`)") == (
        "your-tests-on-both-versions---project")
    assert _slug("The benchmark on 2.9.2 → 3.4.0") == "the-benchmark-on-292--340"
    assert "what-you-get" in _anchors(readme)
    assert _links_in("see [a](x.md) and `[b](y.md)` and\n```\n[c](z.md)\n```\n") == ["x.md"]


def _links_in(text: str) -> list[str]:
    return INLINE_LINK.findall(_prose(text))


def test_no_development_round_wording() -> None:
    """Figures are labelled by commit and date ("at 1a2b3c4 (2026-11-23)"), never by the round
    of work that produced them ("session 7, before")."""
    files = [ROOT / "README.md", ROOT / "ARCHITECTURE.md",
             *(p for p in sorted(DOCS.rglob("*")) if p.is_file())]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if ROUND_WORDING.search(line) and "RunSession" not in line
    ]
    assert not found, "label measurements by commit and date:\n" + "\n".join(found)


def test_raw_data_lives_under_docs_data() -> None:
    stray = sorted(p.name for p in DOCS.glob("*.json"))
    assert not stray, f"move raw data to docs/data/ (git mv): {stray}"
    assert any((DOCS / "data").glob("*.json"))


def test_every_docs_page_opens_with_what_it_answers() -> None:
    """A title, then one sentence of what the page answers, before anything else."""
    silent = []
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text().splitlines()
        first = next((line for line in lines[1:] if line.strip()), "")
        if not lines[0].startswith("# ") or not first.startswith("This page answers"):
            silent.append(page.name)
    assert not silent, f"start with '# Title' and 'This page answers …': {silent}"
