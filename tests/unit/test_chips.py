"""The two-chip CCDs' tables and checks: MDRIZSKY per chip in e-/s, one sky per exposure,
the cosmic-ray fraction, columns per chip, and the log's electrons as e-/s. Each check
fails just past its threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from skyqa.checks.chips import check_cosmic_ray_rejection, check_one_sky_per_exposure
from skyqa.checks.sky import check_no_sky_fallback
from skyqa.columns import column_outliers
from skyqa.detectors import WFC3_IR, WFC3_UVIS
from skyqa.drizzle import read_cosmic_ray_flags, read_mdrizsky
from skyqa.verdict import failures


def _flc(path, skies=(1200.0, 1200.0), exptime=600.0, shape=(32, 48), columns=()):
    """A two-chip FLC: [SCI,1] is CCDCHIP 2, [SCI,2] CCDCHIP 1; pixels in electrons."""
    primary = fits.PrimaryHDU()
    primary.header.update(ROOTNAME=path.name[:9], EXPTIME=exptime)
    hdus = [primary]
    rng = np.random.default_rng(0)
    for extver, (chip, sky) in enumerate(zip((2, 1), skies, strict=True), start=1):
        sci = rng.normal(600.0, 5.0, shape).astype(np.float32)
        for column, extra in columns:
            if extver == 2:
                sci[:, column] += extra
        header = fits.Header({"EXTVER": extver, "CCDCHIP": chip, "BUNIT": "ELECTRONS"})
        if sky is not None:
            header["MDRIZSKY"] = sky
        dq = np.zeros(shape, dtype=np.int16)
        dq[: extver * 3, :] = 4096  # 3 rows of chip 2, 6 of chip 1 flagged as cosmic rays
        version = fits.Header({"EXTVER": extver})
        hdus += [
            fits.ImageHDU(sci, header, name="SCI"),
            fits.ImageHDU(np.full(shape, 5.0, np.float32), version, name="ERR"),
            fits.ImageHDU(dq, version, name="DQ"),
        ]
    fits.HDUList(hdus).writeto(path)
    return path


def test_mdrizsky_of_two_chips_is_read_in_e_s_with_their_spread(tmp_path):
    paths = [
        _flc(tmp_path / "ick905k5q_flc.fits"),
        _flc(tmp_path / "ick905keq_flc.fits", skies=(1200.0, 1206.0)),
        _flc(tmp_path / "ick905knq_flc.fits", skies=(1200.0, None)),
    ]
    table = read_mdrizsky(paths, WFC3_UVIS)
    assert list(table.columns) == ["rootname", "mdrizsky_e_s", "chip_spread_e_s", "exptime_s"]
    assert table["mdrizsky_e_s"].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert table["chip_spread_e_s"].iloc[:2].tolist() == pytest.approx([0.0, 0.01])
    assert np.isnan(table["chip_spread_e_s"].iloc[2])  # a chip without MDRIZSKY
    assert list(read_mdrizsky(paths, WFC3_IR).columns) == ["rootname", "mdrizsky_e_s"]


def _spreads(*values):
    return pd.DataFrame(
        {"rootname": [f"e{i}" for i in range(len(values))], "mdrizsky_e_s": 0.0,
         "chip_spread_e_s": list(values), "exptime_s": 600.0}
    )  # fmt: skip


def test_one_sky_per_exposure_fails_just_past_its_tolerance():
    assert failures(check_one_sky_per_exposure(_spreads(0.0, 1.0e-5), "match", 1.0e-5)) == []
    (failed,) = failures(check_one_sky_per_exposure(_spreads(0.0, 1.1e-5), "match", 1.0e-5))
    assert failed.message().startswith(
        "Both chips carry the exposure's one sky FAILED for exposure e1 (match): measured "
        "chips differ by 1.10e-05 e-/s, required <= 1e-05 e-/s."
    )
    nan = failures(check_one_sky_per_exposure(_spreads(float("nan")), "match", 1.0e-5))
    assert len(nan) == 1
    assert check_one_sky_per_exposure(_spreads(0.0).drop(columns="chip_spread_e_s"), "x", 1) == []


def _fractions(*values):
    return pd.DataFrame(
        {"rootname": "e0", "chip": [2, 1, 2, 1][: len(values)], "flagged_fraction": list(values)}
    )


def test_cosmic_ray_fraction_fails_just_outside_its_range():
    inside = check_cosmic_ray_rejection(_fractions(0.001, 0.05), "match", 0.001, 0.05)
    assert failures(inside) == []
    low, high = failures(
        check_cosmic_ray_rejection(_fractions(0.00099, 0.0501), "match", 0.001, 0.05)
    )
    assert low.subject == "exposure e0 chip 2 (match)"
    assert low.measured == "0.10 % of the chip's pixels flagged 4096"
    assert "did not run" in low.advice
    assert high.subject == "exposure e0 chip 1 (match)"
    assert "localmin sky on a nebula" in high.advice
    assert check_cosmic_ray_rejection(None, "match", 0.001, 0.05) == []


def test_cosmic_ray_flags_are_read_per_chip(tmp_path):
    table = read_cosmic_ray_flags([_flc(tmp_path / "ick905k5q_flc.fits")])
    assert table.to_dict("records") == [
        {"rootname": "ick905k5q", "chip": 2, "flagged_fraction": pytest.approx(3 / 32)},
        {"rootname": "ick905k5q", "chip": 1, "flagged_fraction": pytest.approx(6 / 32)},
    ]


def test_columns_of_two_chips_are_judged_per_chip_in_e_s(tmp_path):
    path = _flc(tmp_path / "ick905k5q_flc.fits", columns=[(20, 300.0)])
    table = column_outliers([path], "64, 16")
    assert list(table["chip"]) == [2, 1]
    hot = table[table["chip"] == 1].iloc[0]
    assert hot["column"] == 20
    assert hot["deviation_e_s"] == pytest.approx(300.0 / 600.0, rel=0.05)


def test_the_logs_electrons_are_compared_as_e_s():
    log = (
        "[INFO    ] Applying sky value of 1200.000000 to ick905k5q_flc.fits[sci,1]\n"
        "[INFO    ] Applying sky value of 1200.000000 to ick905k5q_flc.fits[sci,2]\n"
    )
    table = pd.DataFrame(
        {"rootname": ["ick905k5q"], "mdrizsky_e_s": [2.0], "chip_spread_e_s": [0.0],
         "exptime_s": [600.0]}
    )  # fmt: skip
    assert failures(check_no_sky_fallback(log, table, "match", 1.0e-6)) == []
    wrong = table.assign(mdrizsky_e_s=2.0 + 2.0e-6)
    (failed,) = failures(check_no_sky_fallback(log, wrong, "match", 1.0e-6))
    assert failed.measured == "logged 2.000000 e-/s, header MDRIZSKY 2.000002 e-/s"


def test_the_archives_rms_is_read_in_the_detectors_pixels(tmp_path):
    """The notebook's own reading: ick905k5q's visit fit RMS_RA 5.7 mas is 0.14 UVIS pixels
    (it would be 0.04 in WFC3/IR pixels)."""
    from skyqa.headers import delivered_wcs_table

    path = tmp_path / "ick905040_drc.fits"
    header = fits.Header({"WCSNAME": "IDC_2731450pi-FIT_REL_GAIAeDR3", "NMATCHES": 161,
                          "RMS_RA": 5.7, "RMS_DEC": 3.9})  # fmt: skip
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2)), header, name="SCI")]).writeto(
        path
    )
    table = delivered_wcs_table([path], WFC3_UVIS.plate_scale_arcsec)
    assert table["RMS_RA_pix"].round(2).tolist() == [0.14]
    assert table["RMS_DEC_pix"].round(2).tolist() == [0.10]
    assert delivered_wcs_table([path])["RMS_RA_pix"].round(2).tolist() == [0.04]


def test_a_cosmic_ray_fraction_that_is_not_a_number_fails():
    (failed,) = failures(check_cosmic_ray_rejection(_fractions(float("nan")), "match", 0.001, 0.05))
    assert failed.measured == "nan % of the chip's pixels flagged 4096"


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ({"FILTER": "F657N"}, "F657N"),
        ({"FILTER1": "F658N", "FILTER2": "CLEAR2L"}, "F658N"),
        ({"FILTER1": "CLEAR1L", "FILTER2": "F814W"}, "F814W"),
        ({"FILTER1": "F550M", "FILTER2": "POL0V"}, "F550M+POL0V"),
    ],
)
def test_an_exposures_filter_is_read_from_wfc3_and_acs_keywords(keywords, expected):
    from skyqa.headers import filter_of

    assert filter_of(fits.Header(keywords)) == expected
    assert np.isnan(filter_of(fits.Header()))
