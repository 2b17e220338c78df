"""The reference documentation (docs/) builds, with every Sphinx warning an error."""

from __future__ import annotations

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
