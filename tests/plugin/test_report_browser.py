"""The report page opened in a real headless browser (Debian's chromium)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from skyqa.report import write_index
from skyqa.summary import read_summary

SUMMARIES = Path(__file__).parents[2] / "fixtures" / "summaries"
ARTIFACTS = Path(os.environ.get("SKYQA_TEST_ARTIFACTS", "test-artifacts"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt where the tests run as root with apt."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=environment, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=environment,
            timeout=900, capture_output=True,
        )  # fmt: skip
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("no chromium here, and no root apt-get to install Debian's package")
    return found


def _render(chromium: str, page: Path, tmp_path: Path, screenshot: Path) -> str:
    profile = tmp_path / "profile"
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1800"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*common, f"--screenshot={screenshot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return dom.stdout


def test_failing_run_shows_its_failures_first_in_a_browser(chromium, tmp_path):
    summary = read_summary(SUMMARIES / "qa-latest.json")
    page = write_index(tmp_path / "index.html", summary, "name = 'horsehead-sim'\n", [], [])
    screenshot = ARTIFACTS / "report-failing.png"
    dom = _render(chromium, page, tmp_path, screenshot)
    assert "Verdict: <b>FAILED</b>" in dom
    for check in summary["checks"]:
        assert check["id"] in dom, f"{check['id']} is not on the page"
    failures, table = dom.index('id="failures"'), dom.index('id="checks"')
    assert failures < table, "the failures must come before the list of checks"
    first_row = dom[table:].split("<tr", 2)[2]
    assert first_row.startswith(' class="failed"')
    assert screenshot.stat().st_size > 10_000  # a rendered page, kept as an artifact


def test_passing_run_renders_with_every_check(chromium, tmp_path):
    summary = read_summary(SUMMARIES / "qa-pinned.json")
    page = write_index(tmp_path / "index.html", summary, "", [], [])
    dom = _render(chromium, page, tmp_path, ARTIFACTS / "report-passing.png")
    assert "Verdict: <b>PASSED</b>" in dom
    assert 'id="failures"' not in dom
    assert all(check["id"] in dom for check in summary["checks"])
