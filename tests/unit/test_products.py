"""The product checks (`skyqa.checks.products`) and the measurements they read
(`skyqa.products`): each check passes at its threshold, fails just past it, and fails on
a number that is not one."""

import math

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skyqa.checks.limits import CONSISTENCY_SIGMAS, AstrometryGrades
from skyqa.checks.products import (
    MIN_STARS,
    check_product_astrometry,
    check_product_geometry,
    check_product_holes,
    check_product_keywords,
    check_product_photometry,
    geometry_limits,
    kernel_loss,
    noise_floor,
)
from skyqa.photometry import APERTURE_ARCSEC, aperture_fluxes, drizzle_broadening, relative_area
from skyqa.products import holes, orientation_and_scale

GRADES = AstrometryGrades(10.0, 20.0)


def _row(**values) -> pd.Series:
    base = {
        "n_found": 50, "n_matched": 40, "east_mas": 1.0, "north_mas": 1.0, "offset_mas": 1.4,
        "uncertainty_mas": 0.5, "scatter_mas": 4.0, "truth_n_matched": 40,
        "truth_offset_mas": 1.0, "truth_uncertainty_mas": 0.5, "truth_scatter_mas": 3.0,
        "orientation_deg": 257.0, "scale_arcsec": 0.12825, "radius_arcsec": 100.0,
        "union_pixels": 1000, "holes": 1, "largest_hole_pixels": 3,
        "PHOTMODE": "WFC3 IR F160W", "PHOTFLAM": "1.9275e-20", "PHOTPLAM": "15369.176",
        "inputs_PHOTMODE": "WFC3 IR F160W", "inputs_PHOTFLAM": "1.9275e-20",
        "inputs_PHOTPLAM": "15369.176",
    }  # fmt: skip
    base.update(values)
    return pd.Series(base)


# --- astrometry -----------------------------------------------------------------------


@pytest.mark.parametrize("truth", [False, True])
def test_product_astrometry_is_graded_with_hap_limits(truth):
    key = "truth_offset_mas" if truth else "offset_mas"
    at_good = check_product_astrometry(_row(**{key: 10.0}), "match", GRADES, 4, truth)
    past_good = check_product_astrometry(_row(**{key: 10.01}), "match", GRADES, 4, truth)
    past_accepted = check_product_astrometry(_row(**{key: 20.01}), "match", GRADES, 4, truth)
    assert at_good.passed
    assert not past_good.passed
    assert past_good.warning
    assert not past_accepted.passed
    assert not past_accepted.warning
    assert "true positions" in at_good.check if truth else "catalog" in at_good.check


def test_product_astrometry_fails_with_too_few_stars_or_no_number():
    few = check_product_astrometry(_row(n_matched=3), "match", GRADES, 4)
    assert not few.passed
    assert "3 stars matched" in few.measured
    nan = check_product_astrometry(_row(offset_mas=math.nan), "match", GRADES, 4)
    assert not nan.passed
    assert "not a number" in nan.measured
    assert "test_sources_on_catalog" in nan.advice


# --- photometry -----------------------------------------------------------------------


def _stars(medians: dict[str, float], n: int = 6, spread: float = 0.002) -> pd.DataFrame:
    """Ratios per exposure: symmetric about each median, scatter ``spread``."""
    offsets = np.linspace(-1.0, 1.0, n)
    offsets *= spread / np.std(offsets, ddof=1)
    rows = [
        {"rootname": name, "ratio": median + offset, "ratio_error": 1e-9, "edge_slope": -0.5}
        for name, median in medians.items()
        for offset in offsets
    ]
    return pd.DataFrame(rows)


def test_noise_floor_is_the_scatter_the_noise_does_not_explain():
    assert noise_floor(_stars({"a": 1.0, "b": 0.99})) == pytest.approx(0.002, rel=1e-6)
    # Noise of 0.004 per star explains a scatter of 0.002: no floor.
    assert noise_floor(_stars({"a": 1.0, "b": 0.99}).assign(ratio_error=0.004)) == 0.0
    # Noise of 0.0015 explains part of it: the rest, in quadrature.
    part = noise_floor(_stars({"a": 1.0, "b": 0.99}).assign(ratio_error=0.0015))
    assert part == pytest.approx(math.sqrt(0.002**2 - 0.0015**2), rel=1e-4)
    assert math.isnan(noise_floor(pd.DataFrame({"rootname": ["a"], "ratio": [1.0]})))


def test_a_faint_stars_noise_is_its_own():
    """Two bright stars agree to 0.001; two faint ones, each 10 times noisier, sit 0.01
    low: weighted by their own noise they do not fail the exposure."""
    rows = [
        {"rootname": name, "ratio": ratio, "ratio_error": error, "edge_slope": 0.0}
        for name in ("a", "b")
        for ratio, error in ((1.001, 0.001), (0.999, 0.001), (0.99, 0.01), (0.99, 0.01))
    ]
    assert all(v.passed for v in check_product_photometry(pd.DataFrame(rows), "match"))


