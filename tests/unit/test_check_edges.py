"""Every check pinned at its edges: just inside and just outside each threshold, both
signs, both sky axes, NaN, missing, duplicate and extra rows.

A threshold ``T`` with ``<=`` passes at exactly ``T`` and fails just above it; a strict
``<`` or ``>`` fails at exactly ``T``. Mutation testing (docs/development.md) measures
how much of the check logic these tests pin.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from skyqa.checks.alignment import (
    check_fit_quality,
    check_residuals,
    check_shift_file,
    check_tweakback,
    check_wcs_against_truth,
)
from skyqa.checks.inspection import check_delivered_wcs, check_uniform_setup, column_verdict
from skyqa.checks.limits import AstrometryGrades, ErrorBudget
from skyqa.checks.seams import (
    check_oracle_agreement,
    check_overlaps_connected,
    check_score_below,
    check_seam_free,
)
from skyqa.checks.sky import (
    check_globalmin,
    check_globalmin_plus_match,
    check_match_levels,
    check_mdrizsky_finite,
    check_no_sky_fallback,
    check_pedestals_recovered,
)
from skyqa.columns import column_outlier
from skyqa.verdict import failures

NAN = math.nan


def _outcomes(verdicts):
    return [verdict.passed for verdict in verdicts]


def _failed(verdicts):
    return [(verdict.check, verdict.subject) for verdict in failures(verdicts)]


# --- shift file ---------------------------------------------------------------------------

IMAGES = ["ibxl50030_drz.fits", "ibxl51030_drz.fits"]
LINE = "{image}  {xsh}  {ysh}  {rot}  {scale}  {xrms}  {yrms}\n"


def _line(image="ibxl50030_drz.fits", **values):
    row = {"xsh": 0.1, "ysh": -0.2, "rot": 0.01, "scale": 1.0001, "xrms": 0.05, "yrms": 0.06}
    row.update(values)
    return LINE.format(image=image, **row)


def _shift_path(tmp_path, lines):
    path = tmp_path / "shift_drz.txt"
    path.write_text("# frame: output\n" + "".join(lines))
    return path


@pytest.mark.parametrize("column", ["xsh", "ysh", "rot", "scale", "xrms", "yrms"])
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_shift_file_fails_on_any_non_finite_column(tmp_path, column, bad):
    path = _shift_path(tmp_path, [_line(), _line("ibxl51030_drz.fits", **{column: bad})])
    (failed,) = failures(check_shift_file(path, IMAGES))
    assert failed.check == "Shift file line is finite"
    assert failed.subject == "ibxl51030_drz.fits (shift_drz.txt line 3)"
    names = {"xsh": "xsh_pix", "ysh": "ysh_pix", "rot": "rot_deg", "scale": "scale"}
    assert failed.measured == f"non-finite {names.get(column, column + '_pix')}"
    assert failed.item == "ibxl51030"


def test_shift_file_with_every_line_good_passes_with_one_verdict_per_line(tmp_path):
    path = _shift_path(tmp_path, [_line(), _line("ibxl51030_drz.fits")])
    verdicts = check_shift_file(path, IMAGES)
    assert _outcomes(verdicts) == [True] * 4
    assert [v.check for v in verdicts] == [
        "Shift file has one line for the visit",
        "Shift file line is finite",
    ] * 2
    assert [v.item for v in verdicts] == ["ibxl50030"] * 2 + ["ibxl51030"] * 2
    assert verdicts[0].measured == "1 line(s)"
    assert verdicts[1].measured == "all finite"


def test_shift_file_with_a_duplicate_line_fails_for_that_visit(tmp_path):
    path = _shift_path(tmp_path, [_line(), _line(), _line("ibxl51030_drz.fits")])
    (failed,) = failures(check_shift_file(path, IMAGES))
    assert failed.subject == "ibxl50030_drz.fits in shift_drz.txt"
    assert failed.measured == "2 line(s)"
    assert failed.threshold == "exactly 1 line"


def test_shift_file_with_an_extra_image_fails_naming_it(tmp_path):
    lines = [_line(), _line("ibxl51030_drz.fits"), _line("ibxl99030_drz.fits")]
    (failed,) = failures(check_shift_file(_shift_path(tmp_path, lines), IMAGES))
    assert failed.check == "Shift file names only aligned visits"
    assert failed.subject == "ibxl99030_drz.fits in shift_drz.txt"
    assert failed.item == "ibxl99030"
    assert "stale" in failed.advice


def test_shift_file_with_a_short_line_fails_naming_the_columns(tmp_path):
    path = _shift_path(tmp_path, [_line(), "ibxl51030_drz.fits 0.1 0.2\n"])
    (failed,) = check_shift_file(path, IMAGES)
    assert not failed.passed
    assert failed.check == "Shift file"
    assert failed.subject == str(path)
    assert "line 3 has 3 columns, expected 7" in failed.measured
    assert failed.threshold == "7 columns a line"
    assert "tweakreg.log" in failed.advice


def test_missing_shift_file_fails(tmp_path):
    (failed,) = check_shift_file(tmp_path / "absent.txt", IMAGES)
    assert (failed.passed, failed.measured, failed.threshold) == (
        False,
        "file missing",
        "a shift file",
    )


# --- fit quality --------------------------------------------------------------------------


def _fit(**values):
    row = {"image": "ibxl50030_drz.fits", "xrms_pix": 0.1, "yrms_pix": 0.1, "n_matches": 10}
    row.update(values)
    return pd.DataFrame([row])


@pytest.mark.parametrize("axis", ["xrms_pix", "yrms_pix"])
def test_fit_rms_passes_at_the_threshold_and_fails_just_above_on_either_axis(axis):
    assert failures(check_fit_quality(_fit(**{axis: 0.2}), 0.2, 4)) == []
    (failed,) = failures(check_fit_quality(_fit(**{axis: 0.2000001}), 0.2, 4))
    assert failed.check == f"TweakReg fit {axis.split('_')[0]}"
    assert failed.subject == "visit ibxl50030"
    assert failed.item == "ibxl50030"
    assert failed.value == 0.2000001
    assert failed.limit == 0.2
    assert failed.measured == "0.2000 pix"
    assert failed.threshold == "<= 0.2 pix"


@pytest.mark.parametrize("axis", ["xrms_pix", "yrms_pix"])
def test_fit_rms_nan_fails_saying_tweakreg_wrote_no_fit(axis):
    (failed,) = failures(check_fit_quality(_fit(**{axis: NAN}), 0.2, 4))
    assert "not a number: TweakReg wrote no fit" in failed.measured
    assert failed.ratio() == math.inf


def test_matched_sources_pass_at_the_minimum_and_fail_one_below():
    (at,) = [v for v in check_fit_quality(_fit(n_matches=4), 0.2, 4) if "matched" in v.check]
    assert at.passed
    assert at.measured == "4 matches"
    assert (at.limit, at.upper, at.ratio()) == (4.0, False, 1.0)
    (failed,) = failures(check_fit_quality(_fit(n_matches=3), 0.2, 4))
    assert failed.check == "TweakReg matched sources"
    assert failed.threshold == ">= 4"
    assert failed.value == 3.0


def test_matched_sources_nan_fails():
    (failed,) = failures(check_fit_quality(_fit(n_matches=NAN), 0.2, 4))
    assert failed.check == "TweakReg matched sources"
    assert "not a number" in failed.measured


def test_fit_table_with_a_visit_twice_fails_once_for_the_duplicate():
    table = pd.concat([_fit(), _fit(), _fit(image="ibxl51030_drz.fits")], ignore_index=True)
    (failed,) = failures(check_fit_quality(table, 0.2, 4))
    assert failed.check == "TweakReg fit table has one row per visit"
    assert failed.subject == "visit ibxl50030_drz.fits"
    assert failed.item == "ibxl50030"
    assert failed.measured == "2 rows"


# --- residuals ----------------------------------------------------------------------------


def _residual(**values):
    row = {
        "image": "ibxl50030_drz.fits", "xsh_pix": 0.0, "ysh_pix": 0.0, "rot_deg": 0.0,
        "scale": 1.0, "xrms_pix": 0.0, "yrms_pix": 0.0,
    }  # fmt: skip
    row.update(values)
    return pd.DataFrame([row])


@pytest.mark.parametrize("axis", ["xsh_pix", "ysh_pix"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_residual_shift_on_either_axis_and_sign(axis, sign):
    assert failures(check_residuals(_residual(**{axis: sign * 0.1}), 0.1, 0.005, 2e-4)) == []
    (failed,) = failures(check_residuals(_residual(**{axis: sign * 0.1000001}), 0.1, 0.005, 2e-4))
    assert failed.check == "Residual shift after the update"
    assert failed.measured == "0.1000 pix"
    assert failed.value == pytest.approx(0.1000001)
    assert failed.threshold == "|value| <= 0.1 pix"


def test_residual_shift_adds_the_axes_in_quadrature():
    (failed,) = failures(check_residuals(_residual(xsh_pix=0.08, ysh_pix=0.061), 0.1, 0.005, 2e-4))
    assert failed.value == pytest.approx(math.hypot(0.08, 0.061))


@pytest.mark.parametrize(("written", "signed"), [(0.0049, 0.0049), (359.9951, -0.0049)])
def test_residual_rotation_within_either_side_of_zero_passes(written, signed):
    verdicts = check_residuals(_residual(rot_deg=written), 0.1, 0.005, 2e-4)
    assert failures(verdicts) == []
    assert verdicts[1].value == pytest.approx(signed)


@pytest.mark.parametrize(
    ("written", "text"), [(0.0051, "+0.00510 deg"), (359.9949, "-0.00510 deg")]
)
def test_residual_rotation_past_either_side_of_zero_fails(written, text):
    (failed,) = failures(check_residuals(_residual(rot_deg=written), 0.1, 0.005, 2e-4))
    assert failed.check == "Residual rotation after the update"
    assert failed.measured == text
    assert failed.threshold == "|value| <= 0.005 deg"


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_residual_scale_either_side_of_one(sign):
    assert failures(check_residuals(_residual(scale=1 + sign * 1.9e-4), 0.1, 0.005, 2e-4)) == []
    (failed,) = failures(check_residuals(_residual(scale=1 + sign * 2.1e-4), 0.1, 0.005, 2e-4))
    assert failed.check == "Residual scale after the update"
    assert failed.threshold == "|value| <= 0.0002 (scale - 1)"
    assert failed.measured == f"{sign * 2.1e-4:+.2e}"


@pytest.mark.parametrize("column", ["xsh_pix", "ysh_pix", "rot_deg", "scale"])
def test_residual_nan_fails(column):
    failed = failures(check_residuals(_residual(**{column: NAN}), 0.1, 0.005, 2e-4))
    assert len(failed) == 1
    assert "verification fit found no match" in failed[0].measured


def test_residual_table_with_a_visit_twice_fails():
    table = pd.concat([_residual(), _residual()], ignore_index=True)
    (failed,) = failures(check_residuals(table, 0.1, 0.005, 2e-4))
    assert failed.check == "Verification fit has one row per visit"


# --- tweakback and truth --------------------------------------------------------------------


def _moves(**values):
    row = {
        "visit": "isqa01030", "flt": "isqa01a1q_flt.fits", "moved_mas": 500.0,
        "correction_mas": 500.0, "disagreement_mas": 1.0, "drz_wcsnamea": "IDC_x",
    }  # fmt: skip
    row.update(values)
    return pd.DataFrame([row])


def test_tweakback_agreement_at_and_past_its_threshold():
    assert failures(check_tweakback(_moves(disagreement_mas=5.0), 5.0)) == []
    (failed,) = failures(check_tweakback(_moves(disagreement_mas=5.01), 5.0))
    assert failed.value == 5.01
    assert failed.limit == 5.0
    assert failed.item == "isqa01030"
    assert "silent no-op" not in failed.measured


def test_tweakback_no_op_is_named_only_below_one_percent_of_the_correction():
    (moved_little,) = check_tweakback(_moves(moved_mas=5.0, disagreement_mas=495.0), 5.0)
    assert "silent no-op" not in moved_little.measured
    (no_op,) = check_tweakback(_moves(moved_mas=4.99, disagreement_mas=495.0), 5.0)
    assert "the FLT did not move at all: tweakback was a silent no-op" in no_op.measured


def test_tweakback_nan_fails_and_duplicate_flt_fails():
    (failed,) = failures(check_tweakback(_moves(disagreement_mas=NAN), 5.0))
    assert "not a number: a WCS could not be evaluated" in failed.measured
    table = pd.concat([_moves(), _moves()], ignore_index=True)
    assert _failed(check_tweakback(table, 5.0)) == [
        ("One tweakback measurement per FLT", "FLT isqa01a1q_flt.fits")
    ]


BUDGET = ErrorBudget(
    exposure_pointing_mas=3.0, distortion_residual_pix=0.0, catalog_epoch_error_mas=0.0
)
GRADES = AstrometryGrades(good_mas=10.0, accepted_mas=20.0)


def _offsets(*rms, rootnames=None, fit_claim_mas=4.0, n_stars=6, dof=8):
    """Truth offsets of exposures whose predicted error is hypot(4, 3) = 5 mas."""
    rootnames = rootnames or [f"isqa01a{i}q" for i in range(len(rms))]
    return pd.DataFrame(
        {
            "visit": "isqa01030",
            "rootname": rootnames,
            "rms_mas": rms,
            "fit_claim_mas": fit_claim_mas,
            "n_stars": n_stars,
            "dof": dof,
            "pixel_scale_mas": 128.0,
        }
    )


def _truth(table):
    return check_wcs_against_truth(table, BUDGET, GRADES)


def test_wcs_consistency_at_and_just_beyond_three_predicted_errors():
    # 15 mas is 3 x the predicted 5 mas: passes (and is a HAP warning, not a failure).
    at = _truth(_offsets(15.0))
    assert failures(at) == []
    assert [v.warning for v in at] == [False, True]
    (failed,) = failures(_truth(_offsets(15.0, 15.001)))
    assert failed.subject == "exposure isqa01a1q (visit isqa01030)"
    assert failed.check == "Aligned WCS is as close to the truth as its fit claims"
    assert failed.measured.startswith(
        "RMS 15.00 mas from the truth over the detector, 3.00 x its predicted error 5.00 mas"
    )
    assert failed.threshold == "<= 3 predicted errors (15.0 mas)"
    assert "converged to a wrong solution" in failed.advice


def test_wcs_truth_nan_fails_both_rules():
    nan = failures(_truth(_offsets(NAN)))
    assert len(nan) == 2
    assert all("not a number" in v.measured for v in nan)


def test_a_three_star_fit_is_judged_and_a_fit_without_degrees_of_freedom_fails():
    assert failures(_truth(_offsets(5.0, n_stars=3, dof=2))) == []
    (failed,) = failures(_truth(_offsets(1.0, n_stars=2, dof=0, fit_claim_mas=math.inf)))
    assert failed.measured.endswith(
        "the fit of 2 stars has 0 degrees of freedom: it claims nothing about its accuracy"
    )
    assert "converged" not in failed.advice


def test_hap_grades_at_both_limits():
    """Up to 10 mas passes; beyond it a warning naming the category, up to 20 mas; beyond
    20 mas a failure (the consistency rule is kept out of it with a large claim)."""

    def grade(rms):
        (verdict,) = [v for v in _truth(_offsets(rms, fit_claim_mas=100.0)) if "HAP" in v.check]
        return verdict

    assert grade(10.0).passed
    warned = grade(10.001)
    assert (warned.passed, warned.warning) == (False, True)
    assert (
        "HAP category 3 (valid, RMS >= 10.0 mas), within its accepted 20.0 mas" in warned.measured
    )
    assert warned.message().startswith(
        "Aligned WCS accuracy against the injected truth (HAP grade) WARNING"
    )
    assert grade(20.0).warning
    failed = grade(20.001)
    assert (failed.passed, failed.warning) == (False, False)
    assert failed.measured.endswith("beyond HAP's accepted 20.0 mas")
    assert failures([failed]) == [failed]
    assert failures([warned]) == []


def test_wcs_truth_with_an_exposure_twice_fails():
    table = _offsets(1.0, 1.0, rootnames=["isqa01a1q", "isqa01a1q"])
    assert _failed(_truth(table)) == [("One truth comparison per FLT", "exposure isqa01a1q")]


# --- MDRIZSKY --------------------------------------------------------------------------------


def _sky(values):
    return pd.DataFrame({"rootname": list(values), "mdrizsky_e_s": list(values.values())})


def _sky_rows(rows):
    return pd.DataFrame(rows, columns=["rootname", "mdrizsky_e_s"])


@pytest.mark.parametrize("bad", [NAN, math.inf, -math.inf])
def test_mdrizsky_finite_fails_on_non_finite(bad):
    (failed,) = failures(check_mdrizsky_finite(_sky({"a": 0.0, "b": bad}), "match"))
    assert failed.subject == "exposure b (match)"


def test_mdrizsky_finite_fails_on_an_exposure_listed_twice():
    (failed,) = failures(check_mdrizsky_finite(_sky_rows([("a", 0.1), ("a", 0.1)]), "match"))
    assert failed.measured == "0.1 e-/s, 0.1 e-/s"


PEDESTALS = {"a": 0.80, "b": 0.83, "c": 0.78}


def _matched(shift_b=0.0):
    values = {name: value - 0.5 for name, value in PEDESTALS.items()}
    values["b"] += shift_b
    return _sky(values)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_pedestal_residual_inside_and_outside_the_tolerance(sign):
    # Shifting b by s moves the mean by s/3: b's residual is 2s/3, the others' -s/3.
    inside = sign * 0.0149
    assert failures(check_pedestals_recovered(_matched(inside), PEDESTALS, 0.01, "match")) == []
    outside = sign * 0.0151
    failed = failures(check_pedestals_recovered(_matched(outside), PEDESTALS, 0.01, "match"))
    assert [v.subject for v in failed] == ["exposure b (match)"]
    assert failed[0].value == pytest.approx(2 * outside / 3)
    assert failed[0].limit == 0.01
    assert f"common constant {-0.5 + outside / 3:+.5f}" in failed[0].measured


def test_pedestal_nan_fails_for_its_exposure_only_and_the_others_use_the_finite_mean():
    table = _sky({"a": 0.30, "b": NAN, "c": 0.28})
    verdicts = check_pedestals_recovered(table, PEDESTALS, 0.01, "match")
    assert _outcomes(verdicts) == [True, False, True]
    assert "MDRIZSKY is NaN" in verdicts[1].measured
    assert verdicts[0].value == pytest.approx(0.0, abs=1e-12)


def test_pedestal_compared_method_is_reported():
    localmin = _sky({"a": 1.0, "b": 0.83, "c": 0.78})
    verdicts = check_pedestals_recovered(_matched(), PEDESTALS, 0.01, "match", localmin)
    expected = 1.0 - 0.80 - (0.2 / 3)
    assert f"the compared method is off by {expected:+.5f} e-/s here" in verdicts[0].measured


def test_logged_sky_equal_within_tolerance_in_either_direction():
    log = "[INFO    ] Applying sky value of 0.500000 to isqa01a1q_flt.fits[sci,1]\n"
    for header in (0.5000009, 0.4999991):
        assert (
            failures(check_no_sky_fallback(log, _sky({"isqa01a1q": header}), "match", 1e-6)) == []
        )
    for header in (0.500002, 0.499998):
        (failed,) = failures(check_no_sky_fallback(log, _sky({"isqa01a1q": header}), "match", 1e-6))
        assert failed.value == pytest.approx(2e-6)
        assert failed.limit == 1e-6


def test_logged_sky_against_a_nan_header_fails():
    log = "[INFO    ] Applying sky value of 0.500000 to isqa01a1q_flt.fits[sci,1]\n"
    (failed,) = failures(check_no_sky_fallback(log, _sky({"isqa01a1q": NAN}), "match", 1e-6))
    assert failed.measured == "logged 0.500000 e-/s, header MDRIZSKY nan e-/s"


def test_match_levels_at_their_edges():
    tolerance, limit = 1e-5, 0.1
    assert (
        failures(check_match_levels(_sky({"a": tolerance, "b": limit}), "match", limit, tolerance))
        == []
    )
    assert (
        failures(check_match_levels(_sky({"a": -tolerance, "b": 0.05}), "match", limit, tolerance))
        == []
    )
    assert _failed(
        check_match_levels(_sky({"a": 1.1e-5, "b": 0.05}), "match", limit, tolerance)
    ) == [("Lowest matched sky is zero", "exposure a (match)")]
    assert [
        v.check
        for v in failures(
            check_match_levels(_sky({"a": -1.1e-5, "b": 0.05}), "match", limit, tolerance)
        )
    ] == [
        "Lowest matched sky is zero",
        "No matched sky is negative",
    ]
    (high,) = failures(
        check_match_levels(_sky({"a": 0.0, "b": 0.1000001}), "match", limit, tolerance)
    )
    assert high.subject == "exposure b (match)"
    assert (high.value, high.limit) == (0.1000001, 0.1)


def test_match_levels_fail_on_nan_naming_the_exposure_and_judge_the_rest():
    verdicts = check_match_levels(_sky({"a": 0.0, "b": NAN, "c": 0.02}), "match", 0.1, 1e-5)
    assert _failed(verdicts) == [("Matched skies are numbers", "match")]
    assert failures(verdicts)[0].measured == "match MDRIZSKY not a number for b"
    assert len(verdicts) == 4


def test_match_levels_with_no_finite_value_fail():
    verdicts = check_match_levels(_sky({"a": NAN}), "match", 0.1, 1e-5)
    assert _outcomes(verdicts) == [False, False]
    assert verdicts[1].measured == "no finite MDRIZSKY at all"


def test_globalmin_edges():
    localmin = _sky({"a": 0.9, "b": 0.8})
    assert failures(check_globalmin(_sky({"a": 0.8, "b": 0.80001}), localmin, 1e-5)) == []
    failed = failures(check_globalmin(_sky({"a": 0.8, "b": 0.800011}), localmin, 1e-5))
    assert [v.check for v in failed] == [
        "globalmin is one value for all exposures",
        "globalmin equals the smallest localmin sky",
    ]
    # One value, but not the smallest localmin: above it, or below it.
    for level in (0.800011, 0.799989):
        (failed,) = failures(check_globalmin(_sky({"a": level, "b": level}), localmin, 1e-5))
        assert failed.check == "globalmin equals the smallest localmin sky"
        assert failed.value == pytest.approx(1.1e-5)


@pytest.mark.parametrize("where", ["globalmin", "localmin"])
def test_globalmin_nan_fails_naming_the_method(where):
    tables = {"globalmin": _sky({"a": 0.8, "b": 0.8}), "localmin": _sky({"a": 0.9, "b": 0.8})}
    tables[where].loc[1, "mdrizsky_e_s"] = NAN
    failed = failures(check_globalmin(tables["globalmin"], tables["localmin"], 1e-5))
    assert f"{where} MDRIZSKY not a number for b" in [v.measured for v in failed]


def test_globalmin_with_an_exposure_missing_from_one_method_fails():
    failed = failures(check_globalmin(_sky({"a": 0.8}), _sky({"a": 0.8, "b": 0.8}), 1e-5))
    assert (
        failed[0].measured == "only in globalmin: none; only in localmin: ['b']; listed twice: none"
    )


def test_globalmin_plus_match_edges():
    match = _sky({"a": 0.0, "b": 0.02})
    assert failures(check_globalmin_plus_match(_sky({"a": 0.7, "b": 0.720009}), match, 1e-5)) == []
    (failed,) = failures(check_globalmin_plus_match(_sky({"a": 0.7, "b": 0.720011}), match, 1e-5))
    assert failed.value == pytest.approx(1.1e-5)
    (failed,) = failures(check_globalmin_plus_match(_sky({"a": 0.7, "b": 0.719989}), match, 1e-5))
    assert failed.value == pytest.approx(1.1e-5)


def test_globalmin_plus_match_nan_missing_and_duplicate_rows_fail():
    match = _sky({"a": 0.0, "b": 0.02})
    failed = failures(check_globalmin_plus_match(_sky({"a": 0.7, "b": NAN}), match, 1e-5))
    assert "globalmin+match MDRIZSKY not a number for b" in [v.measured for v in failed]
    failed = failures(check_globalmin_plus_match(_sky({"a": 0.7}), match, 1e-5))
    assert failed[0].measured.startswith("only in globalmin+match: none; only in match: ['b']")
    assert failed[-1].measured.startswith("spread of the difference nan")
    twice = _sky_rows([("a", 0.7), ("a", 0.7), ("b", 0.72)])
    (failed,) = failures(check_globalmin_plus_match(twice, match, 1e-5))
    assert failed.measured.endswith("listed twice: ['a']")


# --- seams -----------------------------------------------------------------------------------


def _seams(seam, uncertainty=0.001, noise=0.05, n_pixels=5000):
    return pd.DataFrame(
        {
            "exposure_a": ["a"], "exposure_b": ["b"], "n_pixels": [n_pixels],
            "raw_median_e_s": [seam * noise], "uncertainty_e_s": [uncertainty],
            "pixel_noise_e_s": [noise], "match": [seam],
        }
    )  # fmt: skip


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_exact_seam_at_and_past_its_threshold(sign):
    # No uncertainty: the threshold alone decides.
    assert failures(check_seam_free(_seams(sign * 0.1, uncertainty=0.0), "match", 0.1)) == []
    (failed,) = failures(check_seam_free(_seams(sign * 0.1001, uncertainty=0.0), "match", 0.1))
    assert failed.subject == "pair a-b (match, 5000 pixels)"
    assert failed.value == pytest.approx(sign * 0.1001)
    assert failed.limit == 0.1
    assert f"{sign * 0.1001:+.3f} x pixel noise" in failed.measured
    assert failed.threshold == (
        "|difference| - 2 x its uncertainty <= 0.1 x pixel noise (0.0500 e-/s)"
    )


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_seam_fails_two_uncertainties_past_its_threshold(sign):
    noise, uncertainty = 0.05, 0.05 * 0.02  # 0.02 x noise: |seam| - 0.04 > 0.1 fails
    seams = _seams(sign * 0.14, uncertainty, noise)
    (verdict,) = check_seam_free(seams, "match", 0.1)
    assert verdict.passed
    assert verdict.value == pytest.approx(sign * 0.1)
    (failed,) = failures(check_seam_free(_seams(sign * 0.1401, uncertainty, noise), "match", 0.1))
    assert failed.value == pytest.approx(sign * 0.1001)


def test_seam_within_its_noise_of_zero_is_judged_zero():
    (verdict,) = check_seam_free(_seams(-0.03, uncertainty=0.05 * 0.02), "match", 0.1)
    assert verdict.passed
    assert verdict.value == 0.0


def test_imprecise_seam_fails_only_when_significant():
    noise, uncertainty = 0.05, 0.05 * 0.1  # 0.1 x noise
    # |seam| - 2 x 0.1 > 0.1 needs |seam| > 0.3
    assert failures(check_seam_free(_seams(0.3, uncertainty, noise), "match", 0.1)) == []
    for seam in (0.3001, -0.3001):
        assert failures(check_seam_free(_seams(seam, uncertainty, noise), "match", 0.1))


@pytest.mark.parametrize("column", ["match", "uncertainty_e_s", "pixel_noise_e_s"])
def test_seam_with_a_nan_fails(column):
    seams = _seams(0.01)
    seams[column] = NAN
    (failed,) = failures(check_seam_free(seams, "match", 0.1))
    assert "not a number" in failed.measured


def test_seam_with_zero_pixel_noise_fails():
    (failed,) = failures(check_seam_free(_seams(0.01, noise=0.0), "match", 0.1))
    assert "not a number" in failed.measured


def _two_methods(match, localmin):
    seams = _seams(0.0)
    seams["match"], seams["localmin"] = match, localmin
    return seams


def test_seam_score_must_be_strictly_lower_and_finite():
    assert failures(check_score_below(_two_methods(0.5, 0.6), "match")) == []
    (equal,) = failures(check_score_below(_two_methods(0.6, 0.6), "match"))
    assert equal.threshold == "< 0.600 (localmin)"
    assert (equal.value, equal.limit) == (0.6, 0.6)
    assert failures(check_score_below(_two_methods(-0.7, 0.6), "match"))  # RMS: sign ignored
    (nan,) = failures(check_score_below(_two_methods(NAN, 0.6), "match"))
    assert "not a number" in nan.measured
    assert failures(check_score_below(_two_methods(0.1, NAN), "match"))


def _pairs(rows):
    return pd.DataFrame(
        rows, columns=["exposure_a", "exposure_b", "raw_median_e_s", "uncertainty_e_s"]
    )


def test_oracle_agreement_at_its_tolerance_both_signs():
    # Pairs measured to 1e-12: the solution's own uncertainty adds no margin here.
    pairs = _pairs([("a", "b", 0.01, 1e-12), ("b", "c", -0.02, 1e-12)])  # offsets 0.02, 0.01, 0.03
    for shift in (0.005, -0.005):
        sky = _sky({"a": 0.01, "b": 0.0, "c": 0.02 + shift})
        assert failures(check_oracle_agreement(pairs, sky, "match", 0.005 + 1e-12)) == []
    for shift in (0.0051, -0.0051):
        sky = _sky({"a": 0.01, "b": 0.0, "c": 0.02 + shift})
        (failed,) = failures(check_oracle_agreement(pairs, sky, "match", 0.005))
        assert failed.subject == "exposure c (match)"
        assert failed.value == pytest.approx(shift)


def test_oracle_agreement_allows_twice_the_solutions_own_uncertainty():
    """The oracle is a measurement: with pairs measured to 0.001 e-/s, c's offset is
    uncertain by offset_uncertainties' value, and a difference is judged beyond twice it."""
    from skyqa.oracle import offset_uncertainties

    pairs = _pairs([("a", "b", 0.01, 1e-3), ("b", "c", -0.02, 1e-3)])
    margin = 2 * offset_uncertainties(pairs, ["a", "b", "c"])["c"]
    assert 0.001 < margin < 0.003
    for shift in (0.005 + margin - 1e-6, -0.005 - margin + 1e-6):
        sky = _sky({"a": 0.01, "b": 0.0, "c": 0.02 + shift})
        assert failures(check_oracle_agreement(pairs, sky, "match", 0.005)) == []
    sky = _sky({"a": 0.01, "b": 0.0, "c": 0.02 + 0.005 + margin + 1e-5})
    (failed,) = failures(check_oracle_agreement(pairs, sky, "match", 0.005))
    assert failed.subject == "exposure c (match)"
    assert failed.threshold == "|difference| - 2 x the solution's uncertainty <= 0.005 e-/s"


