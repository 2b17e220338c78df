import numpy as np
import pandas as pd
import pytest

from skyqa.checks.inspection import (
    check_delivered_wcs,
    check_uniform_setup,
    column_verdict,
)
from skyqa.checks.limits import AstrometryGrades
from skyqa.columns import column_deviations, column_outlier
from skyqa.verdict import failures

# The delivered WCS of the real Horsehead visit DRZs (published run, 2025-11-21).
PUBLISHED_WCS = [
    ("ibxl50030", "IDC_w3m18525i-FIT_REL_GSC242", 18, 66.6, 52.5),
    ("ibxl51030", "IDC_w3m18525i-FIT_REL_GSC242", 31, 73.7, 86.3),
    ("ibxl52030", "IDC_w3m18525i-FIT_IMG_GSC242", 20, 58.5, 66.1),
    ("ibxl53030", "IDC_w3m18525i-FIT_REL_GSC242", 12, 55.6, 75.8),
    ("ibxl54030", "IDC_w3m18525i-FIT_REL_GSC242", 14, 72.8, 88.0),
    ("ibxl55030", "IDC_w3m18525i-FIT_REL_GSC242", 19, 63.5, 86.9),
    ("ibxl56030", "IDC_w3m18525i-FIT_REL_GSC242", 18, 61.9, 93.4),
    ("ibxl57030", "IDC_w3m18525i-FIT_REL_GAIAeDR3", 12, 5.8, 6.5),
    ("ibxl58030", "IDC_w3m18525i-FIT_REL_GAIAeDR3", 15, 11.5, 6.8),
]


def _wcs_table(rows):
    table = pd.DataFrame(rows, columns=["visit", "WCSNAME", "NMATCHES", "RMS_RA", "RMS_DEC"])
    table["FILENAME"] = table.pop("visit") + "_drz.fits"
    table["RMS_RA_pix"] = table["RMS_RA"] / 1000 / 0.1283
    table["RMS_DEC_pix"] = table["RMS_DEC"] / 1000 / 0.1283
    return table


HAP = AstrometryGrades(good_mas=10.0, accepted_mas=20.0)


def test_published_delivered_wcs_reports_the_seven_gsc_visits_and_grades_the_gaia_ones():
    verdicts = check_delivered_wcs(_wcs_table(PUBLISHED_WCS), HAP)
    failed = failures(verdicts)
    assert [v.item for v in failed] == [f"ibxl5{i}030" for i in range(7)]
    assert (
        "WCSNAME IDC_w3m18525i-FIT_REL_GSC242, 31 matches, RMS 73.7 x 86.3 mas (RA x Dec)"
        in failed[1].message()
    )
    # The two Gaia fits: 8.7 mas (good) and 13.4 mas (HAP category 3: a warning).
    good, warned = verdicts[7:]
    assert good.passed
    assert good.value == pytest.approx(8.72, abs=0.01)
    assert warned.warning
    assert warned.value == pytest.approx(13.36, abs=0.01)


def test_gaia_fit_with_large_rms_is_reported():
    rows = [("ibxl57030", "IDC_w3m18525i-FIT_REL_GAIAeDR3", 12, 80.0, 6.5)]
    (failed,) = failures(check_delivered_wcs(_wcs_table(rows), HAP))
    assert "RMS 80.0 x 6.5 mas (RA x Dec), 80.3 mas in all" in failed.measured


def test_mixed_filters_and_missing_exposure_time_fail():
    headers = pd.DataFrame(
        {
            "FILENAME": ["a_flt.fits", "b_flt.fits", "c_flt.fits"],
            "ROOTNAME": ["a", "b", "c"],
            "DETECTOR": ["IR", "IR", "IR"],
            "FILTER": ["F160W", "F160W", "F125W"],
            "EXPTIME": [702.9, 0.0, 702.9],
        }
    )
    failed = failures(check_uniform_setup(headers))
    assert [v.check for v in failed] == [
        "All exposures share one FILTER",
        "Exposure time is positive",
    ]
    assert "FILTER F160W, except c_flt.fits" in failed[0].message()
    assert failed[1].subject == "exposure b_flt.fits"


def _sky(seed=1, size=256):
    """Sky with noise of 0.03 e-/s per pixel on a gradient, as in a nebula's outskirts."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    sci = 0.5 + 0.002 * x + 0.001 * y + rng.normal(0, 0.03, (size, size))
    return sci.astype(np.float32), np.zeros((size, size), dtype=np.int16)


def test_clean_detector_has_no_bad_column():
    sci, dq = _sky()
    (verdict,) = column_verdict("isqa01a1q", *column_outlier(sci, dq, 16))
    assert verdict.passed, verdict.message()


def test_unflagged_hot_column_is_named():
    sci, dq = _sky()
    sci[:, 99] += 0.05  # column 100 (1-based), about 20 column-median sigmas
    (verdict,) = column_verdict("isqa01a1q", *column_outlier(sci, dq, 16))
    assert not verdict.passed
    assert verdict.measured.startswith("column 100 differs from its neighbours by +0.0")
    assert "exposure isqa01a1q" in verdict.message()


def _pillar(seed=3, size=256):
    """Faint sky beside a bright pillar whose edge wanders across columns and whose
    brightness changes along it, as in M16's F657N nebula."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size].astype(float)
    edge = 80 + 0.4 * y + 10 * np.sin(y / 15)
    bright = 20 * (1 + np.tanh((x - edge) / 3)) * (0.5 + 0.5 * np.cos(y / 40))
    noise = rng.normal(0, 1, (size, size)) * (0.03 + 0.05 * np.sqrt(bright))
    return (0.5 + bright + noise).astype(np.float32), np.zeros((size, size), dtype=np.int16)


def test_bright_structured_emission_is_not_a_bad_column():
    # Comparing whole-column medians with the neighbouring columns' scored this image 95
    # sigma; compared row by row, the pillar cancels.
    sci, dq = _pillar()
    (verdict,) = column_verdict("ick905k5q", *column_outlier(sci, dq, 16))
    assert verdict.passed, verdict.message()
    assert column_outlier(sci, dq, 16)[2] < 8


@pytest.mark.parametrize(("size", "passes"), [(9.8, True), (10.2, False)])
def test_column_check_fires_just_past_ten_sigma_beside_a_pillar(size, passes):
    sci, dq = _pillar()
    deviation, sigma = column_deviations(sci, dq, 16)
    sci[:, 40] += np.float32(size * sigma[40] - deviation[40])  # column 41 at ``size`` sigma
    (verdict,) = column_verdict("ick905k5q", *column_outlier(sci, dq, 16))
    assert verdict.passed is passes, verdict.message()
    assert verdict.measured.startswith("column 41 differs from its neighbours")


def test_hot_column_flagged_bad_in_dq_passes():
    sci, dq = _sky()
    sci[:, 99] += 5.0
    dq[:, 99] = 4  # bad detector pixel: not in final_bits, so drizzle ignores it
    (verdict,) = column_verdict("isqa01a1q", *column_outlier(sci, dq, 16))
    assert verdict.passed, verdict.message()


def test_hot_column_flagged_with_a_good_bit_is_still_reported():
    sci, dq = _sky()
    sci[:, 99] += 0.05
    dq[:, 99] = 16  # DQ 16 is in final_bits: the column still goes into the mosaic
    (verdict,) = column_verdict("isqa01a1q", *column_outlier(sci, dq, 16))
    assert not verdict.passed
