"""Every relative link of the project's Markdown leads somewhere: the file exists, and a
``#fragment`` names a heading of the file it points to.

The docs link to each other's sections by GitHub's heading anchors, and a heading reworded (a
section retitled "..., reverted") breaks every link to it without a word: the reader lands at
the top of a 2,000-line page. The anchors are computed as GitHub computes them: the heading's
text as rendered (inline code and emphasis marks dropped, a link's text kept), lower-cased,
every character that is not a letter, digit, space, hyphen or underscore removed, spaces made
hyphens; a repeated heading gets ``-1``, ``-2``, ... Links inside fenced code blocks and inline
code spans are text, not links. Web links (``http``, ``https``, ``mailto``) are not fetched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def markdown_files() -> list[Path]:
    """The Markdown files the repository tracks (git), or those under the usual places."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # a copy without .git
        out = [str(p.relative_to(ROOT)) for p in (*ROOT.glob("*.md"), *ROOT.glob("docs/**/*.md"))]
    return sorted(ROOT / p for p in out)


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading's Markdown text (before de-duplication)."""
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("*", "").lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link may name in ``path``: its headings' and explicit HTML anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        found.update(_HTML_ANCHOR.findall(line))
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of the Markdown links of ``path``'s prose; a link whose text
    wraps onto the next line is found too (each paragraph's lines are read joined, and a link
    named by the line it starts on)."""
    out: list[tuple[int, str]] = []
    paragraph: list[tuple[int, str]] = []

    def flush() -> None:
        if not paragraph:
            return
        starts, text = [], ""
        for number, line in paragraph:
            starts.append((len(text), number))
            text += _CODE_SPAN.sub("", line) + " "
        for m in _LINK.finditer(text):
            number = max(n for offset, n in starts if offset <= m.start())
            out.append((number, m.group(1).removeprefix("<").removesuffix(">")))
        paragraph.clear()

    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        if line.strip():
            paragraph.append((number, line))
        else:
            flush()
    flush()
    return out


def broken(path: Path, root: Path = ROOT) -> list[str]:
    """The relative links of ``path`` that lead nowhere, each with its line (``path`` named
    relative to ``root``)."""
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        if file_part.startswith("/"):  # relative to the repository's root, as GitHub reads it
            dest = (root / file_part.lstrip("/")).resolve()
        else:
            dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no file {file_part}")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{where}: no heading with the anchor #{fragment} in {dest.name}")
    return problems


def test_the_anchors_are_githubs() -> None:
    assert slug("Scenes of a second generator (`bench/bench_foreign_scenes.py`)") == (
        "scenes-of-a-second-generator-benchbench_foreign_scenespy"
    )
    assert slug("The terrain continued past the stack's edge: reverted (2026-12-05)") == (
        "the-terrain-continued-past-the-stacks-edge-reverted-2026-12-05"
    )
    assert slug("Two commands") == "two-commands"
    assert slug("**Bold** and [a link](x.md) ≥ 1 ha") == "bold-and-a-link--1-ha"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    """The checker itself: a link to a missing heading and one to a missing file are named,
    a repeated heading's second anchor and links in code are accepted."""
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Top\n\n## Part\n\n## Part\n", encoding="utf-8")
    doc.write_text(
        "# A\n\n[ok](b.md#part-1) [ok](#a) `[code](nowhere.md)` [wrapped\nlink](b.md#nope)\n\n"
        "```\n[fenced](nowhere.md)\n```\n\n[bad](b.md#parts) [gone](c.md) [web](https://x.org)\n",
        encoding="utf-8",
    )
    assert broken(doc, tmp_path) == [
        "a.md:3: b.md#nope: no heading with the anchor #nope in b.md",
        "a.md:10: b.md#parts: no heading with the anchor #parts in b.md",
        "a.md:10: c.md: no file c.md",
    ]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(path: Path) -> None:
    assert broken(path) == []
