"""The fault catalog itself: names, expected check ids, spec variants, the table."""

import numpy as np
import pytest
from astropy.io import fits

from skyqa.errors import FieldSpecError
from skyqa.faults import (
    FAULTS,
    SessionResult,
    expected_checks,
    fault_table,
    get_fault,
    seed_variant,
)
from skyqa.field import load_field_spec, resolve_field

REQUIRED_BY_THE_ISSUE = {
    "nan-shift",
    "noop-tweakback",
    "match-fallback",
    "pedestal-after-match",
    "misaligned-exposure",
    "unflagged-hot-column",
    "wrong-sky-method",
}
CHECK_NAMES = {
    "test_shift_file",
    "test_tweakback_moved_flts",
    "test_no_sky_fallback",
    "test_seam_free",
    "test_wcs_matches_truth",
    "test_no_unflagged_bad_columns",
    "test_match_sky_levels",
    "test_alignment_fit",
    "test_uniform_setup",
    "test_overlaps_connected",
    "test_mosaic_exists",
}
STAGES = {"exposures", "alignment", "overlaps", "mosaic-match", "mosaic-globalmin"}


def test_catalog_covers_the_required_faults_with_real_checks():
    assert set(FAULTS) >= REQUIRED_BY_THE_ISSUE
    for fault in FAULTS.values():
        assert fault.stage in STAGES, fault
        assert fault.description, fault
        assert fault.caught_by, fault
        assert {check.split("[")[0] for check in fault.caught_by} <= CHECK_NAMES


def test_unknown_fault_lists_the_known_ones():
    with pytest.raises(FieldSpecError, match=r"Unknown fault 'nan'. Known faults: nan-shift, "):
        get_fault("nan")


def test_expected_check_ids_carry_field_and_visit():
    field = resolve_field("mini-sim")
    assert expected_checks(get_fault("nan-shift"), field) == ["test_shift_file[mini-sim]"]
    assert expected_checks(get_fault("misaligned-exposure"), field) == [
        "test_wcs_matches_truth[mini-sim-isqa04030]",
        "test_tweakback_moved_flts[mini-sim-isqa04030]",
    ]
    assert expected_checks(get_fault("match-fallback"), field) == [
        "test_no_sky_fallback[mini-sim-match]"
    ]


def test_seed_variant_is_the_same_design_with_another_seed(tmp_path):
    field = resolve_field("mini-sim")
    variant = load_field_spec(seed_variant(field, 7, tmp_path))
    assert variant.name == "mini-sim-seed7"
    assert variant.synthetic.seed == 7
    assert variant.synthetic.exposures == field.synthetic.exposures
    assert variant.thresholds == field.thresholds


def test_nan_shift_writes_nan_on_the_first_line_only(tmp_path):
    shift = tmp_path / "shift_drz.txt"
    shift.write_text(
        "# frame: output\n"
        "isqa01030_drz.fits    0.08  2.65  0.017  0.9998  0.029  0.027\n"
        "isqa02030_drz.fits    0.10  1.00  0.010  1.0000  0.020  0.020\n"
    )
    get_fault("nan-shift").outputs(None, tmp_path, {"shift_file": shift.name})
    lines = shift.read_text().splitlines()
    assert lines[1].split() == ["isqa01030_drz.fits", *["nan"] * 6]
    assert lines[2].startswith("isqa02030_drz.fits    0.10")


def test_hot_column_changes_one_column_and_no_dq(tmp_path):
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(np.ones((6, 9), np.float32), name="SCI"),
            fits.ImageHDU(np.zeros((6, 9), np.int16), name="DQ"),
        ]
    )
    hdul.writeto(tmp_path / "a_flt.fits")
    get_fault("unflagged-hot-column").outputs(None, tmp_path, {"flt_paths": ["a_flt.fits"]})
    with fits.open(tmp_path / "a_flt.fits") as changed:
        difference = changed["SCI"].data - 1.0
        assert np.allclose(difference[:, 3], 0.5)
        assert np.count_nonzero(difference) == 6
        assert not changed["DQ"].data.any()


def test_pedestal_fault_reads_a_copy_and_leaves_the_original(tmp_path):
    original = tmp_path / "a_flt.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]
    ).writeto(original)
    work = tmp_path / "work"
    work.mkdir()
    other = tmp_path / "b_flt.fits"
    paths = get_fault("pedestal-after-match").inputs(None, [original, other], work)
    assert paths[1] == other
    assert paths[0] != original
    assert np.allclose(fits.getdata(paths[0], "SCI"), 0.02)
    assert not fits.getdata(original, "SCI").any()


def _result(label, fault, statuses):
    summary = {"checks": [{"id": key, "status": value} for key, value in statuses.items()]}
    expected = tuple(expected_checks(fault, resolve_field("mini-sim"))) if fault else ()
    return SessionResult(label, fault, expected, summary, 1 if fault else 0, None)


def test_fault_table_says_caught_missed_and_false_alarm():
    nan = get_fault("nan-shift")
    rows = fault_table(
        [
            _result("clean-seed2024", None, {"test_a[mini-sim]": "passed"}),
            _result("nan-shift", nan, {"test_shift_file[mini-sim]": "failed"}),
            _result("nan-shift", nan, {"test_shift_file[mini-sim]": "passed"}),
            _result(
                "clean-seed7",
                None,
                {"test_a[x]": "failed", "test_b[x]": "passed", "test_c[x]": "not run"},
            ),
            _result("clean-seed11", None, {"test_a[x]": "passed", "test_b[x]": "deselected"}),
        ]
    ).splitlines()
    assert rows[2] == (
        "| none (clean-seed2024) | - | no check may fail | no false alarm: 1 of 1 checks passed |"
    )
    assert rows[3].endswith("| alignment | `test_shift_file[mini-sim]` | caught |")
    assert rows[4].endswith("| MISSED (test_shift_file[mini-sim]) |")
    assert "FALSE ALARM: 1 of 2 checks passed (1 not run)" in rows[5]
    assert "no false alarm: 1 of 1 checks passed (1 not run)" in rows[6]
