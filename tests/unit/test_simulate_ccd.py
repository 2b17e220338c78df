"""The two-chip CCD replicas (WFC3/UVIS, ACS/WFC): chips in file order with the gap
between them, pixels in electrons with cosmic rays, and FLC files drizzlepac reads."""

from __future__ import annotations

import numpy as np
import pytest

from skyqa import simulate
from skyqa.detectors import ACS_WFC, WFC3_UVIS
from skyqa.field import resolve_field
from skyqa.simulate.ccd import DQ_BAD_DETECTOR, DQ_HOT, DQ_WARM, build_flc, render_chip
from skyqa.simulate.geometry import chip_layout, tangent_offsets


@pytest.fixture(scope="module")
def acs():
    field = resolve_field("acs-mini-sim")
    rng = np.random.default_rng(field.synthetic.seed)
    target = field.target
    geometries, _ = simulate.plan_geometry(
        field.synthetic, target.ra_deg, target.dec_deg, rng, field.detector_model
    )
    scene = simulate.make_scene(field.synthetic, geometries, target.ra_deg, target.dec_deg, rng)
    return field, geometries, scene, rng


def test_each_exposure_has_chip_2_then_chip_1(acs):
    field, geometries, _, _ = acs
    assert len(geometries) == 2 * len(field.synthetic.exposures)
    first, second = geometries[:2]
    assert first.rootname == second.rootname
    assert [(g.extver, g.chip) for g in (first, second)] == [(1, 2), (2, 1)]
    assert first.rows_columns == second.rows_columns == (256, 512)


def test_the_chips_sit_a_chip_and_a_gap_apart_on_the_sky(acs):
    _, geometries, _, _ = acs
    below, above = geometries[:2]
    rows = below.rows_columns[0]
    gap = round(ACS_WFC.chip_gap_rows * ACS_WFC.plate_scale_arcsec / 0.1)
    assert gap == 25  # 50 rows of 0.05" at the replica's 0.1"
    east, north = tangent_offsets(*below.true_crval, *above.true_crval)
    assert np.hypot(east, north) == pytest.approx((rows + gap) * 0.1, abs=1e-6)
    # [SCI,1] (chip 2) lies below [SCI,2] (chip 1), along -y of the detector.
    x, y = above.wcs("true").all_world2pix([below.true_crval[0]], [below.true_crval[1]], 1)
    # (to 0.01 pixel: the chips are placed in the target's tangent plane, each projects
    # from its own)
    assert x[0] == pytest.approx(above.crpix[0], abs=0.01)
    assert y[0] == pytest.approx(above.crpix[1] - (rows + gap), abs=0.01)


def test_a_visits_pointing_error_moves_both_chips_together(acs):
    _, geometries, _, _ = acs
    below, above = geometries[:2]
    true_sep = tangent_offsets(*below.true_crval, *above.true_crval)
    header_sep = tangent_offsets(*below.header_crval, *above.header_crval)
    # Same separation to the visit's scale error (2e-4) and rotation (0.02 deg) over 28".
    assert np.hypot(*np.subtract(true_sep, header_sep)) < 0.02
    assert below.header_cd == above.header_cd


def test_the_uvis_layout_is_the_real_chip_and_gap_at_full_scale():
    spec = resolve_field("m16-uvis-sim").synthetic
    import dataclasses

    full = dataclasses.replace(spec, chip_shape=(0, 0), pixel_scale_arcsec=0.0)
    below, above = chip_layout(full, WFC3_UVIS)
    assert below.rows_columns == (2051, 4096)
    assert above.offset_pix - below.offset_pix == 2051 + 31
    replica = chip_layout(spec, WFC3_UVIS)
    assert replica[1].offset_pix - replica[0].offset_pix == 512 + 8  # 31 rows of 0.0396"


