"""Verdicts and a run's verdict: each rule at its edge."""

import math

import pytest

from skyqa.plugin.verdicts import record
from skyqa.summary import run_verdict
from skyqa.verdict import Verdict, about, annotate, failures, is_finite, worst


def _verdict(value=None, limit=None, passed=True, upper=True, item=""):
    return Verdict("c", "s", passed, "m", "t", "advice.", item=item, value=value, limit=limit,
                   upper=upper)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "limit", "upper", "ratio"),
    [
        (0.05, 0.1, True, 0.5),
        (-0.05, 0.1, True, 0.5),  # both signs count
        (0.2, 0.1, True, 2.0),
        (8.0, 4.0, False, 0.5),  # a lower bound: limit / value
        (2.0, 4.0, False, 2.0),
        (0.0, 0.0, True, 0.0),
        (0.1, 0.0, True, math.inf),
        (0.0, 4.0, False, math.inf),
        (-1.0, 4.0, False, math.inf),  # a negative count is far past a lower bound of 4
        (1.0, 0.0, False, 0.0),
        (math.nan, 0.1, True, math.inf),
        (None, 0.1, True, None),
        (0.1, None, True, None),
    ],
)
def test_ratio_to_the_threshold(value, limit, upper, ratio):
    assert _verdict(value, limit, upper=upper).ratio() == ratio


def test_worst_prefers_a_failure_then_the_nearest_then_the_first():
    assert worst([]) is None
    assert worst([_verdict(0.01, 0.1), _verdict(0.09, 0.1), _verdict(0.05, 0.1)]) == 1
    assert worst([_verdict(0.09, 0.1), _verdict(0.01, 0.1, passed=False)]) == 1
    assert worst([_verdict(0.05, 0.1), _verdict(0.05, 0.1)]) == 0
    assert worst([_verdict(), _verdict(0.01, 0.1)]) == 1  # a number beats none
    assert worst([_verdict(0.5, 0.1, passed=False), _verdict(passed=False)]) == 1
    assert worst([_verdict(0.5, 0.1, passed=False), _verdict(math.nan, 0.1, passed=False)]) == 1


def test_is_finite():
    assert is_finite(1)
    assert is_finite(-2.5)
    assert not any(map(is_finite, [math.nan, math.inf, -math.inf, None, "x", "nan"]))


def test_message_of_a_passed_and_a_failed_verdict_and_a_warning():
    passed = Verdict("Fit RMS", "visit v", True, "0.1 pix", "<= 0.2 pix", "look.")
    assert passed.message() == "Fit RMS passed for visit v: measured 0.1 pix, required <= 0.2 pix."
    failed = Verdict("Fit RMS", "visit v", False, "0.3 pix", "<= 0.2 pix", "look.")
    assert failed.message("WARNING") == (
        "Fit RMS WARNING for visit v: measured 0.3 pix, required <= 0.2 pix. Next: look."
    )


def test_about_selects_one_items_verdicts_or_all():
    verdicts = [_verdict(item="v1"), _verdict(item="v2"), _verdict(item="v1")]
    assert about(verdicts, "v1") == [verdicts[0], verdicts[2]]
    assert about(verdicts, "all") == verdicts
    assert about(verdicts, "v3") == []


def test_annotate_puts_the_note_before_the_advice_of_failures_only():
    verdicts = [_verdict(passed=True), _verdict(passed=False)]
    noted = annotate(verdicts, "Cause: a fallback.")
    assert noted[0].advice == "advice."
    assert noted[1].advice == "Cause: a fallback. Advice."
    assert annotate(verdicts, "") == verdicts


def test_record_and_report_hand_verdicts_to_the_recorder(recorder):
    from skyqa.plugin.verdicts import warn

    record([_verdict()])
    with pytest.warns(UserWarning, match="c WARNING for s") as warned:
        failed = warn([_verdict(passed=False), _verdict()])
    assert len(failed) == 1
    import skyqa.plugin.verdicts

    assert warned[0].filename != skyqa.plugin.verdicts.__file__  # shown where it was called
    assert [len(batch) for batch in recorder] == [1, 2]


def test_require_fails_with_every_failure_and_records_first(recorder):
    from skyqa.plugin.verdicts import require

    with pytest.raises(pytest.fail.Exception) as raised:
        require([_verdict(passed=False), _verdict(), _verdict(passed=False)])
    assert str(raised.value).startswith("2 of 3 verdicts failed:\nc FAILED for s")
    assert raised.value.pytrace is False  # the sentences, without a traceback
    assert recorder == [[_verdict(passed=False), _verdict(), _verdict(passed=False)]]
    require([_verdict()])
    assert len(recorder) == 2