def test_oracle_agreement_nan_fails():
    pairs = _pairs([("a", "b", 0.01, 1e-4)])
    (failed,) = failures(check_oracle_agreement(pairs, _sky({"a": NAN, "b": 0.0}), "match", 0.005))
    assert failed.subject == "exposure a (match)"
    assert "not a number" in failed.measured


def test_oracle_weights_pairs_by_their_uncertainty():
    # A loop whose pairs disagree: a-b and b-c say c is 0.02 above a, a-c says 0.0.
    # The precise pairs must win; unweighted, c would land near 0.013.
    pairs = _pairs([("b", "a", 0.01, 1e-5), ("c", "b", 0.01, 1e-5), ("c", "a", 0.0, 1e-2)])
    sky = _sky({"a": 0.0, "b": 0.01, "c": 0.02})
    assert failures(check_oracle_agreement(pairs, sky, "match", 5e-4)) == []


def test_overlaps_in_two_groups_are_reported_as_two():
    pairs = _pairs([("a", "b", 0.0, 1e-3), ("c", "d", 0.0, 1e-3)])
    (failed,) = check_overlaps_connected(pairs, ["a", "b", "c", "d"])
    assert not failed.passed
    assert failed.measured == "2 group(s): {a, b}; {c, d}"
    assert failed.advice.startswith("separate groups share no overlap.")
    assert (failed.value, failed.limit) == (2.0, None)


