"""The fault-injection suite: every known fault is caught, clean seeds raise no alarm.

Each fault runs a real ``pytest --field mini-sim --skyqa-inject-fault NAME`` session in a
subprocess (sharing one cache, so a session redoes only the stages its fault changes),
and each clean seed a real session of a new realisation of mini-sim. The documented fault
table is `skyqa.testing.fault_table` of these sessions: the last test checks that it is.
"""

import os
import re
from pathlib import Path

import pytest

from skyqa.faults import FAULTS
from skyqa.field import resolve_field
from skyqa.testing import evidence_table, fault_table, run_fault_suite

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FAULT_PAGE = ROOT / "docs" / "faults.md"
CLEAN_SEEDS = (7, 11, 31)
TABLE = re.compile(r"(<!-- fault-table:begin -->\n)(.*?)(<!-- fault-table:end -->)", re.S)
UPDATE_ENV = "SKYQA_UPDATE_FAULT_TABLE"


@pytest.fixture(scope="module")
def suite(shared_cache_dir, tmp_path_factory):
    field = resolve_field("mini-sim")
    work = tmp_path_factory.mktemp("faults")
    results = run_fault_suite(
        field,
        shared_cache_dir,
        work,
        seeds=CLEAN_SEEDS,
        extra_args=("--skyqa-baseline-dir", str(ROOT / "baselines")),
    )
    # Evidence for a person (and CI artifacts): what failed, with the measured values.
    (work / "faults.md").write_text(fault_table(results) + "\n" + evidence_table(results))
    print(f"fault suite evidence: {work / 'faults.md'}")
    return {result.label: result for result in results}


def _session_problem(result):
    if not result.summary:
        return f"the session wrote no summary.json: read {result.log_path}"
    return ""


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_is_caught_by_its_check(suite, name):
    result = suite[name]
    assert not _session_problem(result), _session_problem(result)
    assert result.exit_code == 1, f"pytest exit code {result.exit_code}: read {result.log_path}"
    assert not result.missed(), (
        f"fault {name} ({result.fault.description}) was NOT caught: "
        f"{', '.join(f'{check} {result.statuses().get(check)}' for check in result.missed())}. "
        f"Session log: {result.log_path}"
    )
    for check in result.expected:
        sentence = result.first_failure(check)
        assert sentence, f"{check} failed without a failed verdict saying what it measured"
    # The fault was injected into skyqa's copies: the acquired inputs are untouched,
    # and the session went on to report every check, not only the first failure.
    statuses = result.statuses()
    assert statuses["test_inputs_untouched[mini-sim]"] == "passed"
    assert set(statuses) == set(suite["clean-seed2024"].statuses())
    assert result.summary["environment"]["injected_fault"] == name


@pytest.mark.parametrize("seed", [2024, *CLEAN_SEEDS])
def test_clean_run_raises_no_false_alarm(suite, seed):
    """A clean seed may fail a check only where its truth shows the failure real
    (`skyqa.review`: drizzlepac's result is off by more than the threshold)."""
    result = suite[f"clean-seed{seed}"]
    assert not _session_problem(result), _session_problem(result)
    unconfirmed = {check: result.first_failure(check) for check in result.unconfirmed()}
    reviews = "; ".join(review.line() for review in result.reviews)
    assert not unconfirmed, (
        f"false alarm on clean seed {seed}: {unconfirmed}, which the truth does not show "
        f"({reviews}; log {result.log_path})"
    )
    assert {review.check for review in result.reviews} == set(result.failed())
    assert result.exit_code == (1 if result.failed() else 0)
    assert result.summary["environment"]["injected_fault"] is None


def test_documented_fault_table_is_the_suites_own(suite):
    """The table in docs/faults.md is what this suite produced (set
    SKYQA_UPDATE_FAULT_TABLE=1 to write it there after a deliberate change)."""
    ordered = [suite["clean-seed2024"], *(suite[name] for name in FAULTS)]
    ordered += [suite[f"clean-seed{seed}"] for seed in CLEAN_SEEDS]
    produced = fault_table(ordered)
    text = FAULT_PAGE.read_text()
    match = TABLE.search(text)
    assert match, f"{FAULT_PAGE} has no <!-- fault-table:begin/end --> markers"
    if os.environ.get(UPDATE_ENV) == "1" and match.group(2) != produced:
        FAULT_PAGE.write_text(text[: match.start(2)] + produced + text[match.end(2) :])
        pytest.fail(f"{FAULT_PAGE} fault table rewritten from this run: review and commit it")
    assert match.group(2) == produced, (
        "the documented fault table differs from what the suite produced; rerun with "
        f"{UPDATE_ENV}=1 to write it, then review the change:\n{produced}"
    )
