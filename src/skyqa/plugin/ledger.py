"""What a pytest session's skyqa checks found: listed at the end, and written as a summary.

The ledger knows every check collected for a field, including those a ``-k``/``-m``
selection left out, so a field's verdict (`skyqa.summary.run_verdict`) can say whether
everything was checked: a run that checked nothing, stopped early or was interrupted
never reads as passed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from skyqa.pipeline import Pipeline

from skyqa.metrics import run_tables, summary_metrics
from skyqa.plugin.verdicts import NotChecked, use_recorder
from skyqa.recommend import field_recommendation
from skyqa.report import check_line
from skyqa.report.field_report import write_field_report
from skyqa.report.session import write_session_report
from skyqa.report.stages import figure_stages
from skyqa.summary import (
    COMPLETE_VERDICTS,
    build_summary,
    environment_info,
    rank_check,
    read_summary,
    verdict_record,
)
from skyqa.verdict import Verdict

PREVIOUS_COMPLETE = "last-complete"
"""Where a field's last complete report is kept when a run that is not complete replaces it."""


def _recommendation(pipeline, summary: dict) -> dict | None:
    """The field's sky-method recommendation (`skyqa.recommend.field_recommendation`),
    from its products' verdicts; a failure to make it is said, never raised (it must not
    sink the report)."""

    verdicts = {method: product["verdict"] for method, product in summary["products"].items()}
    try:
        return field_recommendation(pipeline, verdicts)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