def test_an_exposure_overlapping_nothing_is_named():
    pairs = _pairs([("a", "b", 0.0, 1e-3)])
    (failed,) = check_overlaps_connected(pairs, ["a", "b", "c"])
    assert failed.measured == "2 group(s): {a, b}; c alone"
    assert failed.advice.startswith("exposures overlapping nothing: c.")


def test_connected_overlaps_pass_and_stray_pair_names_fail():
    pairs = _pairs([("a", "b", 0.0, 1e-3), ("b", "c", 0.0, 1e-3)])
    (ok,) = check_overlaps_connected(pairs, ["a", "b", "c"])
    assert (ok.passed, ok.measured) == (True, "1 group")
    stray = _pairs([("a", "b", 0.0, 1e-3), ("b", NAN, 0.0, 1e-3)])
    (failed,) = check_overlaps_connected(stray, ["a", "b"])
    assert not failed.passed
    assert failed.measured == "pairs name exposure(s) that are not among the aligned FLTs: nan"


# --- inspection ------------------------------------------------------------------------------


def _headers(**columns):
    table = {
        "FILENAME": ["a_flt.fits", "b_flt.fits", "c_flt.fits"],
        "ROOTNAME": ["A", "B", "C"],
        "DETECTOR": ["IR", "IR", "IR"],
        "FILTER": ["F160W", "F160W", "F160W"],
        "EXPTIME": [702.9, 702.9, 702.9],
    }
    table.update(columns)
    return pd.DataFrame(table)