def test_kernel_loss_is_the_first_order_widening():
    stars = _stars({"a": 1.0})
    assert kernel_loss(stars, 0.003, 0.6) == pytest.approx(math.pi * 0.6 * 0.003 * -0.5)
    assert kernel_loss(stars, math.nan, 0.6) == 0.0


def test_product_photometry_passes_at_its_limit_and_fails_just_past():
    loss = -0.001
    error = 0.002 / math.sqrt(6)
    allowed = abs(loss) + CONSISTENCY_SIGMAS * error
    for sign in (-1, 1):
        inside = _stars({"a": 1 + loss + sign * allowed * 0.999, "b": 1 + loss})
        outside = _stars({"a": 1 + loss + sign * allowed * 1.001, "b": 1 + loss})
        within = check_product_photometry(inside, "match", loss)
        past = check_product_photometry(outside, "match", loss)
        assert all(v.passed for v in within)
        assert [v.passed for v in past] == [False, True]


def test_product_photometry_advice_follows_the_pattern():
    one_high = check_product_photometry(_stars({"a": 0.95, "b": 1.0, "c": 1.0}), "match")
    assert "its counts are high against theirs" in one_high[0].advice
    one_low = check_product_photometry(_stars({"a": 1.05, "b": 1.0, "c": 1.0}), "match")
    assert "fainter than the mosaic" in one_low[0].advice
    all_low = check_product_photometry(_stars({"a": 0.95, "b": 0.96, "c": 1.0}), "match")
    assert all("drizzling lost flux" in v.advice for v in all_low if not v.passed)


def test_product_photometry_warns_on_too_few_stars_and_fails_without_scatter(monkeypatch):
    few = check_product_photometry(_stars({"a": 1.0}, n=MIN_STARS - 1), "match")
    assert [(v.passed, v.warning) for v in few] == [(False, True)]
    unmeasured = _stars({"a": 1.0}, n=4)
    unmeasured["ratio"] = math.nan
    assert [v.warning for v in check_product_photometry(unmeasured, "match")] == [True]
    monkeypatch.setattr("skyqa.checks.products.noise_floor", lambda stars: math.nan)
    no_scatter = check_product_photometry(_stars({"a": 1.0}), "match")
    assert [(v.passed, v.warning) for v in no_scatter] == [(False, False)]
    assert "not a number" in no_scatter[0].measured


# --- keywords -------------------------------------------------------------------------


def test_product_keywords_pass_when_carried_and_fail_just_past_the_tolerance():
    assert all(v.passed for v in check_product_keywords(_row(), "match"))
    off = check_product_keywords(_row(PHOTFLAM=str(1.9275e-20 * (1 + 2e-6))), "match")
    assert [v.passed for v in off] == [True, False, True]
    near = check_product_keywords(_row(PHOTFLAM=str(1.9275e-20 * (1 + 0.5e-6))), "match")
    assert all(v.passed for v in near)


def test_product_keywords_fail_when_missing_or_mixed():
    missing = check_product_keywords(_row(PHOTMODE=""), "match")
    assert not missing[0].passed
    assert "(missing)" in missing[0].measured
    mixed = check_product_keywords(_row(inputs_PHOTMODE="WFC3 IR F160W;WFC3 IR F125W"), "m")
    assert not mixed[0].passed
    assert "drizzle each photometric mode apart" in mixed[0].advice
    assert not check_product_keywords(_row(PHOTPLAM="nan-ish"), "m")[2].passed


# --- geometry -------------------------------------------------------------------------


def test_product_geometry_limits_move_the_farthest_pixel_by_the_limit():
    rotation, scale = geometry_limits(_row(radius_arcsec=100.0), 10.0)
    assert math.radians(rotation) * 100e3 == pytest.approx(10.0)
    assert scale * 100e3 == pytest.approx(10.0)


def test_product_geometry_passes_at_its_limit_and_fails_just_past():
    rotation, scale = geometry_limits(_row(), 10.0)
    for turn, stretch, expected in (
        (rotation * 0.999, scale * 0.999, [True, True]),
        (rotation * 1.001, 0.0, [False, True]),
        (-rotation * 1.001, 0.0, [False, True]),
        (0.0, scale * 1.001, [True, False]),
    ):
        row = _row(orientation_deg=(257.0 + turn) % 360, scale_arcsec=0.12825 * (1 + stretch))
        verdicts = check_product_geometry(row, "match", 257.0, 0.12825, 10.0)
        assert [v.passed for v in verdicts] == expected
    # 360 degrees apart is the same orientation (-35 and 325).
    assert check_product_geometry(_row(orientation_deg=325.0), "m", -35.0, 0.12825, 10.0)[0].passed
    assert not check_product_geometry(_row(scale_arcsec=math.nan), "m", 257.0, 0.1, 10.0)[1].passed


