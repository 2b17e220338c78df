import math

import pandas as pd
import pytest

from skyqa.checks.sky import check_mdrizsky_finite, check_pedestals_recovered
from skyqa.plugin.verdicts import require
from skyqa.verdict import Verdict, failures

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


# --- fallback, match levels and method relations ---------------------------------------

from pathlib import Path  # noqa: E402

from skyqa.checks.sky import (  # noqa: E402
    check_globalmin,
    check_globalmin_plus_match,
    check_match_levels,
    check_no_sky_fallback,
)

CLEAN_LOG = """
[INFO    ] Applying sky value of 0.023444 to isqa01a1q_flt.fits[sci,1]
[INFO    ] Applying sky value of 0.000000 to isqa01a2q_flt.fits[sci,1]
"""
FALLBACK_LOG = """
Traceback (most recent call last):
AttributeError: 'SphericalPolygon' object has no attribute 'iter_polygons_flat'
[WARNING ] Reverting sky computation to "localmin" from "match
[INFO    ] Applying sky value of 0.875744 to isqa01a1q_flt.fits[sci,1]
[INFO    ] Applying sky value of 0.874103 to isqa01a2q_flt.fits[sci,1]
"""
PUBLISHED = Path(__file__).parents[2] / "baselines" / "horsehead" / "mdrizsky.csv"


def test_clean_log_with_matching_headers_passes():
    table = _table({"isqa01a1q": 0.0234444, "isqa01a2q": 0.0})
    assert failures(check_no_sky_fallback(CLEAN_LOG, table, "match", 1e-6)) == []


def test_fallback_in_the_log_fails_and_names_it():
    table = _table({"isqa01a1q": 0.0, "isqa01a2q": 0.0})  # headers say nothing was matched
    failed = failures(check_no_sky_fallback(FALLBACK_LOG, table, "match", 1e-6))
    assert failed[0].check == "Sky method ran without falling back"
    assert 'Reverting sky computation to "localmin" from "match' in failed[0].message()
    assert "spherical_geometry >= 1.4" in failed[0].message()
    assert [v.subject for v in failed[1:]] == [
        "exposure isqa01a1q (match)",
        "exposure isqa01a2q (match)",
    ]
    assert "logged 0.875744 e-/s, header MDRIZSKY 0.000000 e-/s" in failed[1].message()


def test_header_value_without_a_logged_sky_fails():
    table = _table({"isqa01a1q": 0.0234444, "isqa01a2q": 0.0, "other0001": 0.1})
    (failed,) = failures(check_no_sky_fallback(CLEAN_LOG, table, "match", 1e-6))
    assert failed.measured == "logged none e-/s, header MDRIZSKY 0.100000 e-/s"


def test_match_table_without_a_zero_fails():
    table = _table({"a": 0.012, "b": 0.03, "c": 0.02})
    (failed,) = failures(check_match_levels(table, "match", 0.1, 1e-5))
    assert failed.message().startswith(
        "Lowest matched sky is zero FAILED for exposure a (match): measured 0.012000 e-/s"
    )


def test_negative_and_too_large_matched_skies_fail():
    table = _table({"a": 0.0, "b": -0.01, "c": 0.3})
    failed = failures(check_match_levels(table, "match", 0.1, 1e-5))
    assert [v.check for v in failed] == [
        "Lowest matched sky is zero",
        "No matched sky is negative",
        "Largest matched sky is below the field's limit",
    ]
    assert "b -0.010000" in failed[1].measured


def test_globalmin_relations_fail_when_broken():
    localmin = _table({"a": 0.9, "b": 0.8})
    assert failures(check_globalmin(_table({"a": 0.8, "b": 0.8}), localmin, 1e-5)) == []
    failed = failures(check_globalmin(_table({"a": 0.8, "b": 0.85}), localmin, 1e-5))
    assert [v.check for v in failed] == [
        "globalmin is one value for all exposures",
        "globalmin equals the smallest localmin sky",
    ]


def test_globalmin_plus_match_must_be_a_constant_offset():
    match = _table({"a": 0.0, "b": 0.02})
    assert failures(check_globalmin_plus_match(_table({"a": 0.7, "b": 0.72}), match, 1e-5)) == []
    (failed,) = failures(check_globalmin_plus_match(_table({"a": 0.7, "b": 0.7}), match, 1e-5))
    assert "spread of the difference 2.00e-02 e-/s" in failed.message()


def test_sky_checks_pass_on_the_published_real_data_table():
    wide = pd.read_csv(PUBLISHED, index_col=0)

    def method(name):
        return wide[["rootname", name]].rename(columns={name: "mdrizsky_e_s"})

    verdicts = [
        *check_mdrizsky_finite(method("match"), "match"),
        *check_match_levels(method("match"), "match", 0.1, 1e-5),
        *check_globalmin(method("globalmin"), method("localmin"), 1e-5),
        *check_globalmin_plus_match(method("globalmin+match"), method("match"), 1e-5),
    ]
    assert len(verdicts) == 18 + 3 + 2 + 1
    assert failures(verdicts) == []


def test_fallback_note_names_the_fallback_in_other_checks():
    from skyqa.checks.sky import fallback_note
    from skyqa.verdict import annotate

    note = fallback_note(FALLBACK_LOG, "match")
    assert note.startswith("Cause: drizzlepac fell back from 'match' (its log says ")
    assert fallback_note(CLEAN_LOG, "match") == ""
    failed = failures(annotate(check_match_levels(_table({"a": 0.8}), "match", 0.1, 1e-5), note))
    assert all(v.advice.startswith("Cause: drizzlepac fell back") for v in failed)
