"""The README's example output is the run's own: every line of it is a line a fresh
`pytest --field horsehead-sim` prints, so every number in it is one the run prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyqa.testing import run_session

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"


def readme_example_lines() -> list[str]:
    """The lines of the README's example output (its first fenced block after "It ends
    with the list of checks"), without the section rule and the ``...`` elisions."""
    text = README.read_text()
    start = text.index("```\n", text.index("It ends with the list of checks")) + 4
    block = text[start : text.index("```", start)]
    return [
        line
        for line in block.splitlines()
        if line.strip() and line.strip() != "..." and not line.startswith("=====")
    ]


def test_the_readme_example_output_is_what_a_fresh_run_prints(shared_cache_dir, tmp_path):
    code, summary, log = run_session("horsehead-sim", shared_cache_dir, tmp_path / "report")
    console = set(log.read_text().splitlines())
    expected = readme_example_lines()
    assert len(expected) >= 8
    missing = [line for line in expected if line not in console]
    assert missing == [], "README lines the run did not print:\n" + "\n".join(missing)
    assert code == pytest.ExitCode.OK
    assert summary["verdict"] == "passed"
