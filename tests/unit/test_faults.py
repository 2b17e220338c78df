"""The fault catalog itself: names, expected check ids, spec variants, the table."""

import numpy as np
import pytest
from astropy.io import fits

from skyqa.errors import FieldSpecError
from skyqa.faults import FAULTS, expected_checks, get_fault
from skyqa.field import load_field_spec, resolve_field
from skyqa.testing import SessionResult, fault_table, seed_variant

REQUIRED_BY_THE_ISSUE = {
    "nan-shift",
    "noop-tweakback",
    "match-fallback",
    "mismatched-sky",
    "misaligned-exposure",
    "unflagged-hot-column",
    "wrong-sky-method",
}
SIZED_BY_THE_ISSUE = {
    "chip-offset",  # issue 21: one chip of a two-chip exposure (x pixel noise)
    "mismatched-sky",  # a pedestal on one exposure (x pixel noise)
    "sky-step",
    "misaligned-exposure",
    "visit-rotated",
    "unflagged-hot-column",
    "noop-tweakback",
    "sky-header-mismatch",
    "product-shifted",  # issue 33: the product's WCS (mas east)
    "product-rotated",  # issue 33: its final_rot (mas at its farthest pixel)
    "sky-gradient",  # issue 33: a gradient across one exposure (x pixel noise)
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
    "test_mosaic_holds_recorded_sky",
    "test_sources_on_catalog",
    "test_alignment_residuals",
    "test_product_astrometry",
    "test_product_geometry",
    "test_product_photometry",
    "test_product_has_no_holes",
    "test_sky_flat_across_each_exposure",
}
STAGES = {"exposures", "alignment", "overlaps", "mosaic-match", "mosaic-globalmin"}


def test_catalog_covers_the_required_faults_with_real_checks():
    assert set(FAULTS) >= REQUIRED_BY_THE_ISSUE
    for fault in FAULTS.values():
        assert fault.stage in STAGES, fault
        assert fault.description, fault
        assert fault.caught_by, fault
        assert fault.via in ("pipeline", "plumbing"), fault
        assert {check.split("[")[0] for check in fault.caught_by} <= CHECK_NAMES


def test_at_least_eight_faults_go_through_the_pipeline():
    through = [name for name, fault in FAULTS.items() if fault.via == "pipeline"]
    assert len(through) >= 8, through


def test_sized_faults_name_the_threshold_their_check_claims():
    field = resolve_field("mini-sim")
    assert {name for name, fault in FAULTS.items() if fault.unit} == SIZED_BY_THE_ISSUE
    for name in SIZED_BY_THE_ISSUE:
        fault = FAULTS[name]
        assert fault.default_size > 0
        assert fault.claimed_threshold(field) > 0
        assert fault.size == fault.default_size


def test_a_fault_size_is_parsed_with_or_without_its_unit():
    assert get_fault("misaligned-exposure=20mas").size == 20.0
    assert get_fault("misaligned-exposure=20").size == 20.0
    assert get_fault("sky-step=0.3xnoise").size == 0.3
    assert get_fault("sky-step=0.3xnoise").label == "sky-step=0.3xnoise"
    assert get_fault("sky-step").size == 1.0
    assert FAULTS["sky-step"].size == 1.0  # the catalog's instance is not changed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nan-shift=3", "has no size"),
        ("misaligned-exposure=20deg", "is not a number in mas"),
        ("misaligned-exposure=-5", "positive number"),
        ("misaligned-exposure=nan", "positive number"),
    ],
)
def test_a_bad_fault_size_says_what_is_wrong(text, message):
    with pytest.raises(FieldSpecError, match=message):
        get_fault(text)


def test_unknown_fault_lists_the_known_ones():
    with pytest.raises(FieldSpecError, match=r"Unknown fault 'nan'. Known faults: nan-shift, "):
        get_fault("nan")


def test_expected_check_ids_carry_field_and_visit():
    field = resolve_field("mini-sim")
    assert expected_checks(get_fault("nan-shift"), field) == ["test_shift_file[mini-sim]"]
    assert expected_checks(get_fault("misaligned-exposure"), field) == [
        "test_sources_on_catalog[mini-sim-isqa04030]",
        "test_wcs_matches_truth[mini-sim-isqa04030]",
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


def _noisy_flt(path, shape=(64, 60), seed=1):
    rng = np.random.default_rng(seed)
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(rng.normal(1.0, 0.05, shape).astype(np.float32), name="SCI"),
            fits.ImageHDU(np.full(shape, 0.05, np.float32), name="ERR"),
            fits.ImageHDU(np.zeros(shape, np.int16), name="DQ"),
        ]
    ).writeto(path)


def test_hot_column_is_its_size_in_robust_sigma_and_leaves_dq(tmp_path):
    from skyqa.columns import column_outlier

    _noisy_flt(tmp_path / "a_flt.fits")
    before = fits.getdata(tmp_path / "a_flt.fits", "SCI").copy()
    field = resolve_field("mini-sim")
    get_fault("unflagged-hot-column=25").outputs(field, tmp_path, {"flt_paths": ["a_flt.fits"]})
    with fits.open(tmp_path / "a_flt.fits") as changed:
        difference = changed["SCI"].data - before
        assert np.count_nonzero(difference) == 64
        assert np.count_nonzero(difference[:, 20]) == 64  # the column a third of the way
        assert not changed["DQ"].data.any()
        column, _, score = column_outlier(changed["SCI"].data, changed["DQ"].data, 16)
    assert column == 20
    assert 20 < score < 30  # the size in robust sigma, give or take the column's own noise


