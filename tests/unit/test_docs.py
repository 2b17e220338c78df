"""The reference documentation (docs/) builds, with every Sphinx warning an error."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    """As `sphinx-build -W` runs (its own process: the test suite's Python warnings filter
    is not Sphinx's; a deprecation inside myst-parser is not a warning of the docs)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", DOCS, tmp_path / "html"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "html" / "architecture.html").is_file()


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text()
    pages = {path.stem for path in DOCS.glob("*.md")} - {"index"}
    missing = sorted(page for page in pages if f"\n{page}\n" not in index)
    assert missing == []


LINK = re.compile(r"\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")


def broken_links(page: Path, inside: Path) -> list[str]:
    """The Markdown links of ``page`` to a local file that is missing, or outside
    ``inside`` (the Sphinx build carries only docs/: a link out of it breaks there)."""
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path = (page.parent / target).resolve()
        if not path.exists() or not path.is_relative_to(inside.resolve()):
            broken.append(f"{page.name}: {target}")
    return broken


def test_every_internal_link_of_the_docs_and_the_readme_holds():
    """Sphinx fails on a link it cannot follow (-W, above); this names them without a
    build, and holds the README (not part of the build) to the same rule."""
    broken = [link for page in sorted(DOCS.glob("*.md")) for link in broken_links(page, DOCS)]
    broken += broken_links(DOCS.parent / "README.md", DOCS.parent)
    assert broken == []


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "docs" / "page.md"
    page.write_text("[a](missing.md) [b](../there.md) [c](https://example.org/x.md) [d](page.md)")
    assert broken_links(page, tmp_path / "docs") == ["page.md: missing.md", "page.md: ../there.md"]


GENERATED_PAGES = {"benchmarks", "sensitivity", "sensitivity-acs-mini-sim", "mutation-survivors"}
"""Pages a script writes whole (their producers: benchmarks/, tests/mutation/classify.py)."""
GENERATED_BLOCK = re.compile(r"<!-- ([\w-]+):begin -->.*?<!-- \1:end -->", re.S)
COUNT = re.compile(r"\b\d+ (?:of \d+ )?checks\b")


def hand_written_counts(text: str) -> list[str]:
    """The counts of checks in ``text`` outside its generated blocks (a test writes
    those: the fault tables of docs/faults.md) and its console output (the README's,
    held against a fresh run by tests/integration/test_readme.py)."""
    text = GENERATED_BLOCK.sub("", text)
    text = re.sub(r"```\n=+ skyqa checks =+\n.*?```", "", text, flags=re.S)
    return COUNT.findall(text)


def test_no_count_of_checks_is_written_by_hand():
    """A count a run prints changes with the next check: generated, or not written."""
    found = {
        page.name: counts
        for page in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]
        if page.stem not in GENERATED_PAGES and (counts := hand_written_counts(page.read_text()))
    }
    assert found == {}


def test_a_hand_written_count_is_found():
    assert hand_written_counts("the pinned set passes all 75 checks") == ["75 checks"]
    table = "<!-- fault-table:begin -->\n| 59 of 59 checks passed |\n<!-- fault-table:end -->"
    assert hand_written_counts(table) == []