@pytest.mark.parametrize("key", ["DETECTOR", "FILTER"])
def test_uniform_setup_names_the_odd_exposure_for_each_key(key):
    odd = {"DETECTOR": ["IR", "UVIS", "IR"], "FILTER": ["F160W", "F140W", "F160W"]}[key]
    (failed,) = failures(check_uniform_setup(_headers(**{key: odd})))
    assert failed.check == f"All exposures share one {key}"
    assert failed.measured == f"{key} {odd[0]}, except b_flt.fits"
    assert failed.subject == "3 exposures"


@pytest.mark.parametrize("exptime", [0.0, -1.0, NAN])
def test_exposure_time_must_be_a_positive_number(exptime):
    (failed,) = failures(check_uniform_setup(_headers(EXPTIME=[702.9, exptime, 702.9])))
    assert failed.subject == "exposure b_flt.fits"
    assert failed.item == "b"


def test_uniform_setup_passes_with_a_tiny_exposure_time():
    assert failures(check_uniform_setup(_headers(EXPTIME=[1e-9, 1.0, 2.0]))) == []


def _delivered(name="FIT_REL_GAIAeDR3", ra=6.0, dec=8.0):
    return pd.DataFrame(
        [{"FILENAME": "IBXL57030_drz.fits", "WCSNAME": name, "NMATCHES": 12,
          "RMS_RA": ra, "RMS_DEC": dec}]
    )  # fmt: skip


