"""`cowlab run --html`: a sequence diagram with a lane per actor, a stopped thread drawn
across the steps it waits, broken promises where they break, commits linked upstream,
and the state each step leaves; checked in the page's structure and, where Debian's
chromium is installed, in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.report.html_report import run_html
from cowlab.scenario.catalog import load_builtin


class Cells(HTMLParser):
    """The sequence table: its header lanes, and each row's cell classes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.lanes: list[str] = []
        self.rows: list[list[tuple[str, str]]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._class = ""
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._class = [], a.get("class") or ""
        elif tag == "a":
            self.links.append(a.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._in_head:
                self.lanes.append(text)
            elif self.rows:
                self.rows[-1].append((self._class, text))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _gaudi_page() -> str:
    return run_html(run_scenario(load_builtin("gaudi"), kernel_at("v5.16"), keep_state=True))


def test_the_page_is_a_sequence_diagram_with_the_state_beside_it() -> None:
    cells = Cells()
    cells.feed(_gaudi_page())
    sequence_rows = [r for r in cells.rows if r and r[0][0] == "index"]
    assert cells.lanes[:5] == ["step", "T1", "T2", "kernel", "device"]
    step7 = sequence_rows[7]  # T2's scan while T1 waits inside its migration
    assert step7[1][0] == "lane stopped" and step7[2][0] == "lane acting"
    assert "writable migration entry -> readable" in step7[2][1]
    assert "~ P vpn 0x100: writable migration entry for pfn 1 -> readable migration entry" in step7[-1][1]
    step9 = sequence_rows[9]
    assert "BROKEN pin_coherence" in step9[1][1]
    assert "https://git.kernel.org/torvalds/c/09854ba94c6a" in cells.links


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_a_real_browser_renders_the_page(tmp_path: Path) -> None:
    page = tmp_path / "gaudi.html"
    page.write_text(_gaudi_page())
    shot = tmp_path / "gaudi.png"
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800"]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "pin_coherence broken at step 9" in dom
    assert 'class="lane stopped"' in dom
    subprocess.run(
        [*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True
    )
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a page, not a blank


def test_check_writes_its_counterexample_as_html_with_the_kernel_choices(tmp_path: Path) -> None:
    """The route through --emit-scenario and run --html lost nothing: the page shows the
    counterexample's `choose: trylock_fail` steps."""
    from typer.testing import CliRunner

    from cowlab.cli import app

    out = tmp_path / "ce.html"
    result = CliRunner().invoke(app, ["check", "gaudi-open", "-k", "v5.17", "--html", str(out)])
    assert result.exit_code == 1
    page = out.read_text()
    assert "choose trylock_fail" in page and "BROKEN pin_coherence" in page
    # the failed passes that read the same are one row, as in the text trace
    assert re.search(r'id="step-\d+-\d+"', page)
    assert re.search(r"\(\d+ identical steps\)", page)


def test_bisect_html_puts_the_two_traces_side_by_side(tmp_path: Path) -> None:
    """Without and with the first commit that changes the verdict, the first differing
    step highlighted and the lines that differ marked."""
    from typer.testing import CliRunner

    from cowlab.cli import app

    out = tmp_path / "bisect.html"
    assert CliRunner().invoke(app, ["bisect", "gaudi", "--html", str(out)]).exit_code == 0
    cells = Cells()
    page = out.read_text()
    cells.feed(page)
    assert "https://git.kernel.org/torvalds/c/09854ba94c6a" in cells.links
    assert '<tr id="step-9" class="first-difference">' in page
    step9 = next(r for r in cells.rows if r and r[0][1] == "9")
    assert "reuse" in step9[1][1] and "copy pfn 1 to new pfn 2" in step9[2][1]


def test_a_stable_only_commit_links_to_the_stable_tree() -> None:
    """476c1dfefab8 exists only on 6.1.y: Linus's tree has no such commit."""
    page = Cells()
    page.feed(run_html(run_scenario(load_builtin("vfio-zero-page-pin"), kernel_at("v6.1.130"))))
    assert "https://git.kernel.org/stable/c/476c1dfefab8" in page.links
    assert not [
        link for link in page.links if link.startswith("https://git.kernel.org/torvalds/c/476c1dfefab8")
    ]
