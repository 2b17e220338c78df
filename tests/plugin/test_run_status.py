"""A run's verdict means what it says: real ``pytest --field`` sessions in subprocesses
that check nothing, cannot get their data, or are interrupted never read as passed, in
the console, in summary.json or in index.html."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyqa.field import registered_fields
from skyqa.testing import run_session


def _report(report_dir: Path, field: str) -> tuple[dict, str]:
    folder = report_dir / field
    return (
        json.loads((folder / "summary.json").read_text()),
        (folder / "index.html").read_text(),
    )


def _log(path: Path) -> str:
    return path.read_text()


def _assert_schema(summary: dict) -> None:
    import jsonschema

    from skyqa.summary import schema_path

    jsonschema.validate(summary, json.loads(schema_path().read_text()))


def test_a_run_that_selects_no_check_is_partial_not_passed(tmp_path):
    code, summary, log = run_session(
        "mini-sim", tmp_path / "cache", tmp_path / "report", extra_args=["-k", "nothing"]
    )
    assert code == pytest.ExitCode.NO_TESTS_COLLECTED
    _assert_schema(summary)
    assert summary["verdict"] == "partial"
    assert summary["counts"]["selected"] == 0
    assert summary["counts"]["deselected"] == summary["counts"]["total"] > 40
    assert summary["headline"].startswith(f"0 of {summary['counts']['total']} checks selected")
    console = _log(log)
    assert "skyqa verdict for mini-sim: PARTIAL. 0 of" in console
    assert "PASSED" not in console
    _, page = _report(tmp_path / "report", "mini-sim")
    assert "Verdict: <b>PARTIAL</b>" in page
    assert "no verdict on the field" in page
    assert not (tmp_path / "cache" / "mini-sim").exists()  # nothing was built either


def test_a_real_field_without_data_offline_is_an_error_with_one_sentence(tmp_path):
    code, summary, log = run_session("horsehead", tmp_path / "cache", tmp_path / "report")
    assert code == pytest.ExitCode.TESTS_FAILED
    _assert_schema(summary)
    assert summary["verdict"] == "error"
    assert "are not in" in summary["headline"]
    assert "skyqa fetch horsehead" in summary["headline"]
    assert summary["counts"]["not run"] == summary["counts"]["total"]
    console = _log(log)
    assert console.count("skyqa cannot check field horsehead") == 1
    assert "skyqa verdict for horsehead: ERROR. The pipeline could not produce" in console
    assert "Traceback" not in console
    _, page = _report(tmp_path / "report", "horsehead")
    assert "Verdict: <b>ERROR</b>" in page


@pytest.mark.parametrize("content", ["empty", "corrupt"])
def test_a_local_field_whose_folder_is_empty_or_corrupt_is_an_error(tmp_path, content):
    spec = registered_fields()["mini-sim"].read_text()
    head, _, _ = spec.partition("[synthetic]")
    head = head.replace('name = "mini-sim"', 'name = "my-local"')
    head = head.replace('kind = "synthetic"', 'kind = "local"')
    head = head.replace('source = "synthetic"', 'source = "file"')
    data = tmp_path / "data"
    data.mkdir()
    (data / "stars.csv").write_text("ra,dec\n85.25,-2.45\n")
    if content == "corrupt":
        (data / "isqa01abq_flt.fits").write_bytes(b"SIMPLE  =                    T" + b"\0" * 50)
    spec_path = tmp_path / "my-local.toml"
    spec_path.write_text(head + '[local]\ndirectory = "data"\ncatalog = "data/stars.csv"\n')

    code, summary, log = run_session(str(spec_path), tmp_path / "cache", tmp_path / "report")
    assert code == pytest.ExitCode.TESTS_FAILED
    assert summary["verdict"] == "error"
    console = _log(log)
    assert "skyqa verdict for my-local: ERROR" in console
    assert "Traceback" not in console
    _, page = _report(tmp_path / "report", "my-local")
    assert "Verdict: <b>ERROR</b>" in page


@pytest.mark.integration
def test_a_partial_run_keeps_the_last_complete_report(mini_pipeline, shared_cache_dir, tmp_path):
    report = tmp_path / "report"
    code, complete, _ = run_session("mini-sim", shared_cache_dir, report)
    assert code == 0
    assert complete["verdict"] == "passed"
    code, partial, log = run_session(
        "mini-sim", shared_cache_dir, report, extra_args=["-k", "seam_free"]
    )
    assert code == 0  # every selected check passed: pytest's meaning of 0
    assert partial["verdict"] == "partial"
    assert partial["headline"].startswith(f"2 of {complete['counts']['total']} checks selected")
    kept = json.loads((report / "mini-sim" / "last-complete" / "summary.json").read_text())
    assert kept["created_utc"] == complete["created_utc"]
    assert kept["verdict"] == "passed"
    assert (report / "mini-sim" / "last-complete" / "index.html").is_file()
    assert "the last complete report of mini-sim was moved to" in _log(log)


@pytest.mark.integration
def test_ctrl_c_during_the_mosaics_is_interrupted_in_one_line(
    mini_pipeline, shared_cache_dir, tmp_path
):
    """A cold run (the mosaics not yet built) sent SIGINT while it drizzles."""
    cache = tmp_path / "cache"
    for entry in (shared_cache_dir / "mini-sim").glob("*"):
        if entry.name.startswith(("exposures-", "catalog-", "alignment-")):
            shutil.copytree(entry, cache / "mini-sim" / entry.name)
    report = tmp_path / "report"
    report.mkdir()
    log_path = report / "session.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "pytest", "--field", "mini-sim",
                "--skyqa-cache-dir", str(cache), "--skyqa-report-dir", str(report),
                "-p", "no:cacheprovider", "-q", f"--basetemp={report / 'tmp'}",
            ],
            cwd=report, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while not list((cache / "mini-sim").glob(".building-mosaic-*")):
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "no mosaic started within 5 minutes"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)
    assert code == pytest.ExitCode.INTERRUPTED
    console = log_path.read_text()
    assert "Traceback" not in console, console[-3000:]
    assert "skyqa verdict for mini-sim: INTERRUPTED. Interrupted (Ctrl-C during" in console
    summary, page = _report(report, "mini-sim")
    _assert_schema(summary)
    assert summary["verdict"] == "interrupted"
    assert summary["counts"]["passed"] < summary["counts"]["total"]
    assert "Verdict: <b>INTERRUPTED</b>" in page
    assert "No figures: the run was interrupted." in page


def test_collect_only_checks_nothing_writes_no_report_and_prints_no_verdict(tmp_path):
    """`--collect-only` lists the checks: no verdict line, no summary, exit 0, and a
    complete report already there is left where it is."""
    report = tmp_path / "report"
    kept = report / "mini-sim" / "summary.json"
    kept.parent.mkdir(parents=True)
    kept.write_text('{"verdict": "passed"}')
    code, _, log = run_session(
        "mini-sim", tmp_path / "cache", report, extra_args=["--collect-only"]
    )
    console = _log(log)
    assert code == pytest.ExitCode.OK, console[-2000:]
    assert "test_alignment_fit[mini-sim-isqa01030]" in console
    assert "skyqa verdict" not in console
    assert "skyqa report:" not in console
    assert kept.read_text() == '{"verdict": "passed"}'
    assert not (report / "mini-sim" / "last-complete").exists()
    assert not (report / "mini-sim" / "index.html").exists()


def test_ctrl_c_during_collection_gets_a_verdict_line(tmp_path):
    """A KeyboardInterrupt while pytest collects (a plugin raises it, as Ctrl-C would)."""
    (tmp_path / "interrupt_collection.py").write_text(
        "def pytest_collectstart(collector):\n"
        "    if collector.nodeid.endswith('test_alignment.py'):\n"
        "        raise KeyboardInterrupt\n"
    )
    code, summary, log = run_session(
        "mini-sim",
        tmp_path / "cache",
        tmp_path / "report",
        extra_args=["-p", "interrupt_collection"],
        env={"PYTHONPATH": str(tmp_path)},
    )
    console = _log(log)
    assert code == pytest.ExitCode.INTERRUPTED, console[-2000:]
    assert "skyqa verdict for mini-sim: INTERRUPTED. Interrupted (Ctrl-C during collection)" in (
        console
    )
    assert summary["verdict"] == "interrupted"
    _assert_schema(summary)