@pytest.mark.parametrize("axis", ["ra", "dec"])
def test_delivered_wcs_graded_at_both_limits_on_either_axis(axis):
    other = "dec" if axis == "ra" else "ra"
    assert failures(check_delivered_wcs(_delivered(), GRADES)) == []  # 6 x 8: 10 mas
    (warned,) = check_delivered_wcs(_delivered(**{axis: 6.001, other: 8.0}), GRADES)
    assert warned.warning
    assert warned.item == "ibxl57030"
    assert (round(warned.value, 4), warned.limit) == (10.0006, 10.0)
    (failed,) = failures(check_delivered_wcs(_delivered(**{axis: 20.0, other: 0.001}), GRADES))
    assert failed.measured.endswith("beyond HAP's accepted 20.0 mas")
    (nan,) = failures(check_delivered_wcs(_delivered(**{axis: NAN}), GRADES))
    assert nan.ratio() == math.inf


def test_delivered_wcs_not_fit_to_gaia_fails_whatever_its_rms():
    (failed,) = failures(
        check_delivered_wcs(_delivered(name="FIT_REL_GSC242", ra=0.0, dec=0.0), GRADES)
    )
    assert failed.measured == (
        "WCSNAME FIT_REL_GSC242, 12 matches, RMS 0.0 x 0.0 mas (RA x Dec), 0.0 mas in all"
    )
    assert failures(check_delivered_wcs(_delivered(name="fit_rel_gaiadr3"), GRADES)) == []


