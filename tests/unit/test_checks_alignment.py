import math

import numpy as np
import pandas as pd
import pytest

from skyqa import wfc3ir
from skyqa.astrometry import truth_offset_mas, tweakback_moves
from skyqa.checks.alignment import (
    check_fit_quality,
    check_residuals,
    check_shift_file,
    check_tweakback,
    check_wcs_against_truth,
)
from skyqa.checks.limits import AstrometryGrades, ErrorBudget
from skyqa.simulate import sip_wcs_header
from skyqa.verdict import failures

IMAGES = ["ibxl50030_drz.fits", "ibxl51030_drz.fits"]
GOOD_SHIFTS = """# units: pixels
ibxl50030_drz.fits    -0.914800  -0.443400    0.022802     1.000451   0.051000  0.082000
ibxl51030_drz.fits    -0.095000  -0.679400  359.983154     1.000220   0.039000  0.043000
"""


def _shift_file(tmp_path, text):
    path = tmp_path / "shift_drz.txt"
    path.write_text(text)
    return path


def test_good_shift_file_passes(tmp_path):
    assert failures(check_shift_file(_shift_file(tmp_path, GOOD_SHIFTS), IMAGES)) == []


def test_nan_line_fails_naming_file_and_line(tmp_path):
    text = GOOD_SHIFTS.replace("-0.095000  -0.679400", "nan  nan")
    (failed,) = failures(check_shift_file(_shift_file(tmp_path, text), IMAGES))
    assert failed.subject == "ibxl51030_drz.fits (shift_drz.txt line 3)"
    assert failed.item == "ibxl51030"
    assert "non-finite xsh_pix, ysh_pix" in failed.message()
    assert "searchrad" in failed.message()


def test_missing_visit_and_missing_file_fail(tmp_path):
    text = GOOD_SHIFTS.splitlines()[0] + "\n" + GOOD_SHIFTS.splitlines()[1] + "\n"
    (failed,) = failures(check_shift_file(_shift_file(tmp_path, text), IMAGES))
    assert failed.message().startswith(
        "Shift file has one line for the visit FAILED for ibxl51030_drz.fits in shift_drz.txt: "
        "measured 0 line(s)"
    )
    (absent,) = check_shift_file(tmp_path / "none.txt", IMAGES)
    assert not absent.passed
    assert absent.measured == "file missing"


def test_fit_quality_fails_on_rms_and_matches():
    table = pd.DataFrame(
        {
            "image": IMAGES,
            "n_matches": [9, 2],
            "xrms_pix": [0.05, 0.35],
            "yrms_pix": [0.08, 0.04],
        }
    )
    failed = failures(check_fit_quality(table, rms_max_pix=0.2, min_matches=4))
    assert [(v.check, v.item) for v in failed] == [
        ("TweakReg fit xrms", "ibxl51030"),
        ("TweakReg matched sources", "ibxl51030"),
    ]
    assert "measured 0.3500 pix, required <= 0.2 pix" in failed[0].message()
    assert "measured 2 matches, required >= 4" in failed[1].message()


def test_residuals_fail_when_the_update_did_not_take():
    table = pd.DataFrame(
        {
            "image": IMAGES,
            "xsh_pix": [0.001, -0.9148],
            "ysh_pix": [0.0, -0.4434],
            "rot_deg": [0.0, 359.98],
            "scale": [1.0, 1.00045],
            "xrms_pix": [0.05, 0.05],
            "yrms_pix": [0.05, 0.05],
        }
    )
    failed = failures(check_residuals(table, 0.1, 0.005, 2e-4))
    assert {v.item for v in failed} == {"ibxl51030"}
    assert [v.check for v in failed] == [
        "Residual shift after the update",
        "Residual rotation after the update",
        "Residual scale after the update",
    ]
    assert "measured -0.02000 deg" in failed[1].message()  # 359.98 is read as -0.02


def _drz_header(crval):
    header = sip_wcs_header(crval, np.array([[-3.564e-05, 0.0], [0.0, 3.564e-05]]), (160, 160), 320)
    for key in list(header):
        if key.startswith(("A_", "B_")):
            del header[key]
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    return header


def _flt_header(crval):
    return sip_wcs_header(crval, wfc3ir.cd_for_orientat(166.6), (128.0, 128.0), 256)


def test_tweakback_that_moved_the_flt_passes_and_a_skipped_one_fails():
    shift = 0.5 / 3600  # the DRZ's correction: 0.5 arcsec in declination
    drz_before, drz_after = _drz_header((85.25, -2.45)), _drz_header((85.25, -2.45 + shift))
    drz_after["WCSNAMEA"] = "IDC_w3m18525i"
    flt_before = {"isqa01a1q_flt.fits": _flt_header((85.2501, -2.4502))}
    moved = {"isqa01a1q_flt.fits": _flt_header((85.2501, -2.4502 + shift))}
    (row,) = tweakback_moves("isqa01030", drz_before, drz_after, flt_before, moved)
    assert row["moved_mas"] == pytest.approx(500.0, rel=1e-3)
    assert row["disagreement_mas"] < 1.0
    assert failures(check_tweakback(pd.DataFrame([row]), 5.0)) == []
    skipped_rows = tweakback_moves("isqa01030", drz_before, drz_after, flt_before, flt_before)
    (skipped,) = check_tweakback(pd.DataFrame(skipped_rows), 5.0)
    assert not skipped.passed
    assert skipped.subject == "isqa01a1q_flt.fits (visit isqa01030)"
    assert "the FLT did not move at all: tweakback was a silent no-op" in skipped.message()
    assert "the DRZ's correction (500.0 mas)" in skipped.message()
    assert "orig_wcs_name" in skipped.message()
    assert "'IDC_w3m18525i'" in skipped.message()


def test_wcs_against_truth_fails_when_off_by_30_mas():
    true = _flt_header((85.25, -2.45))
    off = _flt_header((85.25, -2.45 + 0.03 / 3600))
    assert truth_offset_mas(true, true) == pytest.approx(0.0, abs=1e-6)
    offsets = pd.DataFrame(
        {
            "visit": ["v", "v"],
            "rootname": ["isqa01a1q", "isqa01a2q"],
            "rms_mas": [truth_offset_mas(true, true), truth_offset_mas(off, true)],
            "fit_claim_mas": [4.0, 4.0],
            "n_stars": [6, 6],
            "dof": [8, 8],
            "pixel_scale_mas": [128.3, 128.3],
        }
    )
    verdicts = check_wcs_against_truth(
        offsets, ErrorBudget(5.0, 0.0, 0.0), AstrometryGrades(10.0, 20.0)
    )
    # 30 mas is 4.7 times the predicted hypot(4, 5) mas, and beyond HAP's accepted 20 mas.
    consistency, graded = failures(verdicts)
    assert consistency.subject == graded.subject == "exposure isqa01a2q (visit v)"
    assert consistency.value == pytest.approx(30.0 / math.hypot(4.0, 5.0), rel=1e-3)
    assert graded.value == pytest.approx(30.0, rel=1e-3)
