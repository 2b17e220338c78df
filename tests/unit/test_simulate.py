import dataclasses

import numpy as np
import pytest
from astropy.io import fits

from skyqa import simulate, wfc3ir
from skyqa.field import resolve_field

# Keywords AstroDrizzle fails without on WFC3/IR, and those skyqa relies on
# (see docs/replica.md).
REQUIRED_PRIMARY = [
    "TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "EXPTIME", "EXPSTART", "EXPEND", "ROOTNAME",
    "ASN_ID", "TARGNAME", "RA_TARG", "DEC_TARG", "POSTARG1", "POSTARG2", "DATE-OBS",
    "ATODGNA", "ATODGNB", "ATODGNC", "ATODGND", "READNSEA", "READNSEB", "READNSEC", "READNSED",
    "IDCTAB", "NPOLFILE", "D2IMFILE", "DGEOFILE",
]  # fmt: skip
REQUIRED_SCI = [
    "CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1",
    "CD2_2", "A_ORDER", "B_ORDER", "NGOODPIX", "MEANDARK", "EXPNAME", "BUNIT", "WCSNAME",
    "ORIENTAT", "IDCSCALE", "IDCXREF", "IDCYREF", "OCX10", "OCX11", "OCY10", "OCY11",
]  # fmt: skip


@pytest.fixture(scope="module")
def mini():
    field = resolve_field("mini-sim")
    rng = np.random.default_rng(field.synthetic.seed)
    target = field.target
    geometries, errors = simulate.plan_geometry(field.synthetic, target.ra_deg, target.dec_deg, rng)
    scene = simulate.make_scene(field.synthetic, geometries, target.ra_deg, target.dec_deg, rng)
    arrays = simulate.render_exposure(geometries[0], scene, field.synthetic, rng)
    return field, geometries, errors, scene, arrays


def test_tangent_offsets_round_trip():
    east = np.array([0.0, 100.0, -250.0, 3.0])
    north = np.array([0.0, -40.0, 300.0, 7.0])
    ra, dec = simulate.from_tangent_offsets(east, north, 85.25, -2.45)
    back_east, back_north = simulate.tangent_offsets(ra, dec, 85.25, -2.45)
    np.testing.assert_allclose(back_east, east, atol=1e-9)
    np.testing.assert_allclose(back_north, north, atol=1e-9)


@pytest.mark.parametrize("orientat", [-55.35, 0.0, 166.66, 257.0])
def test_cd_for_orientat_points_y_at_orientat(orientat):
    cd = wfc3ir.cd_for_orientat(orientat)
    angle = wfc3ir.position_angle_of_y(cd)
    assert (angle - orientat + 180) % 360 - 180 == pytest.approx(0, abs=1e-9)
    # Turning keeps the real pixel shape: same determinant and axis lengths.
    assert np.linalg.det(cd) == pytest.approx(np.linalg.det(wfc3ir.REFERENCE_CD), rel=1e-12)


def test_reference_pixel_scale_is_wfc3_ir():
    x_scale = np.hypot(*wfc3ir.REFERENCE_CD[:, 0]) * 3600
    y_scale = np.hypot(*wfc3ir.REFERENCE_CD[:, 1]) * 3600
    assert x_scale == pytest.approx(0.1354, abs=1e-3)
    assert y_scale == pytest.approx(0.1210, abs=1e-3)


def test_pointing_errors_stay_within_the_spec(mini):
    field, geometries, errors, _, _ = mini
    spec = field.synthetic
    assert [error.asn_id for error in errors] == [
        "ISQA01030",
        "ISQA02030",
        "ISQA03030",
        "ISQA04030",
    ]
    for error in errors:
        assert np.hypot(error.shift_east_arcsec, error.shift_north_arcsec) <= (
            spec.pointing_shift_max_arcsec
        )
        assert abs(error.rotation_deg) <= spec.pointing_rotation_max_deg
        assert abs(error.scale) <= spec.pointing_scale_max
    header_offsets = [simulate.tangent_offsets(*g.header_crval, *g.true_crval) for g in geometries]
    assert max(np.hypot(*offset) for offset in header_offsets) > 0.05


def test_postarg_moves_the_pointing_along_the_detector_axes(mini):
    geometries = mini[1]
    first, second = geometries[0], geometries[1]  # same visit, POSTARG2 differs by 2"
    east, north = simulate.tangent_offsets(*second.true_crval, *first.true_crval)
    assert np.hypot(east, north) == pytest.approx(2.0, abs=1e-6)


def test_observation_dates_follow_the_plan(mini):
    field, geometries, _, _, _ = mini
    assert [g.date_obs for g in geometries] == [e.date_obs for e in field.synthetic.exposures]