def test_column_score_at_and_past_the_limit_and_nan():
    (at,) = column_verdict("isqa01a1q", 10, 0.5, 10.0, 10.0)
    assert at.passed
    assert at.measured == "column 11 differs from its neighbours by +0.5000 e-/s (10.0 sigma)"
    (past,) = column_verdict("isqa01a1q", 10, -0.5, 10.01, 10.0)
    assert not past.passed
    assert (past.item, past.value, past.limit) == ("isqa01a1q", 10.01, 10.0)
    (nan,) = column_verdict("isqa01a1q", 0, NAN, NAN, 10.0)
    assert not nan.passed
    assert "not a number: no column of this exposure has a pixel good by final_bits" in nan.measured


# --- order, defaults, and what a failure says ---------------------------------------------


def test_verdicts_keep_the_exposures_order_of_the_table():
    table = _sky({"c": 0.1, "a": NAN, "b": 0.0})
    assert [v.subject for v in check_mdrizsky_finite(table, "m")] == [
        "exposure c (m)", "exposure a (m)", "exposure b (m)",
    ]  # fmt: skip
    pedestals = {"c": 0.8, "a": 0.81, "b": 0.79}
    verdicts = check_pedestals_recovered(
        _sky({"c": 0.1, "a": 0.11, "b": 0.09}), pedestals, 0.01, "m"
    )
    assert [v.item for v in verdicts] == ["c", "a", "b"]
    pairs = _pairs([("c", "a", 0.0, 1e-3), ("a", "b", 0.0, 1e-3)])
    verdicts = check_oracle_agreement(pairs, _sky({"c": 0.0, "a": 0.0, "b": 0.0}), "m", 0.005)
    assert [v.subject for v in verdicts] == ["exposure c (m)", "exposure a (m)", "exposure b (m)"]


