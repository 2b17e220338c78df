"""What a pytest session's skyqa checks found: listed at the end, and written as a summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyqa import verdict


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
        self.field_of: dict[str, str] = {}
        self.pipelines: dict[str, object] = {}
        self.written: list[Path] = []

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.path.resolve().parent != self.checks_dir:
                continue
            params = getattr(item, "callspec", None)
            spec = params.params.get("skyqa_field") if params else None
            self.field_of[item.nodeid] = getattr(spec, "name", "")
            self.checks[item.nodeid] = {
                "id": item.nodeid.split("::")[-1],
                "name": item.originalname,
                "status": "not run",
                "message": "",
                "verdicts": [],
            }

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        record = self.checks.get(item.nodeid)
        if record is None:
            return (yield)

        def keep(verdicts: list[verdict.Verdict]) -> None:
            from skyqa.summary import verdict_record

            record["verdicts"].extend(verdict_record(v) for v in verdicts)
            # The numbers also go to pytest's JUnit XML (--junitxml), for CI dashboards.
            for v in verdicts:
                if v.value is not None:
                    item.user_properties.append((f"skyqa {v.check} | {v.subject}", v.value))

        verdict.set_recorder(keep)
        try:
            return (yield)
        finally:
            verdict.set_recorder(None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.checks.get(report.nodeid)
        if record is None:
            return
        if report.when == "call" or report.outcome != "passed":
            status = report.outcome
            if report.outcome == "failed" and report.when != "call":
                status = "error"
            if status == "passed" and any(not v["passed"] for v in record["verdicts"]):
                status = "warned"  # findings reported under a "warn" policy
            if record["status"] in ("not run", "passed"):
                record["status"] = status
                if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                    record["message"] = str(report.longrepr[2])
                elif report.outcome == "failed":
                    record["message"] = report.longreprtext[-4000:]

    def register_pipeline(self, field: str, pipeline: object) -> None:
        """Remember a field's pipeline, for the timings and metrics of its summary; its
        report figures are drawn with its stages (`Pipeline.draw_figures`)."""
        self.pipelines[field] = pipeline
        pipeline.draw_figures = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from skyqa.summary import build_summary, environment_info, pipeline_metrics, write_summary

        if not self.checks:
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
            summary = build_summary(
                field,
                checks,
                environment,
                getattr(pipeline, "timings", {}),
                pipeline_metrics(pipeline) if pipeline is not None else {},
            )
            folder = self.report_dir / field
            self.written.append(write_summary(folder / "summary.json", summary))
            self.written.append(self._write_report(folder, summary, pipeline))

    def _write_report(self, folder: Path, summary: dict, pipeline) -> Path:
        from skyqa.report import cached_figures, write_index

        figures, problems = [], []
        spec_text = ""
        if pipeline is not None:
            figures, problems = cached_figures(pipeline, folder / "figures")
            source = getattr(pipeline.field, "source_path", None)
            spec_text = source.read_text() if source is not None else ""
        return write_index(folder / "index.html", summary, spec_text, figures, problems)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.checks:
            return
        terminalreporter.section("skyqa checks")
        for record in self.checks.values():
            terminalreporter.write_line(f"{record['status'].upper():8} {record['id']}")
        statuses = [record["status"] for record in self.checks.values()]
        terminalreporter.write_line(
            f"{len(statuses)} checks on {', '.join(self.fields)}: "
            f"{statuses.count('passed') + statuses.count('warned')} passed "
            f"({statuses.count('warned')} with warnings), "
            f"{statuses.count('failed') + statuses.count('error')} failed, "
            f"{statuses.count('skipped')} skipped."
        )
        if self.injected_fault:
            terminalreporter.write_line(
                f"INJECTED FAULT {self.injected_fault!r}: a self-test of the harness; "
                "these results are not QA of the field."
            )
        for path in self.written:
            terminalreporter.write_line(f"skyqa report: {path}")