def test_same_seed_gives_the_same_exposure(mini):
    field, geometries, _, _, arrays = mini
    rng = np.random.default_rng(field.synthetic.seed)
    target = field.target
    again_geometry, _ = simulate.plan_geometry(field.synthetic, target.ra_deg, target.dec_deg, rng)
    again_scene = simulate.make_scene(
        field.synthetic, again_geometry, target.ra_deg, target.dec_deg, rng
    )
    again = simulate.render_exposure(again_geometry[0], again_scene, field.synthetic, rng)
    assert again_geometry == geometries
    np.testing.assert_array_equal(again.sci, arrays.sci)


def test_exposure_carries_the_injected_pedestal_and_flags(mini):
    _, geometries, _, scene, arrays = mini
    pedestal = scene.pedestal_e_s[geometries[0].rootname]
    clean = arrays.dq == 0
    # The clipped sky sits at the pedestal plus the nebula, never below the pedestal.
    assert np.median(arrays.sci[clean]) > pedestal - 0.01
    assert ((arrays.dq & wfc3ir.DQ_HOT) > 0).any()
    assert ((arrays.dq & wfc3ir.DQ_BAD_DETECTOR) > 0).any()
    # Hot pixels (16) carry valid data, dead ones (4) do not.
    hot = (arrays.dq & wfc3ir.DQ_HOT) > 0
    dead = (arrays.dq & wfc3ir.DQ_BAD_DETECTOR) > 0
    assert np.median(arrays.sci[hot]) == pytest.approx(np.median(arrays.sci[clean]), abs=0.2)
    assert np.median(arrays.sci[dead]) < 0.2 * np.median(arrays.sci[clean])
    assert arrays.n_stars > 10


def test_flt_looks_like_a_real_wfc3_ir_flt(mini):
    field, geometries, _, _, arrays = mini
    hdul = simulate.build_flt(geometries[0], arrays, field.synthetic, field)
    assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "SAMP", "TIME"]
    assert all(hdu.header["EXTVER"] == 1 for hdu in hdul[1:])
    primary, science = hdul[0].header, hdul[1].header
    assert [key for key in REQUIRED_PRIMARY if key not in primary] == []
    assert [key for key in REQUIRED_SCI if key not in science] == []
    assert (primary["INSTRUME"], primary["DETECTOR"], primary["FILTER"]) == ("WFC3", "IR", "F160W")
    assert primary["IDCTAB"] == "N/A"
    assert science["BUNIT"] == hdul["ERR"].header["BUNIT"] == "ELECTRONS/S"
    assert science["CTYPE1"] == "RA---TAN-SIP"
    assert "PC1_1" not in science  # AstroDrizzle needs CD keywords
    assert hdul["SCI"].data.dtype == np.float32
    assert hdul["DQ"].data.dtype == np.int16


def test_real_keywords_match_the_reference_headers(mini):
    """Where the real headers are at hand (../shared), our FLT has their keyword set."""
    from pathlib import Path

    reference = (
        Path(__file__).parents[3] / "shared/reference/wfc3ir_headers/ib3y01c6q_flt_11x11.fits"
    )
    if not reference.is_file():
        pytest.skip("the shared reference headers are not beside this checkout")
    field, geometries, _, _, arrays = mini
    ours = simulate.build_flt(geometries[0], arrays, field.synthetic, field)
    with fits.open(reference) as real:
        needed = [k for k in REQUIRED_PRIMARY if k in real[0].header]
        assert needed == REQUIRED_PRIMARY
        assert [hdu.name for hdu in real] == [hdu.name for hdu in ours]
        assert real["SCI"].header["BUNIT"] == ours["SCI"].header["BUNIT"]


def _epoch(geometries):
    return simulate.decimal_year(float(np.mean([g.expstart_mjd for g in geometries])))


def test_truth_round_trips(tmp_path, mini):
    import json

    field, geometries, errors, scene, arrays = mini
    catalog = simulate.reference_catalog(scene, field.synthetic, _epoch(geometries))
    document = simulate._truth_document(
        field,
        geometries,
        errors,
        scene,
        {(g.rootname, g.extver): 1 for g in geometries},
        {(g.rootname, g.extver): arrays.hits for g in geometries},
        catalog,
    )
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(document))
    truth = simulate.load_truth(path)
    assert truth.exposures == tuple(geometries)
    assert truth.pointing_errors == tuple(errors)
    assert truth.pedestals_e_s == scene.pedestal_e_s
    assert truth.distortion == scene.distortion
    assert document["catalog"]["two_parameter_stars"] == int(catalog["two_parameter"].sum())


