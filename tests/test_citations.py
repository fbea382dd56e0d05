"""Citations point at something a reader can open: a commit, a kernel file and
function, or a document in this repository.

The kernel facts the code relies on are in docs/reference/kernel-behaviour.md; a
citation names one of its sections by its heading's anchor.  Notes that once lived
outside the repository must not be cited any more.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from cowlab.cli import app
from cowlab.history.timeline import REFERENCE, TIMELINE
from cowlab.scenario.catalog import builtin_names, load_builtin

ROOT = Path(__file__).resolve().parent.parent
#: documents that are not in the repository, which citations used to name
OUTSIDE = re.compile(r"kernel-semantics\.md|oracle-recipe\.md")
#: a citation of a section of the reference, by the heading's anchor
CITATION = re.compile(r"kernel-behaviour\.md#([A-Za-z0-9_-]*)")
#: a path to a Markdown file inside a citation
MARKDOWN_PATH = re.compile(r"[\w./-]+\.md\b")
TEXT_SUFFIXES = {".py", ".pyx", ".pxd", ".md", ".yaml", ".yml", ".json", ".toml", ".txt", ".j2"}


def _cited_files() -> list[Path]:
    """The project's own text files that may cite something."""
    files = [ROOT / "README.md"]
    for top in ("src", "docs", "tools", "tests"):
        files.extend(
            p
            for p in sorted((ROOT / top).rglob("*"))
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
        )
    return files


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document: lower case,
    punctuation other than '-' and '_' dropped, spaces as '-', '-N' on repeats."""
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        match = re.match(r"#{1,6} +(.*?) *#* *$", line)
        if in_code or not match:
            continue
        text = re.sub(r"`|\*|\[|\]\([^)]*\)", "", match.group(1))
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def test_github_anchors_follow_githubs_rules() -> None:
    text = "# A title\n## Write fault on a read-only PTE\n```\n# not a heading\n```\n## `cow.c`\n## A title\n"
    assert github_anchors(text) == {"a-title", "write-fault-on-a-read-only-pte", "cowc", "a-title-1"}


def test_no_citation_names_a_document_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _cited_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_every_cited_section_of_the_reference_exists() -> None:
    reference = ROOT / REFERENCE
    anchors = github_anchors(reference.read_text(encoding="utf-8"))
    cited: dict[str, list[str]] = {}
    for path in _cited_files():
        for anchor in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(anchor, []).append(str(path.relative_to(ROOT)))
    # the timeline builds its citations with ref(): read them as `cowlab kernels` shows them
    for commit in TIMELINE:
        for anchor in CITATION.findall(commit.source):
            cited.setdefault(anchor, []).append(f"timeline {commit.short}")
    assert cited, "nothing cites the reference"
    assert {a: where for a, where in cited.items() if a not in anchors} == {}
    # links inside the reference itself
    internal = re.findall(r"\]\(#([^)]*)\)", reference.read_text(encoding="utf-8"))
    assert sorted(set(internal) - anchors) == []


def test_every_timeline_entry_cites_something_that_opens() -> None:
    for commit in TIMELINE:
        for path in MARKDOWN_PATH.findall(commit.source):
            assert (ROOT / path).is_file(), f"{commit.short}: {path}"
    assert sum(REFERENCE in c.source for c in TIMELINE) >= 30


def test_kernels_json_cites_only_files_in_the_repository() -> None:
    result = CliRunner().invoke(app, ["kernels", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    sources = [c["source"] for c in data["commits"]]
    sources += [b["source"] for backports in data["stable"].values() for b in backports]
    for source in sources:
        assert not OUTSIDE.search(source), source
        for path in MARKDOWN_PATH.findall(source):
            assert (ROOT / path).is_file(), source


def test_scenario_references_cite_only_files_in_the_repository() -> None:
    for name in builtin_names():
        for reference in load_builtin(name).references:
            assert not OUTSIDE.search(reference), (name, reference)
            for path in MARKDOWN_PATH.findall(reference):
                assert (ROOT / path).is_file(), (name, reference)