def test_sky_step_raises_the_upper_half_by_its_size_in_pixel_noise(tmp_path):
    _noisy_flt(tmp_path / "a_flt.fits")
    before = fits.getdata(tmp_path / "a_flt.fits", "SCI").copy()
    get_fault("sky-step=0.4").outputs(None, tmp_path, {"flt_paths": ["a_flt.fits"]})
    difference = fits.getdata(tmp_path / "a_flt.fits", "SCI") - before
    assert np.allclose(difference[32:], 0.4 * 0.05)
    assert not difference[:32].any()


def test_empty_mosaic_flags_copies_and_leaves_the_originals(tmp_path):
    original = tmp_path / "a_flt.fits"
    _noisy_flt(original)
    work = tmp_path / "work"
    work.mkdir()
    (copy,) = get_fault("empty-mosaic").inputs(None, [original], work)
    assert copy != original
    assert (fits.getdata(copy, "DQ") & 4).all()
    assert not fits.getdata(original, "DQ").any()


def _result(label, fault, statuses):
    summary = {"checks": [{"id": key, "status": value} for key, value in statuses.items()]}
    expected = tuple(expected_checks(fault, resolve_field("mini-sim"))) if fault else ()
    return SessionResult(label, fault, expected, summary, 1 if fault else 0, None)


def test_fault_table_says_caught_missed_and_false_alarm():
    import dataclasses

    from skyqa.review import Review

    nan = get_fault("nan-shift")
    real = _result("clean-seed31", None, {"test_a[x]": "failed", "test_b[x]": "passed"})
    real = dataclasses.replace(real, reviews=(Review("test_a[x]", True, "off by 12 mas"),))
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
            real,
        ]
    ).splitlines()
    assert rows[0] == "| fault | via | injected into | must be caught by | result |"
    assert rows[2].startswith("| none (clean-seed2024) | - | - | no false alarm (a check")
    assert rows[2].endswith("| no false alarm: 1 of 1 checks passed |")
    assert rows[3].endswith("| plumbing | alignment | `test_shift_file[mini-sim]` | caught |")
    assert rows[4].endswith("| MISSED (test_shift_file[mini-sim]) |")
    assert (
        "FALSE ALARM: 1 of 2 checks passed (1 not run); NOT shown by the truth: test_a[x]"
        in (rows[5])
    )
    assert "no false alarm: 1 of 1 checks passed (1 not run)" in rows[6]
    assert rows[7].endswith(
        "| no false alarm: 1 of 2 checks passed; 1 failed, shown real by the truth |"
    )


def test_two_chip_faults_apply_to_two_chip_fields_only(tmp_path):
    from skyqa.faults import faults_for
    from skyqa.pipeline import Pipeline

    one_chip, two_chip = resolve_field("mini-sim"), resolve_field("acs-mini-sim")
    new = ["chip-offset", "no-cr-rejection", "wrong-exptime"]
    assert not set(new) & set(faults_for(one_chip))
    assert [name for name in faults_for(two_chip) if name in new] == new
    assert [name for name in faults_for(resolve_field("m16-uvis-sim")) if name in new] == new
    with pytest.raises(
        FieldSpecError, match="applies to ACS/WFC, WFC3/UVIS fields; field 'mini-sim' is WFC3/IR"
    ):
        Pipeline(one_chip, tmp_path, fault=FAULTS["chip-offset"])


def _two_chip_flc(path):
    hdus = [fits.PrimaryHDU(header=fits.Header({"EXPTIME": 500.0}))]
    for extver, level in ((1, 10.0), (2, 20.0)):
        hdus.append(fits.ImageHDU(np.full((8, 8), level, np.float32), name="SCI", ver=extver))
        hdus.append(fits.ImageHDU(np.full((8, 8), 2.0, np.float32), name="ERR", ver=extver))
    fits.HDUList(hdus).writeto(path)


def test_chip_offset_brightens_the_second_chip_of_the_first_exposure_only(tmp_path):
    for name in ("a", "b"):
        _two_chip_flc(tmp_path / f"{name}_flc.fits")
    record = {"flt_paths": ["a_flc.fits", "b_flc.fits"]}
    get_fault("chip-offset=1.5").outputs(resolve_field("acs-mini-sim"), tmp_path, record)
    with fits.open(tmp_path / "a_flc.fits") as hdul:
        assert (hdul["SCI", 1].data == 10.0).all()
        assert (hdul["SCI", 2].data == 23.0).all()  # 1.5 x its pixel noise (ERR 2)
    with fits.open(tmp_path / "b_flc.fits") as hdul:
        assert (hdul["SCI", 2].data == 20.0).all()


def test_wrong_exptime_changes_the_header_not_the_electrons(tmp_path):
    _two_chip_flc(tmp_path / "a_flc.fits")
    FAULTS["wrong-exptime"].outputs(
        resolve_field("acs-mini-sim"), tmp_path, {"flt_paths": ["a_flc.fits"]}
    )
    with fits.open(tmp_path / "a_flc.fits") as hdul:
        assert hdul[0].header["EXPTIME"] == pytest.approx(550.0)
        assert (hdul["SCI", 1].data == 10.0).all()


def test_no_cr_rejection_turns_the_steps_off_only_while_active():
    from skyqa import drizzle

    before = dict(drizzle.COSMIC_RAY_STEPS)
    with FAULTS["no-cr-rejection"].active(resolve_field("acs-mini-sim")):
        assert not any(
            drizzle.COSMIC_RAY_STEPS[step]
            for step in ("driz_separate", "median", "blot", "driz_cr")
        )
    assert before == drizzle.COSMIC_RAY_STEPS
