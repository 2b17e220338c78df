import math

import pandas as pd
import pytest

from skyqa.checks.sky import check_mdrizsky_finite, check_pedestals_recovered
from skyqa.verdict import Verdict, failures, require

PEDESTALS = {"a": 0.80, "b": 0.83, "c": 0.78}


def _table(values):
    return pd.DataFrame({"rootname": list(values), "mdrizsky_e_s": list(values.values())})


def test_finite_values_pass():
    verdicts = check_mdrizsky_finite(_table({"a": 0.1, "b": 0.0}), "match")
    assert [verdict.passed for verdict in verdicts] == [True, True]


def test_nan_value_fails_naming_the_exposure_and_method():
    verdicts = check_mdrizsky_finite(_table({"a": 0.1, "b": math.nan}), "match")
    (failed,) = failures(verdicts)
    assert failed.subject == "exposure b (match)"
    assert "nan e-/s" in failed.message()
    assert "Reverting sky computation" in failed.message()


def test_pedestals_recovered_up_to_a_constant():
    matched = {name: value - 0.78 for name, value in PEDESTALS.items()}
    assert failures(check_pedestals_recovered(_table(matched), PEDESTALS, 0.01, "match")) == []


def test_shifted_pedestal_fails_with_the_residual_and_tolerance():
    matched = {name: value - 0.78 for name, value in PEDESTALS.items()}
    matched["b"] += 0.05
    failed = failures(check_pedestals_recovered(_table(matched), PEDESTALS, 0.01, "match"))
    assert "exposure b (match)" in [verdict.subject for verdict in failed]
    message = next(v for v in failed if v.subject == "exposure b (match)").message()
    assert "residual +0.03333 e-/s" in message
    assert "|residual| <= 0.01 e-/s" in message


def test_missing_exposure_fails():
    matched = {"a": 0.0, "c": -0.02}
    failed = failures(check_pedestals_recovered(_table(matched), PEDESTALS, 0.01, "match"))
    assert [verdict.subject for verdict in failed] == ["exposure b (match)"]
    assert failed[0].measured == "no MDRIZSKY for this exposure"


def test_verdict_sentence_has_check_subject_values_and_advice():
    verdict = Verdict("Fit RMS", "visit ibxl50030", False, "0.5 pix", "<= 0.3 pix", "look.")
    assert verdict.message() == (
        "Fit RMS FAILED for visit ibxl50030: measured 0.5 pix, required <= 0.3 pix. Next: look."
    )


def test_require_lists_every_failure():
    verdicts = [
        Verdict("c", "one", False, "1", "0", "a."),
        Verdict("c", "two", True, "0", "0", "b."),
        Verdict("c", "three", False, "2", "0", "c."),
    ]
    with pytest.raises(pytest.fail.Exception, match=r"2 of 3 verdicts failed") as raised:
        require(verdicts)
    assert "for one" in str(raised.value)
    assert "for three" in str(raised.value)


def test_require_refuses_an_empty_check():
    with pytest.raises(pytest.fail.Exception, match="produced no verdict"):
        require([])
