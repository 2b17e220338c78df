"""The checks and measurements of issue 17, pinned at their edges: the stars on the
catalog (photutils, not TweakReg), the mosaics' pixels against their recorded sky, and
the pedestal tolerance derived from the seam threshold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from skyqa import pixels, sources
from skyqa.checks.alignment import check_sources_on_catalog
from skyqa.checks.limits import AstrometryGrades
from skyqa.checks.mosaics import check_mosaic_sky
from skyqa.checks.sky import check_pedestals_recovered, pedestal_tolerances
from skyqa.verdict import failures

NAN = math.nan


# --- stars on the catalog -----------------------------------------------------------------


def _offsets(**changes):
    row = {
        "visit": "v1",
        "rootname": "exp1",
        "n_found": 30,
        "n_matched": 12,
        "east_mas": 3.0,
        "north_mas": 4.0,
        "offset_mas": 5.0,
        "uncertainty_mas": 2.0,
        "scatter_mas": 7.0,
    }
    row.update(changes)
    return pd.DataFrame([row])


HAP = AstrometryGrades(good_mas=10.0, accepted_mas=20.0)


def test_sources_offset_graded_at_both_hap_limits():
    (good,) = check_sources_on_catalog(_offsets(offset_mas=10.0), HAP, 4)
    assert good.passed
    (warned,) = check_sources_on_catalog(_offsets(offset_mas=10.01), HAP, 4)
    assert warned.warning
    assert failures([warned]) == []
    assert warned.check == "Aligned FLT's own stars sit on the catalog"
    assert warned.subject == "exposure exp1 (visit v1, 12 of 30 stars matched)"
    assert warned.measured.startswith("mean offset 10.0 mas (east +3.0, north +4.0;")
    assert warned.measured.endswith(
        "HAP category 3 (valid, RMS >= 10.0 mas), within its accepted 20.0 mas"
    )
    assert warned.threshold.startswith("<= 10.0 mas (HAP good, category 1)")
    assert warned.item == "v1"
    assert warned.ratio() == pytest.approx(1.001)
    (at_accepted,) = check_sources_on_catalog(_offsets(offset_mas=20.0), HAP, 4)
    assert at_accepted.warning
    (failed,) = failures(check_sources_on_catalog(_offsets(offset_mas=20.01), HAP, 4))
    assert failed.measured.endswith("beyond HAP's accepted 20.0 mas")


def test_sources_too_few_matches_fail_whatever_the_offset():
    assert not failures(check_sources_on_catalog(_offsets(n_matched=4), HAP, 4))
    (failed,) = failures(check_sources_on_catalog(_offsets(n_matched=3, offset_mas=0.1), HAP, 4))
    assert failed.measured == '3 matched stars within 0.3" (of 30 found)'
    assert failed.threshold == ">= 4 matched stars"
    assert failed.upper is False


@pytest.mark.parametrize("column", ["offset_mas", "uncertainty_mas"])
def test_sources_nan_fails(column):
    (failed,) = failures(check_sources_on_catalog(_offsets(**{column: NAN}), HAP, 4))
    assert "not a number" in failed.measured


def test_sources_duplicate_exposure_fails():
    table = pd.concat([_offsets(), _offsets()])
    assert any(
        v.check == "One source measurement per FLT"
        for v in failures(check_sources_on_catalog(table, HAP, 4))
    )


def test_match_offsets_keeps_the_nearest_source_per_star_within_the_radius():
    dec0 = -2.45
    cos = math.cos(math.radians(dec0))
    mas = 1 / 3.6e6
    cat_ra, cat_dec = np.array([85.0, 85.001]), np.array([dec0, dec0])
    ra = np.array([85.0 + 20 * mas / cos, 85.0 + 50 * mas / cos, 85.001, 85.01])
    dec = np.array([dec0 + 10 * mas, dec0, dec0 + 299 * mas, dec0])
    east, north = sources.match_offsets(ra, dec, cat_ra, cat_dec)
    np.testing.assert_allclose(east, [20.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(north, [10.0, 299.0], atol=1e-3)


def test_clipped_offset_drops_an_outlier_and_reports_the_uncertainty():
    rng = np.random.default_rng(3)
    east = np.append(rng.normal(10.0, 2.0, 40), 200.0)
    north = np.append(rng.normal(-5.0, 2.0, 40), 0.0)
    result = sources.clipped_offset(east, north)
    assert 37 <= result["n_matched"] <= 40  # the outlier goes (3-sigma clipping may take a tail)
    assert abs(result["east_mas"] - 10.0) < 1.0
    assert result["east_mas"] == pytest.approx(10.0, abs=1.0)
    assert result["north_mas"] == pytest.approx(-5.0, abs=1.0)
    expected = result["scatter_mas"] / math.sqrt(result["n_matched"])
    assert result["uncertainty_mas"] == pytest.approx(expected)
    assert math.isnan(sources.clipped_offset(np.empty(0), np.empty(0))["offset_mas"])


def test_find_sources_centres_stars_to_a_few_hundredths_of_a_pixel():
    rng = np.random.default_rng(5)
    size = 80
    yy, xx = np.mgrid[0:size, 0:size]
    grid = np.array([(x, y) for x in (12, 30, 48, 66) for y in (12, 40, 66)], dtype=float)
    truth = grid + rng.uniform(-0.5, 0.5, size=grid.shape)  # apart: no blends
    image = rng.normal(0.0, 1.0, (size, size)) + 0.01 * xx  # a smooth gradient cancels
    for x, y in truth:
        image += 400 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 0.55**2))
    x, y, found = sources.find_sources(image, np.zeros_like(image, bool), 1.0)
    assert found == len(truth)
    assert len(x) == len(truth)
    distance = np.hypot(x[:, None] - truth[None, :, 0], y[:, None] - truth[None, :, 1])
    assert np.max(distance.min(axis=1)) < 0.05


# --- the mosaics' pixels against their recorded sky ----------------------------------------


def _regions(errors, noise=0.05):
    """The four methods' pairs over one region; ``errors``: extra sky each method's pixels
    had subtracted beyond its record (so mosaic_b - mosaic_a = predicted + e_a - e_b)."""
    methods = ["localmin", "match", "globalmin+match", "globalmin"]
    rows = []
    for i, a in enumerate(methods):
        for b in methods[i + 1 :]:
            predicted = 0.1 * (i + 1)
            rows.append(
                {
                    "method_a": a,
                    "method_b": b,
                    "region": "e1+e2",
                    "n_pixels": 1000,
                    "measured_e_s": predicted + errors.get(a, 0.0) - errors.get(b, 0.0),
                    "predicted_e_s": predicted,
                    "noise_e_s": noise,
                }
            )
    return pd.DataFrame(rows)


def test_mosaic_sky_at_and_just_past_the_threshold():
    limit = 0.1 * 0.05
    assert not failures(check_mosaic_sky(_regions({"match": 0.999 * limit}), "match", 0.1))
    (failed,) = failures(check_mosaic_sky(_regions({"match": 1.01 * limit}), "match", 0.1))
    assert failed.check == "Mosaic pixels hold the recorded sky"
    assert failed.subject == "region covered by e1+e2 (match mosaic, 1000 pixels)"
    assert failed.threshold == "|median difference| <= 0.1 x pixel noise (0.0500 e-/s)"
    assert failed.item == "match"
    assert failed.value == pytest.approx(-0.101)  # the match mosaic has too little sky left


def test_mosaic_sky_exactly_at_the_threshold_passes_and_zero_noise_fails():
    # Exact in binary: an excess of 0.125 against 0.125 x a pixel noise of 1.
    at = _regions({"match": 0.125}, noise=1.0)
    assert not failures(check_mosaic_sky(at, "match", 0.125))
    assert failures(check_mosaic_sky(_regions({"match": 0.126}, noise=1.0), "match", 0.125))
    (failed,) = failures(check_mosaic_sky(_regions({}, noise=0.0), "match", 0.1))
    assert math.isnan(failed.value)
    assert "not a number" in failed.measured


def test_mosaic_sky_majority_points_at_the_wrong_method():
    table = _regions({"match": 0.02})  # match's pixels are off; the three others agree
    assert failures(check_mosaic_sky(table, "match", 0.1))
    for method in ("localmin", "globalmin+match", "globalmin"):
        assert not failures(check_mosaic_sky(table, method, 0.1)), method


def test_mosaic_sky_nan_and_no_region_fail():
    table = _regions({})
    table["noise_e_s"] = NAN
    (failed,) = failures(check_mosaic_sky(table, "match", 0.1))
    assert "not a number" in failed.measured
    (empty,) = check_mosaic_sky(table.iloc[0:0], "match", 0.1)
    assert not empty.passed
    assert empty.measured.startswith("no region covered by one known set of exposures")


def _write_mosaic(path, data, wcs_header):
    fits.PrimaryHDU(data.astype(np.float32), header=wcs_header).writeto(path)


def _flt(path, crval, exptime=500.0):
    from skyqa import wfc3ir
    from skyqa.simulate import sip_wcs_header

    header = sip_wcs_header(crval, wfc3ir.cd_for_orientat(0.0), (32.5, 32.5), 64)
    primary = fits.Header({"ROOTNAME": path.name[:9], "EXPTIME": exptime})
    sci = fits.ImageHDU(np.zeros((64, 64), np.float32), header=header, name="SCI")
    err = fits.ImageHDU(np.full((64, 64), 0.04, np.float32), name="ERR")
    fits.HDUList([fits.PrimaryHDU(header=primary), sci, err]).writeto(path)


def _two_exposures(tmp_path, crpix_x: float, apart: float):
    """An output grid (64 rows, reference pixel ``crpix_x``), two 64-pixel exposures
    ``apart`` output pixels apart east-west about it, and their localmin and match skies
    (dicts, and as MDRIZSKY tables)."""
    from astropy.wcs import WCS

    scale = 0.1283 / 3600
    out = WCS(naxis=2)
    out.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    out.wcs.crval = [85.0, -2.45]
    out.wcs.crpix = [crpix_x, 32.5]
    out.wcs.cd = [[-scale, 0], [0, scale]]
    flts = [tmp_path / "exp000001_flt.fits", tmp_path / "exp000002_flt.fits"]
    half = apart / 2 * scale / math.cos(math.radians(-2.45))
    _flt(flts[0], (85.0 + half, -2.45))
    _flt(flts[1], (85.0 - half, -2.45))
    skies = {
        "localmin": {"exp000001": 1.00, "exp000002": 1.20},
        "match": {"exp000001": 0.00, "exp000002": 0.10},
    }
    mdrizsky = {
        method: pd.DataFrame({"rootname": list(values), "mdrizsky_e_s": list(values.values())})
        for method, values in skies.items()
    }
    return out, flts, skies, mdrizsky


def test_sky_regions_measure_the_recorded_sky_difference_region_by_region(tmp_path):
    """Two exposures half overlapping, two methods: each region's mosaic difference is the
    (exposure-time weighted) difference of the recorded skies, and a mosaic that had
    another sky subtracted shows it."""
    from astropy.wcs import WCS

    # exp1 covers output x 16..80 - 32 px = -16..48 -> 0..48; exp2 is 32 pixels east of it.
    out, flts, skies, mdrizsky = _two_exposures(tmp_path, 48.5, 32)
    masks = {}
    for path in flts:
        header = fits.getheader(path, ("SCI", 1))
        footprint = pixels._footprint(header, WCS(header), out, (64, 96), 1)
        masks[path.name[:9]] = footprint.full((64, 96))
    mosaics = {}
    for method, values in skies.items():
        # The sky each exposure had subtracted, averaged where both cover (equal exptime).
        stack = np.zeros((64, 96))
        count = np.zeros((64, 96))
        for name, mask in masks.items():
            stack[mask] -= values[name]
            count[mask] += 1
        data = np.where(count > 0, stack / np.maximum(count, 1), 0.0)
        if method == "match":  # its pixels had 0.02 more sky removed where exp1 alone is
            data[masks["exp000001"] & ~masks["exp000002"]] -= 0.02
        sci, wht = tmp_path / f"{method}_sci.fits", tmp_path / f"{method}_wht.fits"
        _write_mosaic(sci, data, out.to_header())
        _write_mosaic(wht, count, out.to_header())
        mosaics[method] = (sci, wht)
    table = pixels.sky_regions(mosaics, mdrizsky, flts, min_pixels=100, step=1)
    by_region = table.set_index("region")
    assert set(by_region.index) == {"exp000001", "exp000002", "exp000001+exp000002"}
    single = by_region.loc["exp000001"]
    assert single.predicted_e_s == pytest.approx(1.00 - 0.00)
    assert single.measured_e_s == pytest.approx(1.00 - 0.02, abs=1e-6)
    both = by_region.loc["exp000001+exp000002"]
    assert both.predicted_e_s == pytest.approx(((1.0 - 0.0) + (1.2 - 0.1)) / 2)
    assert both.measured_e_s == pytest.approx(both.predicted_e_s, abs=1e-6)
    assert single.noise_e_s == pytest.approx(0.04)
    (failed,) = failures(check_mosaic_sky(table, "match", 0.1))
    assert failed.subject.startswith("region covered by exp000001 (match mosaic,")


def _tiled_field(tmp_path, columns: int, rows: int, spacing: int):
    """``columns`` x ``rows`` 64-pixel exposures ``spacing`` output pixels apart, drizzled
    by hand (the mean of the skies over each pixel) with localmin's and match's skies;
    match's pixels are 0.02 e-/s off where the first exposure is alone."""
    from astropy.wcs import WCS

    scale = 0.1283 / 3600
    shape = (rows * spacing + 64, columns * spacing + 64)
    out = WCS(naxis=2)
    out.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    out.wcs.crval = [85.0, -2.45]
    out.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    out.wcs.cd = [[-scale, 0], [0, scale]]
    flts, skies = [], {"localmin": {}, "match": {}}
    for index in range(columns * rows):
        row, column = divmod(index, columns)
        # The exposure's centre, in output pixels from the grid's centre (east is -x).
        dx = column * spacing + 32 - shape[1] / 2
        dy = row * spacing + 32 - shape[0] / 2
        crval = (85.0 - dx * scale / math.cos(math.radians(-2.45)), -2.45 + dy * scale)
        path = tmp_path / f"e{index:05d}qq_flt.fits"
        _flt(path, crval)
        flts.append(path)
        skies["localmin"][path.name[:9]] = 1.0 + 0.01 * index
        skies["match"][path.name[:9]] = 0.001 * index
    masks = {}
    for path in flts:
        header = fits.getheader(path, ("SCI", 1))
        footprint = pixels._footprint(header, WCS(header), out, shape, 1)
        masks[path.name[:9]] = footprint.full(shape)
    mosaics = {}
    for method, values in skies.items():
        stack, count = np.zeros(shape), np.zeros(shape)
        for name, mask in masks.items():
            stack[mask] -= values[name]
            count[mask] += 1
        data = np.where(count > 0, stack / np.maximum(count, 1), 0.0)
        if method == "match":
            first, *others = masks.values()
            data[first & ~np.logical_or.reduce(others)] -= 0.02
        sci, wht = tmp_path / f"{method}_sci.fits", tmp_path / f"{method}_wht.fits"
        _write_mosaic(sci, data, out.to_header())
        _write_mosaic(wht, count, out.to_header())
        mosaics[method] = (sci, wht)
    mdrizsky = {
        method: pd.DataFrame({"rootname": list(values), "mdrizsky_e_s": list(values.values())})
        for method, values in skies.items()
    }
    return mosaics, mdrizsky, flts, skies


