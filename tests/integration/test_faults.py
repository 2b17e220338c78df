"""The fault-injection suite: every known fault is caught, clean seeds raise no alarm.

Each fault runs a real ``pytest --field mini-sim --skyqa-inject-fault NAME`` session in a
subprocess (sharing one cache, so a session redoes only the stages its fault changes),
and each clean seed a real session of a new realisation of mini-sim. The faults of the
two-chip CCDs run the same way on acs-mini-sim. The documented fault tables are
`skyqa.testing.fault_table` of these sessions: the last tests check that they are.
"""

import os
import re
from pathlib import Path

import pytest

from skyqa.faults import FAULTS, faults_for
from skyqa.field import resolve_field
from skyqa.testing import evidence_table, fault_table, run_fault_suite

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FAULT_PAGE = ROOT / "docs" / "faults.md"
CLEAN_SEEDS = (7, 11, 31)
UPDATE_ENV = "SKYQA_UPDATE_FAULT_TABLE"
FIELD = "mini-sim"
ONE_CHIP_FAULTS = faults_for(resolve_field(FIELD))
TWO_CHIP_FIELD = "acs-mini-sim"
TWO_CHIP_FAULTS = [
    name for name in faults_for(resolve_field(TWO_CHIP_FIELD)) if FAULTS[name].detectors
]


def _table(marker: str) -> re.Pattern:
    return re.compile(rf"(<!-- {marker}:begin -->\n)(.*?)(<!-- {marker}:end -->)", re.S)


def _run_suite(name, cache_dir, tmp_path_factory, faults, seeds=()):
    work = tmp_path_factory.mktemp(f"faults-{name}")
    results = run_fault_suite(
        resolve_field(name),
        cache_dir,
        work,
        faults=faults,
        seeds=seeds,
        extra_args=("--skyqa-baseline-dir", str(ROOT / "baselines")),
    )
    # Evidence for a person (and CI artifacts): what failed, with the measured values.
    (work / "faults.md").write_text(fault_table(results) + "\n" + evidence_table(results))
    print(f"fault suite evidence: {work / 'faults.md'}")
    return {result.label: result for result in results}


@pytest.fixture(scope="module")
def suite(shared_cache_dir, tmp_path_factory):
    return _run_suite(FIELD, shared_cache_dir, tmp_path_factory, ONE_CHIP_FAULTS, CLEAN_SEEDS)


@pytest.fixture(scope="module")
def two_chip_suite(shared_cache_dir, tmp_path_factory):
    return _run_suite(TWO_CHIP_FIELD, shared_cache_dir, tmp_path_factory, TWO_CHIP_FAULTS)


def _session_problem(result):
    if not result.summary:
        return f"the session wrote no summary.json: read {result.log_path}"
    return ""


def _assert_caught(suite, name, field):
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
    assert statuses[f"test_inputs_untouched[{field}]"] == "passed"
    clean = next(label for label in suite if label.startswith("clean-seed"))
    assert set(statuses) == set(suite[clean].statuses())
    assert result.summary["environment"]["injected_fault"] == name


@pytest.mark.parametrize("name", ONE_CHIP_FAULTS)
def test_fault_is_caught_by_its_check(suite, name):
    _assert_caught(suite, name, FIELD)


@pytest.mark.parametrize("name", TWO_CHIP_FAULTS)
def test_two_chip_fault_is_caught_by_its_check(two_chip_suite, name):
    _assert_caught(two_chip_suite, name, TWO_CHIP_FIELD)


def test_chip_offset_is_a_seam_at_the_offset_chips_edge(two_chip_suite):
    """The first exposure's [SCI,2] is offset and match gives the exposure one sky: the
    seams of its two chips' pairs fail with opposite signs (one chip left too bright, the
    other too dark), which is a step at the edge between its chips."""
    result = two_chip_suite["chip-offset"]
    check = f"test_seam_free[{TWO_CHIP_FIELD}-match]"
    (verdicts,) = [c["verdicts"] for c in result.summary["checks"] if c["id"] == check]
    signs = {}
    for verdict in verdicts:
        chip = re.match(r"pair jsqa01a1q chip (\d)-", verdict["subject"])  # the first exposure
        if chip and not verdict["passed"]:
            signs.setdefault(chip.group(1), set()).add(verdict["value"] > 0)
    assert set(signs) == {"1", "2"}, signs
    assert {len(found) for found in signs.values()} == {1}, signs  # one sign per chip
    assert signs["1"] != signs["2"], signs


@pytest.mark.parametrize("seed", [2024, *CLEAN_SEEDS])
def test_clean_run_raises_no_false_alarm(suite, seed):
    """A clean seed may fail a check only where its truth shows the failure real
    (`skyqa.review`: drizzlepac's result is off by more than the threshold)."""
    _assert_no_false_alarm(suite[f"clean-seed{seed}"])


def test_two_chip_clean_run_raises_no_false_alarm(two_chip_suite):
    """The same for the clean session of acs-mini-sim."""
    clean = next(label for label in two_chip_suite if label.startswith("clean-seed"))
    _assert_no_false_alarm(two_chip_suite[clean])


def _assert_no_false_alarm(result):
    assert not _session_problem(result), _session_problem(result)
    unconfirmed = {check: result.first_failure(check) for check in result.unconfirmed()}
    reviews = "; ".join(review.line() for review in result.reviews)
    assert not unconfirmed, (
        f"false alarm on {result.label}: {unconfirmed}, which the truth does not show "
        f"({reviews}; log {result.log_path})"
    )
    assert {review.check for review in result.reviews} == set(result.failed())
    assert result.exit_code == (1 if result.failed() else 0)
    assert result.summary["environment"]["injected_fault"] is None


def _documented(marker, produced):
    text = FAULT_PAGE.read_text()
    match = _table(marker).search(text)
    assert match, f"{FAULT_PAGE} has no <!-- {marker}:begin/end --> markers"
    if os.environ.get(UPDATE_ENV) == "1" and match.group(2) != produced:
        FAULT_PAGE.write_text(text[: match.start(2)] + produced + text[match.end(2) :])
        pytest.fail(f"{FAULT_PAGE} {marker} rewritten from this run: review and commit it")
    assert match.group(2) == produced, (
        f"the documented {marker} differs from what the suite produced; rerun with "
        f"{UPDATE_ENV}=1 to write it, then review the change:\n{produced}"
    )


def test_documented_fault_table_is_the_suites_own(suite):
    """The table in docs/faults.md is what this suite produced (set
    SKYQA_UPDATE_FAULT_TABLE=1 to write it there after a deliberate change)."""
    ordered = [suite["clean-seed2024"], *(suite[name] for name in ONE_CHIP_FAULTS)]
    ordered += [suite[f"clean-seed{seed}"] for seed in CLEAN_SEEDS]
    _documented("fault-table", fault_table(ordered))


def test_documented_two_chip_fault_table_is_the_suites_own(two_chip_suite):
    clean = next(label for label in two_chip_suite if label.startswith("clean-seed"))
    ordered = [two_chip_suite[name] for name in TWO_CHIP_FAULTS]
    _documented("two-chip-fault-table", fault_table([two_chip_suite[clean], *ordered]))