@pytest.fixture
def recorder():
    from skyqa.plugin.verdicts import use_recorder

    batches = []
    with use_recorder(batches.append):
        yield batches


def _checks(*statuses):
    return [{"id": f"test_{i}[f]", "status": s, "message": ""} for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("statuses", "verdict", "headline"),
    [
        (["passed", "warned", "skipped"], "passed",
         "All 3 checks ran: 2 passed (1 with warnings, 1 not applicable)."),
        (["passed"], "passed", "All 1 checks ran: 1 passed."),
        (["passed", "deselected"], "partial",
         "1 of 2 checks selected; 1 passed. Not a verdict on the whole field."),
        (["deselected"], "partial",
         "0 of 1 checks selected; 0 passed. Not a verdict on the whole field."),
        (["passed", "not run"], "incomplete",
         "1 of 2 selected checks did not run (test_1[f]): no verdict on the field."),
        (["failed", "not run", "passed"], "failed",
         "1 of 3 checks failed (test_0[f]); 1 did not run (test_1[f])."),
        (["failed", "deselected"], "failed", "1 of 1 checks failed (test_0[f])."),
        (["failed", "error"], "error", "1 of 2 checks could not be evaluated (test_1[f])."),
    ],
)  # fmt: skip
def test_run_verdict_from_the_statuses(statuses, verdict, headline):
    assert run_verdict(_checks(*statuses)) == (verdict, headline)


def test_run_verdict_interrupted_and_error_come_first():
    checks = _checks("passed", "failed", "not run")
    verdict, headline = run_verdict(checks, interrupted="Ctrl-C during test_1[f]")
    assert verdict == "interrupted"
    assert headline == (
        "Interrupted (Ctrl-C during test_1[f]): 2 of 3 checks ran before it stopped; "
        "this is no verdict on the field."
    )
    verdict, headline = run_verdict(checks, error="The data are not in /x.")
    assert (verdict, headline) == (
        "error",
        "The pipeline could not produce what the checks need: The data are not in /x.",
    )


def test_run_verdict_names_the_last_line_of_an_errors_message_and_lists_at_most_five():
    checks = _checks(*["error"] * 7)
    checks[0]["message"] = "Traceback\nValueError: bad input"
    verdict, headline = run_verdict(checks)
    assert verdict == "error"
    assert headline == (
        "7 of 7 checks could not be evaluated (test_0[f], test_1[f], test_2[f], test_3[f], "
        "test_4[f] and 2 more): ValueError: bad input"
    )


def test_an_empty_check_fails_without_a_traceback():
    from skyqa.plugin.verdicts import require

    with pytest.raises(pytest.fail.Exception) as raised:
        require([])
    assert str(raised.value) == "skyqa bug: a check produced no verdict at all."
    assert raised.value.pytrace is False


def test_failures_lists_the_failed():
    verdicts = [_verdict(passed=False), _verdict()]
    assert failures(verdicts) == [verdicts[0]]


def test_a_verdict_holds_plain_booleans_and_a_passed_one_no_warning():
    import numpy as np

    verdict = Verdict("c", "s", np.bool_(True), "m", "t", "a.", warning=np.bool_(True))
    assert type(verdict.passed) is bool
    assert verdict.passed is True
    assert verdict.warning is False  # a verdict that passed warns of nothing
    warned = Verdict("c", "s", np.bool_(False), "m", "t", "a.", warning=np.bool_(True))
    assert type(warned.warning) is bool
    assert warned.warning is True


def test_severity_ranks_a_failure_over_a_warning_over_a_pass():
    from skyqa.verdict import severity

    assert severity(True, 0.5) == (0, 0.5)
    assert severity(False, 0.5) == (2, 0.5)
    assert severity(False, 0.5, True) == (1, 0.5)
    assert severity(True, None) == (0, -1.0)
    assert severity(False, None) == (2, math.inf)
    warning = Verdict("c", "s", False, "m", "t", "a.", value=5.0, limit=1.0, warning=True)
    failure = Verdict("c", "s", False, "m", "t", "a.", value=1.1, limit=1.0)
    assert worst([warning, failure]) == 1


def test_finite_or_none_keeps_only_finite_numbers():
    import numpy as np

    from skyqa.verdict import finite_or_none

    assert finite_or_none(2) == 2.0
    assert finite_or_none(np.float32(1.5)) == 1.5
    assert finite_or_none(math.nan) is None
    assert finite_or_none(math.inf) is None
    assert finite_or_none(None) is None
    assert finite_or_none("1.0") is None