class CheckLedger:
    """A pytest plugin object: records every skyqa check, lists them, writes summaries.

    Parameters
    ----------
    checks_dir : Path
        Directory of the packaged checks; tests from elsewhere are not listed.
    fields : list of str
        Names of the fields under test.
    report_dir : Path
        Each field's ``summary.json`` goes to ``<report_dir>/<field>/``.
    environment_label : str
        Name of the environment (a tox env, say) recorded in the summaries.
    injected_fault : str, optional
        Name of a fault injected to test the harness (`skyqa.faults`); recorded in the
        summaries' environment and printed with the results.
    """

    def __init__(
        self,
        checks_dir: Path,
        fields: list[str],
        report_dir: Path,
        environment_label: str,
        injected_fault: str | None = None,
    ) -> None:
        self.checks_dir = checks_dir.resolve()
        self.fields = fields
        self.report_dir = report_dir
        self.environment_label = environment_label
        self.injected_fault = injected_fault
        self.checks: dict[str, dict] = {}
        self.verdicts: dict[str, list[Verdict]] = {}
        self.field_of: dict[str, str] = {}
        self.pipelines: dict[str, Pipeline] = {}
        self.errors: dict[str, str] = {}
        self.interrupted = ""
        self.running = ""
        self.summaries: dict[str, dict] = {}
        self.written: list[Path] = []
        self.session: dict | None = None
        """The session summary, when the session checked several fields."""
        self.kept: list[str] = []
        self.unchecked: set[str] = set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # tryfirst: before -k/-m deselect, so that the ledger knows every check there is.
        for item in items:
            if item.path.resolve().parent != self.checks_dir:
                continue
            params = getattr(item, "callspec", None)
            spec = params.params.get("skyqa_field") if params else None
            product = str(params.params.get("skymethod", "")) if params else ""
            self.field_of[item.nodeid] = getattr(spec, "name", "")
            self.checks[item.nodeid] = {
                "id": item.nodeid.split("::")[-1],
                "name": getattr(item, "originalname", item.name),
                "status": "not run",
                "message": "",
                "verdicts": [],
                "worst": None,
                "within": 0,
                # The sky method's mosaic the check judges ("": a check shared by them all).
                "product": product,
                "released": not product or product in getattr(spec, "released_methods", ()),
            }
            self.verdicts[item.nodeid] = []

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            record = self.checks.get(item.nodeid)
            if record is not None:
                record["status"] = "deselected"

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running = nodeid

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        record = self.checks.get(item.nodeid)
        if record is None:
            return (yield)

        def keep(verdicts: list[Verdict]) -> None:
            record["verdicts"].extend(verdict_record(v) for v in verdicts)
            self.verdicts[item.nodeid].extend(verdicts)
            rank_check(record, self.verdicts[item.nodeid])
            # The numbers also go to pytest's JUnit XML (--junitxml), for CI dashboards.
            for v in verdicts:
                if v.value is not None:
                    item.user_properties.append((f"skyqa {v.check} | {v.subject}", v.value))

        with use_recorder(keep, released=record["released"]):
            try:
                return (yield)
            except NotChecked as reason:
                record["status"], record["message"] = "not run", str(reason.msg)
                self.unchecked.add(item.nodeid)
                raise

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.checks.get(report.nodeid)
        if record is None or report.nodeid in self.unchecked:
            return
        if report.when == "call" or report.outcome != "passed":
            status: str = report.outcome
            if report.outcome == "failed" and report.when != "call":
                status = "error"
            if status == "passed" and any(not v["passed"] for v in record["verdicts"]):
                status = "warned"  # findings reported under a "warn" policy
                unfit = any(not v["passed"] and not v["warning"] for v in record["verdicts"])
                if unfit and not record["released"]:
                    status = "failed"  # a product not released: its failures fail no test
            if status == "passed" and not record["verdicts"]:
                status = "error"  # a check that judged nothing has not checked
                record["message"] = "skyqa bug: the check ended without a verdict."
            if record["status"] in ("not run", "passed"):
                record["status"] = status
                if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                    record["message"] = str(report.longrepr[2])
                elif report.outcome == "failed":
                    record["message"] = report.longreprtext[-4000:]

    def stage_error(self, field: str, sentence: str) -> None:
        """Record that a field's pipeline could not make what its checks need."""
        self.errors.setdefault(field, sentence)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo) -> None:
        if isinstance(excinfo.value, KeyboardInterrupt):
            test = self.running.split("::")[-1]
            where = f" during {test}" if test else "" if self.checks else " during collection"
            self.interrupted = "Ctrl-C" + where

    def register_pipeline(self, field: str, pipeline: Pipeline) -> None:
        """Remember a field's pipeline, for the timings and metrics of its summary; its
        report figures are drawn with its stages (`Pipeline.also`)."""

        self.pipelines[field] = pipeline
        pipeline.also = figure_stages()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # tryfirst: the verdicts must be known before the JUnit XML is written.

        if session.config.option.collectonly:
            return  # a session that only lists the checks checks nothing: no verdict, no report
        if not self.checks and not self.interrupted:
            return
        environment = environment_info(self.environment_label)
        environment["injected_fault"] = self.injected_fault
        for field in self.fields:
            checks = [
                record
                for nodeid, record in self.checks.items()
                if self.field_of.get(nodeid) == field
            ]
            pipeline = self.pipelines.get(field)
            metrics = {}
            if pipeline is not None and not self.interrupted:
                metrics = summary_metrics(*run_tables(pipeline.computed()))
            summary = build_summary(
                field,
                checks,
                environment,
                getattr(pipeline, "timings", {}),
                metrics,
                interrupted=self.interrupted,
                error=self.errors.get(field, ""),
            )
            if pipeline is not None and not self.interrupted:
                summary["recommendation"] = _recommendation(pipeline, summary)
            self.summaries[field] = summary
            self._write(self.report_dir / field, summary, pipeline)
        if len(self.summaries) > 1:
            self.session, written = write_session_report(self.report_dir, self.summaries)
            self.written += written
        self._junit_properties(session.config)
        if session.exitstatus == pytest.ExitCode.OK and any(
            summary["verdict"] in ("failed", "error", "incomplete")
            for summary in self.summaries.values()
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write(self, folder: Path, summary: dict, pipeline) -> None:
        """Write the field's report; a run that is not complete keeps the last complete
        report beside its own (`PREVIOUS_COMPLETE`), saying so, instead of replacing it."""

        previous = folder / "summary.json"
        if summary["verdict"] not in COMPLETE_VERDICTS and previous.is_file():
            try:
                complete = read_summary(previous)["verdict"] in COMPLETE_VERDICTS
            except (ValueError, OSError):
                complete = False
            if complete:
                kept = folder / PREVIOUS_COMPLETE
                shutil.rmtree(kept, ignore_errors=True)
                kept.mkdir(parents=True)
                for name in ("summary.json", "index.html", "figures"):
                    if (folder / name).exists():
                        shutil.move(folder / name, kept / name)
                self.kept.append(
                    f"the last complete report of {summary['field']} was moved to {kept}"
                )
        self.written += write_field_report(folder, summary, pipeline, bool(self.interrupted))

    def _junit_properties(self, config: pytest.Config) -> None:
        """Each field's verdict as a property of the JUnit XML test suite (--junitxml)."""
        # The key under which pytest keeps its JUnit writer (what its own
        # record_testsuite_property fixture uses); a session without --junitxml has none.
        from _pytest.junitxml import xml_key

        xml = config.stash.get(xml_key, None)
        if xml is None:
            return
        for field, summary in self.summaries.items():
            xml.add_global_property(f"skyqa verdict | {field}", summary["verdict"])
            xml.add_global_property(f"skyqa headline | {field}", summary["headline"])

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if terminalreporter.config.option.collectonly or not self.summaries:
            return

        terminalreporter.section("skyqa checks")
        hidden = ("deselected", "not run") if self.interrupted else ("deselected",)
        for record in self.checks.values():
            if record["status"] not in hidden:
                terminalreporter.write_line(check_line(record))
        verdicts = {f"for {field}": summary for field, summary in self.summaries.items()}
        if self.session is not None:
            verdicts["for the session"] = self.session
        for whose, summary in verdicts.items():
            terminalreporter.write_line(
                f"skyqa verdict {whose}: {summary['verdict'].upper()}. {summary['headline']}",
                bold=True,
                green=summary["verdict"] == "passed",
                red=summary["verdict"] != "passed",
            )
        for field, summary in self.summaries.items():
            sentence = (summary.get("recommendation") or {}).get("sentence")
            if sentence:
                terminalreporter.write_line(f"skyqa sky method for {field}: {sentence}")
        if self.injected_fault:
            terminalreporter.write_line(
                f"INJECTED FAULT {self.injected_fault!r}: a self-test of the harness; "
                "these results are not QA of the field."
            )
        for line in self.kept:
            terminalreporter.write_line(f"skyqa: {line}")
        for path in self.written:
            terminalreporter.write_line(f"skyqa report: {path}")