def test_a_chip_is_in_electrons_with_cosmic_rays(acs):
    field, geometries, scene, rng = acs
    spec = field.synthetic
    chip = render_chip(geometries[0], scene, spec, rng)
    exptime = geometries[0].exptime
    rate = np.median(chip.sci) / exptime
    pedestal = scene.pedestal_e_s[geometries[0].rootname]
    assert pedestal < rate < pedestal + spec.nebula_peak_e_s
    expected = spec.cosmic_ray_fraction_per_ks * exptime / 1000 * chip.sci.size
    assert 0.7 * expected < chip.cosmic_ray_pixels < 1.3 * expected
    assert not np.any(chip.dq & ~(DQ_HOT | DQ_WARM | DQ_BAD_DETECTOR))
    assert np.any(chip.dq & DQ_HOT)
    assert np.any(chip.dq & DQ_WARM)


def test_an_flc_carries_what_drizzlepac_needs(acs, tmp_path):
    from skyqa.headers import input_problem

    field, geometries, scene, rng = acs
    chips = geometries[:2]
    arrays = [render_chip(chip, scene, field.synthetic, rng) for chip in chips]
    hdul = build_flc(chips, arrays, field.synthetic, field)
    path = tmp_path / f"{chips[0].rootname}_flc.fits"
    hdul.writeto(path)
    assert [(hdu.name, hdu.ver) for hdu in hdul[1:]] == [
        ("SCI", 1), ("ERR", 1), ("DQ", 1), ("SCI", 2), ("ERR", 2), ("DQ", 2),
    ]  # fmt: skip
    assert [hdul["SCI", n].header["CCDCHIP"] for n in (1, 2)] == [2, 1]
    assert {hdul["SCI", n].header["BUNIT"] for n in (1, 2)} == {"ELECTRONS"}
    assert (hdul[0].header["INSTRUME"], hdul[0].header["DETECTOR"]) == ("ACS", "WFC")
    assert hdul[0].header["NEXTEND"] == 6
    assert input_problem(path, ACS_WFC) is None


def test_two_exposures_see_the_same_nebula_along_their_edges(acs):
    """Where two chips overlap at their edges (a 20-row strip here), each renders the
    nebula the other sees at the same sky position: skyqa measures seams there to a few
    thousandths of an e-/s. A spline through an 8-pixel grid was off by 0.01 e-/s."""
    from skyqa.measure import _bilinear
    from skyqa.simulate.geometry import distortion_residual, true_sky
    from skyqa.simulate.render import _nebula_image

    _, geometries, scene, _ = acs
    by_name = {(g.rootname, g.chip): g for g in geometries}
    a, b = by_name[("jsqa02b2q", 2)], by_name[("jsqa03c2q", 2)]
    terms = list(scene.distortion)

    rows, columns = a.rows_columns
    y, x = (grid.ravel().astype(float) for grid in np.mgrid[rows - 40 : rows, 0:columns])
    # a's pixel p sees the sky the true SIP WCS puts at p - residual(p); b's pixel q
    # seeing the same sky solves q = sip_b^-1(sky) + residual(q).
    sx, sy = b.wcs("true").all_world2pix(*true_sky(a.wcs("true"), x, y, terms, a.ltv), 0)
    xb, yb = sx, sy
    for _ in range(3):
        dx, dy = distortion_residual(xb - b.ltv[0], yb - b.ltv[1], terms)
        xb, yb = sx + dx, sy + dy
    inside = (xb >= 0) & (xb < columns - 1) & (yb >= 0) & (yb < rows - 1)
    assert inside.sum() > 2000  # the strip along both chips' edges
    nebula_a, nebula_b = _nebula_image(a, scene), _nebula_image(b, scene)
    seen_by_b, _, _ = _bilinear(nebula_b, np.ones(nebula_b.shape, bool), xb[inside], yb[inside])
    seen_by_a = nebula_a[y[inside].astype(int), x[inside].astype(int)]
    # Bilinear interpolation of the 44-pixel-wide blobs: about 1e-4 e-/s of curvature.
    assert np.max(np.abs(seen_by_a - seen_by_b)) < 1e-3