def test_catalog_is_the_bright_stars_with_gaia_like_errors(mini):
    field, geometries, _, scene, _ = mini
    spec = field.synthetic
    catalog = simulate.reference_catalog(scene, spec, _epoch(geometries))
    bright = scene.stars[scene.stars["gaia_g"] < spec.catalog_mag_limit]
    assert 0 < len(catalog) < len(scene.stars)
    assert catalog["mag"].max() < spec.catalog_mag_limit
    # Not the true positions: moved by the catalog's error, by at most a few tens of mas.
    east, north = simulate.tangent_offsets(
        catalog["ra"], catalog["dec"], scene.ra_targ, scene.dec_targ
    )
    true_east, true_north = simulate.tangent_offsets(
        bright["ra"], bright["dec"], scene.ra_targ, scene.dec_targ
    )
    moved_mas = 1000 * np.hypot(east - true_east, north - true_north)
    np.testing.assert_allclose(moved_mas, catalog["error_mas"], atol=1e-3)
    assert 0 < np.median(moved_mas) < 30
    # 2-parameter stars (no proper motion) are faint and far off: motion x 3.2 years.
    two = np.asarray(catalog["two_parameter"])
    assert two.any()
    assert (catalog["mag"][two] > spec.two_parameter_mag_limit).all()
    assert np.median(moved_mas[two]) > 2 * np.median(moved_mas[~two])


def test_a_perfect_catalog_is_the_true_positions(mini):
    field, geometries, _, scene, _ = mini
    spec = dataclasses.replace(
        field.synthetic, catalog_error_scale=0.0, proper_motion_dispersion_mas_yr=0.0
    )
    stars = scene.stars.copy()
    stars["pm_east_mas_yr"] = 0.0
    stars["pm_north_mas_yr"] = 0.0
    catalog = simulate.reference_catalog(
        dataclasses.replace(scene, stars=stars), spec, _epoch(geometries)
    )
    assert np.max(catalog["error_mas"]) == 0.0


def test_distortion_residual_has_the_spec_rms_and_is_smooth(mini):
    field = mini[0]
    terms = simulate.distortion_terms(field.synthetic)
    grid = np.linspace(0, wfc3ir.FULL_FRAME_PIX, 101)
    dx, dy = simulate.distortion_residual(*np.meshgrid(grid, grid), terms)
    rms = np.sqrt(np.mean(dx**2 + dy**2))
    assert rms == pytest.approx(field.synthetic.distortion_residual_pix, rel=0.05)
    # Smooth: neighbouring samples (10 pixels apart) differ by far less than the field.
    assert np.max(np.abs(np.diff(dx, axis=1))) < 0.2 * np.max(np.abs(dx))
    off = dataclasses.replace(field.synthetic, distortion_residual_pix=0.0)
    assert simulate.distortion_terms(off) == []


def test_each_exposure_has_its_own_pointing_jitter(mini):
    field, geometries, _, _, _ = mini
    jitter = np.array([g.jitter_mas for g in geometries])
    assert np.all(np.abs(jitter) < 5 * field.synthetic.exposure_jitter_mas)
    assert len({tuple(j) for j in jitter}) == len(geometries)
    still = dataclasses.replace(field.synthetic, exposure_jitter_mas=0.0)
    calm, _ = simulate.plan_geometry(still, 85.25, -2.45, np.random.default_rng(0))
    assert all(g.jitter_mas == (0.0, 0.0) for g in calm)


def test_unflagged_hits_are_in_the_data_with_dq_zero(mini):
    field, _, _, _, arrays = mini
    spec = field.synthetic
    kinds = [hit["kind"] for hit in arrays.hits]
    assert kinds.count("cosmic ray") == spec.unflagged_cosmic_rays
    assert kinds.count("snowball") == spec.unflagged_snowballs
    for hit in arrays.hits:
        x, y = round(hit["x"]), round(hit["y"])
        fixed = wfc3ir.DQ_HOT | wfc3ir.DQ_BAD_DETECTOR | wfc3ir.DQ_BLOB
        if 0 <= x < arrays.sci.shape[1] and 0 <= y < arrays.sci.shape[0]:
            assert arrays.dq[y, x] & ~fixed == 0  # nothing flags the hit itself


def test_plan_refuses_dates_a_visit_cannot_have(mini):
    from skyqa.errors import FieldSpecError

    field = mini[0]
    exposures = list(field.synthetic.exposures)
    exposures[1] = dataclasses.replace(exposures[1], date_obs="2013-01-01")
    spec = dataclasses.replace(field.synthetic, exposures=tuple(exposures))
    with pytest.raises(FieldSpecError, match="isqa01a2q: date_obs 2013-01-01 cannot follow"):
        simulate.plan_geometry(spec, 85.25, -2.45, np.random.default_rng(0))


def test_detector_defects_are_fixed_and_subarrays_are_cuts_of_the_full_frame():
    full_crpix, _ = simulate.geometry._subarray_geometry(wfc3ir.FULL_FRAME_PIX)
    sub_crpix, ltv = simulate.geometry._subarray_geometry(256)
    full = simulate.render._detector_defects(wfc3ir.FULL_FRAME_PIX, full_crpix, seed=7)
    sub = simulate.render._detector_defects(256, sub_crpix, seed=7)
    start = int(-ltv[0])
    assert full["blob"].any()  # IR blobs, flagged 512
    np.testing.assert_array_equal(
        sub["blob"], full["blob"][start : start + 256, start : start + 256]
    )
    np.testing.assert_array_equal(
        sub["hot_draw"], full["hot_draw"][start : start + 256, start : start + 256]
    )
