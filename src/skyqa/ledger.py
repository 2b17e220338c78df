"""The list of skyqa checks a pytest session ran, printed at its end."""

from __future__ import annotations

from pathlib import Path

import pytest


class CheckLedger:
    """A pytest plugin object: records the outcome of every skyqa check and lists them.

    Parameters
    ----------
    checks_dir : Path
        Directory of the packaged checks; tests from elsewhere are not listed.
    fields : list of str
        Names of the fields under test, for the closing line.
    """

    def __init__(self, checks_dir: Path, fields: list[str]) -> None:
        self.checks_dir = checks_dir
        self.fields = fields
        self.outcomes: dict[str, str] = {}
        self.check_ids: set[str] = set()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        checks_dir = self.checks_dir.resolve()
        self.check_ids = {item.nodeid for item in items if item.path.resolve().parent == checks_dir}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.check_ids:
            return
        name = report.nodeid.split("::")[-1]
        if report.when == "call" or report.outcome != "passed":
            self.outcomes.setdefault(name, report.outcome)
            if report.outcome == "failed":
                self.outcomes[name] = "failed"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.outcomes:
            return
        terminalreporter.section("skyqa checks")
        for name, outcome in self.outcomes.items():
            terminalreporter.write_line(f"{outcome.upper():8} {name}")
        counts = {
            outcome: list(self.outcomes.values()).count(outcome)
            for outcome in ("passed", "failed", "skipped")
        }
        terminalreporter.write_line(
            f"{len(self.outcomes)} checks on {', '.join(self.fields)}: "
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped."
        )