def test_product_holes_pass_at_the_aperture_and_fail_just_past():
    assert check_product_holes(_row(largest_hole_pixels=69), "match", 69.1).passed
    assert not check_product_holes(_row(largest_hole_pixels=70), "match", 69.1).passed
    assert not check_product_holes(_row(largest_hole_pixels=math.nan), "match", 69.1).passed


# --- measurements ---------------------------------------------------------------------


def _tan_wcs(scale_arcsec: float = 0.1, rotation_deg: float = 30.0, size: int = 80) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25, 62.0]  # far from the equator: RA spans cos(dec) of its angle
    wcs.wcs.crpix = [size / 2, size / 2]
    turn = math.radians(rotation_deg)
    scale = scale_arcsec / 3600.0
    wcs.wcs.cd = scale * np.array(
        [[-math.cos(turn), math.sin(turn)], [math.sin(turn), math.cos(turn)]]
    )
    return wcs


def test_orientation_and_scale_read_the_cd_matrix():
    orientation, scale = orientation_and_scale(_tan_wcs(0.1, 30.0))
    assert scale == pytest.approx(0.1)
    assert orientation == pytest.approx(30.0)


def test_relative_area_of_a_linear_wcs_is_one_near_its_reference():
    wcs = _tan_wcs()
    assert relative_area(fits.Header(), wcs, [40.0], [40.0])[0] == pytest.approx(1.0, abs=1e-6)
    header = fits.Header({"A_ORDER": 2, "IDCSCALE": 0.05})
    assert relative_area(header, wcs, [40.0], [40.0])[0] == pytest.approx(4.0, rel=1e-6)


def test_aperture_fluxes_recover_a_gaussian_star_and_its_edge_slope():
    wcs = _tan_wcs(0.1, 0.0, size=80)
    yy, xx = np.mgrid[0:80, 0:80].astype(float)
    sigma = 1.5  # pixels
    flux = 1000.0
    image = (
        flux / (2 * math.pi * sigma**2) * np.exp(-((xx - 40) ** 2 + (yy - 40) ** 2) / 2 / sigma**2)
    )
    ra, dec = wcs.all_pix2world([40.0], [40.0], 0)
    fluxes, slopes, errors = aperture_fluxes(
        image + 5.0, np.zeros(image.shape, bool), wcs, ra, dec, np.full(image.shape, 0.1)
    )
    radius = APERTURE_ARCSEC / 0.1 / sigma
    assert fluxes[0] == pytest.approx(flux * (1 - math.exp(-(radius**2) / 2)), rel=2e-3)
    assert slopes[0] < 0
    aperture_pixels = math.pi * (APERTURE_ARCSEC / 0.1) ** 2
    assert errors[0] == pytest.approx(0.1 * math.sqrt(aperture_pixels), rel=0.02)
    flagged = np.zeros(image.shape, bool)
    flagged[40, 41] = True
    assert math.isnan(aperture_fluxes(image, flagged, wcs, ra, dec)[0][0])


def test_drizzle_broadening_from_the_products_header():
    header = fits.Header(
        {"D001KERN": "square", "D001PIXF": 1.0, "D001ISCL": 0.128, "D001SCAL": 0.128}
    )
    assert drizzle_broadening(header) == pytest.approx(2 * 0.128**2 / 12)
    header["D001KERN"] = "point"
    assert drizzle_broadening(header) == pytest.approx(0.128**2 / 12)
    header["D001KERN"] = "mystery"
    assert math.isnan(drizzle_broadening(header))
    assert math.isnan(drizzle_broadening(fits.Header()))


def test_holes_count_zero_weight_inside_the_union_away_from_its_edge():
    union = np.zeros((40, 40), bool)
    union[5:35, 5:35] = True
    weight = union.astype(float)
    weight[15:20, 15:18] = 0.0  # a 15-pixel hole
    weight[5, 5:35] = 0.0  # the union's edge: left out
    assert holes(weight, union)[:3] == (900, 1, 15)
    assert holes(weight, union)[3] == pytest.approx((16.0, 17.0))
    assert holes(union.astype(float), union)[:3] == (900, 0, 0)


def test_one_star_on_a_hit_does_not_pull_its_exposure():
    """mini-sim seed 7: an unflagged hit put four times a faint star's flux in one
    exposure's aperture (ratio 0.61, with the smallest uncertainty of all): left out
    about the median, not kept by a mean it pulls."""
    rows = [
        {"rootname": "a", "ratio": ratio, "ratio_error": error, "edge_slope": 0.0}
        for ratio, error in ((1.0004, 0.0009), (1.0003, 0.0023), (0.612, 0.0005),
                             (1.0, 0.0013), (1.0024, 0.0028), (0.9994, 0.0015))
    ] + [
        {"rootname": "b", "ratio": ratio, "ratio_error": 0.001, "edge_slope": 0.0}
        for ratio in (0.999, 1.001, 1.0, 1.0005)
    ]  # fmt: skip
    verdicts = check_product_photometry(pd.DataFrame(rows), "match")
    assert all(v.passed for v in verdicts)
    assert "of 5 stars" in verdicts[0].measured