def test_sky_regions_are_the_same_read_in_strips_of_any_height(tmp_path, monkeypatch):
    """The mosaics are read a strip of rows at a time; a region crossing strips is one
    region, with the same samples, whatever the strips' height."""
    mosaics, mdrizsky, flts, _ = _tiled_field(tmp_path, 3, 2, 48)
    whole = pixels.sky_regions(mosaics, mdrizsky, flts, min_pixels=50, step=1)
    monkeypatch.setattr(pixels, "STRIP_ROWS", 7)
    monkeypatch.setattr(pixels, "REGION_SAMPLES", 300)
    strips = pixels.sky_regions(mosaics, mdrizsky, flts, min_pixels=50, step=1)
    monkeypatch.setattr(pixels, "STRIP_ROWS", 10_000)
    one = pixels.sky_regions(mosaics, mdrizsky, flts, min_pixels=50, step=1)
    pd.testing.assert_frame_equal(strips, one)
    assert len(whole) == len(strips) > 6  # singles, pairs, the fours where tiles meet
    pd.testing.assert_frame_equal(whole[["region", "n_pixels"]], strips[["region", "n_pixels"]])


def test_sky_regions_tell_apart_more_exposures_than_a_64_bit_mask(tmp_path):
    """70 exposures (a bit per exposure no longer fits one integer): every region is
    named by the exposures over it and predicts the mean of their recorded skies."""
    mosaics, mdrizsky, flts, skies = _tiled_field(tmp_path, 10, 7, 44)
    table = pixels.sky_regions(mosaics, mdrizsky, flts, min_pixels=30, step=1)
    names = [path.name[:9] for path in flts]
    singles = table[~table.region.str.contains("+", regex=False)]
    assert set(singles.region) == set(names)  # each exposure has a part of its own
    assert table.region.str.count("[+]").max() == 3  # four exposures where four tiles meet
    for row in table.itertuples():
        members = row.region.split("+")
        assert members == sorted(members, key=names.index)
        expected = np.mean([skies["localmin"][n] - skies["match"][n] for n in members])
        # Weighted by each detector's pixel area there (the hand-made mosaic is a plain mean).
        assert row.predicted_e_s == pytest.approx(expected, abs=2e-4), row.region
        off = -0.02 if row.region == names[0] else 0.0  # match took 0.02 more there
        assert row.measured_e_s == pytest.approx(expected + off, abs=1e-6), row.region