def test_oracle_leaves_out_pairs_naming_an_exposure_it_was_not_given():
    pairs = _pairs([("a", "b", 0.01, 1e-4), ("b", "x", 5.0, 1e-6)])
    verdicts = check_oracle_agreement(pairs, _sky({"a": 0.01, "b": 0.0}), "m", 0.005)
    assert failures(verdicts) == []


def test_lists_in_messages_are_comma_separated():
    (alone,) = check_overlaps_connected(_pairs([("a", "b", 0.0, 1e-3)]), ["a", "b", "c", "d"])
    assert alone.advice.startswith("exposures overlapping nothing: c, d.")
    (stray,) = check_overlaps_connected(
        _pairs([("a", "x", 0.0, 1e-3), ("a", "y", 0.0, 1e-3)]), ["a"]
    )
    assert stray.measured.endswith("aligned FLTs: x, y")
    verdicts = check_match_levels(
        _sky({"a": NAN, "b": NAN, "c": 0.0, "d": -1.0, "e": -2.0}), "m", 0.1, 1e-5
    )
    assert verdicts[0].measured == "m MDRIZSKY not a number for a, b"
    assert verdicts[2].measured == "d -1.000000, e -2.000000"
    assert verdicts[2].subject == "m (3 exposures)"
    (odd,) = failures(check_uniform_setup(_headers(FILTER=["F160W", "F140W", "F125W"])))
    assert odd.measured == "FILTER F125W, except a_flt.fits, b_flt.fits"


def test_passing_setup_and_match_verdicts_say_so_plainly():
    detector, filt, *_ = check_uniform_setup(_headers())
    assert (detector.measured, filt.measured) == ("DETECTOR IR", "FILTER F160W")
    negative = check_match_levels(_sky({"a": 0.0, "b": 0.05}), "m", 0.1, 1e-5)[1]
    assert (negative.passed, negative.measured) == (True, "none")
    log = "[INFO    ] Applying sky value of 0.500000 to isqa01a1q_flt.fits[sci,1]\n"
    fallback, logged = check_no_sky_fallback(log, _sky({"isqa01a1q": 0.7}), "m", 1e-6)
    assert (fallback.passed, fallback.measured) == (True, "no fallback in the log")
    assert fallback.subject == "the m mosaic (the AstroDrizzle log)"
    assert logged.advice.endswith("read the log's 'Applying sky value' lines.")


def test_an_empty_header_table_fails():
    (failed,) = check_uniform_setup(_headers().iloc[:0])
    assert (failed.passed, failed.measured) == (False, "no exposure headers")


def test_an_exposure_only_one_method_drizzled_fails_the_relation_either_way():
    localmin = _sky({"a": 0.9, "b": 0.8})
    failed = failures(check_globalmin(_sky({"a": 0.8, "b": 0.8, "e": 0.8}), localmin, 1e-5))
    assert (
        failed[0].measured == "only in globalmin: ['e']; only in localmin: none; listed twice: none"
    )
    assert failed[0].subject == "globalmin vs localmin"
    nan = failures(check_globalmin(_sky({"a": 0.8, "b": NAN}), localmin, 1e-5))
    assert (nan[0].subject, nan[0].measured) == (
        "globalmin",
        "globalmin MDRIZSKY not a number for b",
    )
    assert nan[0].check == "globalmin equals the smallest localmin sky"
    assert nan[0].advice.endswith("check their SCI headers.")
    nan = failures(
        check_globalmin_plus_match(_sky({"a": 0.7, "b": 0.72}), _sky({"a": 0.0, "b": NAN}), 1e-5)
    )
    assert nan[0].measured == "match MDRIZSKY not a number for b"
    assert nan[0].advice.endswith("check their SCI headers.")


def test_score_verdict_says_nothing_more_when_finite():
    (verdict,) = check_score_below(_two_methods(0.5, 0.6), "match")
    assert verdict.measured == "score 0.500"


def test_seam_exactly_two_uncertainties_past_the_threshold_is_not_significant():
    # |seam| - 2 x uncertainty == threshold: not more than, so not a seam.
    seams = _seams(0.2, uncertainty=0.05, noise=1.0)
    assert failures(check_seam_free(seams, "match", 0.1)) == []


def test_pedestal_and_oracle_at_exactly_their_tolerance_pass():
    # Residuals of exactly +-0.25 around a mean of 0, a tolerance of 0.25.
    pedestals = {"a": 0.0, "b": 0.0}
    verdicts = check_pedestals_recovered(_sky({"a": 0.25, "b": -0.25}), pedestals, 0.25, "m")
    assert failures(verdicts) == []
    pairs = _pairs([("a", "b", 0.5, 1e-6)])
    verdicts = check_oracle_agreement(pairs, _sky({"a": 0.0, "b": 0.0}), "m", 0.25)
    assert failures(verdicts) == []