def test_sky_regions_need_two_methods_on_one_grid(tmp_path):
    assert pixels.sky_regions({"match": (None, None)}, {}, [], 10).empty


# --- the pedestal tolerance, from the seam threshold ----------------------------------------


def test_pedestal_tolerance_is_half_the_seam_threshold_of_the_exposure_noise():
    pairs = pd.DataFrame(
        {
            "exposure_a": ["a", "a", "b"],
            "exposure_b": ["b", "c", "c"],
            "pixel_noise_e_s": [0.04, 0.06, 0.05],
        }
    )
    tolerances = pedestal_tolerances(pairs, 0.1)
    assert tolerances == pytest.approx({"a": 0.0025, "b": 0.00225, "c": 0.00275})


def test_pedestal_check_uses_each_exposures_own_tolerance():
    table = pd.DataFrame({"rootname": ["a", "b"], "mdrizsky_e_s": [0.003, -0.003]})
    pedestals = {"a": 0.0, "b": 0.0}
    assert not failures(check_pedestals_recovered(table, pedestals, {"a": 0.003, "b": 0.003}, "m"))
    (failed,) = failures(
        check_pedestals_recovered(table, pedestals, {"a": 0.003, "b": 0.00299}, "m")
    )
    assert failed.subject == "exposure b (m)"
    assert failed.threshold == "|residual| <= 0.00299 e-/s"
    (unknown,) = failures(check_pedestals_recovered(table, pedestals, {"a": 0.003}, "m"))
    assert "pixel noise is unknown" in unknown.measured