def test_relations_at_exactly_their_tolerance_pass():
    assert (
        failures(check_globalmin(_sky({"a": 0.5, "b": 0.75}), _sky({"a": 0.5, "b": 0.5}), 0.25))
        == []
    )
    assert (
        failures(
            check_globalmin_plus_match(
                _sky({"a": 1.0, "b": 1.25}), _sky({"a": 0.0, "b": 0.0}), 0.25
            )
        )
        == []
    )
    log = "[INFO    ] Applying sky value of 0.500000 to isqa01a1q_flt.fits[sci,1]\n"
    assert failures(check_no_sky_fallback(log, _sky({"isqa01a1q": 0.75}), "m", 0.25)) == []


def test_column_check_default_limit_is_ten_sigma():
    (verdict,) = column_verdict("x", 3, 0.1, 10.5)
    assert (verdict.passed, verdict.threshold) == (False, "<= 10.0 sigma")
    rng = np.random.default_rng(8)
    sci = 0.5 + rng.normal(0, 0.03, (64, 64))
    sci[:, 20] += 0.1  # about 8 sigma of the column statistics here
    dq = np.zeros(sci.shape, dtype=np.int16)
    (default,) = column_verdict("x", *column_outlier(sci, dq, 16))
    assert default.limit == 10.0
    (strict,) = column_verdict("x", *column_outlier(sci, dq, 16), 2.0)
    assert (strict.passed, strict.limit) == (False, 2.0)


def test_duplicate_rows_name_their_subject_and_item():
    table = pd.concat([_residual(), _residual()], ignore_index=True)
    (failed,) = failures(check_residuals(table, 0.1, 0.005, 2e-4))
    assert (failed.subject, failed.item, failed.threshold) == (
        "visit ibxl50030_drz.fits",
        "ibxl50030",
        "exactly 1 row",
    )
    assert failed.advice.startswith("the table holds two results for one subject")
    moves = pd.concat([_moves(), _moves()], ignore_index=True)
    (failed,) = failures(check_tweakback(moves, 5.0))
    assert failed.item == "isqa01a1q_flt.fits"


def test_a_seam_exactly_two_uncertainties_past_is_not_significant_in_exact_binary():
    # 0.375 - 2 x 0.125 == 0.125 exactly: not more than the threshold, so not a seam.
    seams = _seams(0.375, uncertainty=0.125, noise=1.0)
    assert failures(check_seam_free(seams, "match", 0.125)) == []
    seams = _seams(0.37501, uncertainty=0.125, noise=1.0)
    assert failures(check_seam_free(seams, "match", 0.125))


def test_globalmin_numbers_are_nan_when_any_value_is():
    localmin = _sky({"a": 0.9, "b": NAN})
    spread, relation = check_globalmin(_sky({"a": 0.8, "b": 0.8}), localmin, 1e-5)[-2:]
    assert spread.passed
    assert (relation.passed, math.isnan(relation.value)) == (False, True)
    spread, relation = check_globalmin(
        _sky({"a": 0.8, "b": NAN}), _sky({"a": 0.9, "b": 0.8}), 1e-5
    )[-2:]
    assert (spread.passed, math.isnan(spread.value)) == (False, True)
    assert (relation.passed, math.isnan(relation.value)) == (False, True)
    for nan_at in ("globalmin+match", "match"):
        tables = {
            "globalmin+match": _sky({"a": 0.7, "b": 0.72}),
            "match": _sky({"a": 0.0, "b": 0.02}),
        }
        tables[nan_at].loc[0, "mdrizsky_e_s"] = NAN
        spread = check_globalmin_plus_match(tables["globalmin+match"], tables["match"], 1e-5)[-1]
        assert (spread.passed, math.isnan(spread.value)) == (False, True)


def test_pedestal_verdict_without_a_compared_method_says_only_its_own_numbers():
    (verdict, *_) = check_pedestals_recovered(_matched(), PEDESTALS, 0.01, "match")
    assert verdict.measured == (
        "residual +0.00000 e-/s (MDRIZSKY 0.30000, injected 0.80000, common constant -0.50000)"
    )


def test_an_empty_header_table_names_what_is_missing():
    (failed,) = check_uniform_setup(_headers().iloc[:0])
    assert (failed.check, failed.subject, failed.threshold, failed.item) == (
        "All exposures share one DETECTOR and FILTER",
        "0 exposures",
        "at least one exposure",
        "all",
    )
    assert failed.advice == "no exposure was acquired: check the field's data folder or query."


def test_oracle_nan_says_what_is_not_a_number():
    pairs = _pairs([("a", "b", 0.01, 1e-4)])
    (failed,) = failures(check_oracle_agreement(pairs, _sky({"a": NAN, "b": 0.0}), "m", 0.005))
    assert failed.measured.endswith("; not a number: a MDRIZSKY or a pair difference is NaN")


def test_the_grade_advice_follows_the_fits_own_prediction_at_half_the_error():
    from skyqa.checks.alignment import _grade_advice

    assert _grade_advice(10.0, 5.0, 6).startswith("the error is of the size the fit predicts")
    assert _grade_advice(10.0, 6.0, 6).startswith("the error is of the size the fit predicts")
    assert _grade_advice(10.0, 4.99, 6).startswith("the error is larger than the fit predicts")
    assert _grade_advice(math.nan, 5.0, 6).startswith("the aligned WCS could not be evaluated")


def test_a_two_chip_exposures_truth_is_judged_per_chip():
    table = _offsets(4.0, 30.0, rootnames=["jsqa01a1q", "jsqa01a1q"]).assign(chip=[1, 2])
    verdicts = _truth(table)
    assert {v.subject for v in verdicts} == {
        "exposure jsqa01a1q chip 1 (visit isqa01030)",
        "exposure jsqa01a1q chip 2 (visit isqa01030)",
    }
    (failed, *_) = failures(verdicts)
    assert failed.subject == "exposure jsqa01a1q chip 2 (visit isqa01030)"


def test_a_column_verdict_of_one_chip_of_a_two_chip_exposure_names_the_chip():
    (verdict,) = column_verdict("jsqa01a1q", 10, 0.5, 12.0, 10.0, chip=2)
    assert verdict.subject == "exposure jsqa01a1q chip 2"
    assert verdict.item == "jsqa01a1q-chip2"
    (one,) = column_verdict("isqa01a1q", 10, 0.5, 12.0, 10.0)
    assert one.item == "isqa01a1q"