def test_sky_regions_leave_out_the_samples_beside_a_partners_edge(tmp_path):
    """Drizzle puts an exposure's pixels up to its outline. A sample just outside a dither
    partner's eroded footprint still holds the partner's pixels: on a sliver a few
    samples wide, most of a "one exposure" region would be such samples (0.04 e-/s off
    on acs-mini-sim), so samples near any exposure's edge belong to no region."""
    from astropy.wcs import WCS
    from scipy import ndimage

    # exp2 sits 5 output pixels east of exp1 (east is -x): exp1 alone covers a sliver.
    out, flts, skies, mdrizsky = _two_exposures(tmp_path, 40.5, 5)
    masks = {}
    for path in flts:
        header = fits.getheader(path, ("SCI", 1))
        eroded = pixels._footprint(header, WCS(header), out, (64, 80), 1).full((64, 80))
        masks[path.name[:9]] = ndimage.binary_dilation(eroded, iterations=pixels.EDGE_MARGIN)
    mosaics = {}
    for method, values in skies.items():
        stack, count = np.zeros((64, 80)), np.zeros((64, 80))
        for name, mask in masks.items():  # drizzled up to each outline
            stack[mask] -= values[name]
            count[mask] += 1
        data = np.where(count > 0, stack / np.maximum(count, 1), 0.0)
        sci, wht = tmp_path / f"{method}_sci.fits", tmp_path / f"{method}_wht.fits"
        _write_mosaic(sci, data, out.to_header())
        _write_mosaic(wht, count, out.to_header())
        mosaics[method] = (sci, wht)
    table = pixels.sky_regions(mosaics, mdrizsky, flts, min_pixels=20, step=1)
    assert "exp000001+exp000002" in set(table.region)
    for row in table.itertuples():
        assert row.measured_e_s == pytest.approx(row.predicted_e_s, abs=1e-6), row.region
    assert not failures(check_mosaic_sky(table, "match", 0.1))
