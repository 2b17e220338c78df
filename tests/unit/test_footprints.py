"""The footprints skymatch intersects: a spherical_geometry that draws a non-square
image's footprint transposed (1.3.5, the pinned version) is found by the probe and
corrected while AstroDrizzle matches the skies of non-square chips, and only then."""

from __future__ import annotations

import contextlib

import pytest
from spherical_geometry.polygon import SingleSphericalPolygon, SphericalPolygon

from skyqa import footprints
from skyqa.detectors import ACS_WFC, WFC3_IR, WFC3_UVIS
from skyqa.drizzle import sky_footprints


def _corners(cls, wcs, columns, rows):
    corners = [(-0.5, -0.5), (columns - 0.5, -0.5), (columns - 0.5, rows - 0.5), (-0.5, rows - 0.5)]
    sky = wcs.pixel_to_world(*zip(*corners, strict=True))
    return cls.from_radec(sky.ra.deg, sky.dec.deg)


def _transposed_footprint(cls, wcs, steps=1):
    """What spherical_geometry 1.3.5 does: array_shape (rows, columns) read as (x, y)."""
    rows, columns = wcs.array_shape
    return _corners(cls, wcs, rows, columns)


def _true_footprint(cls, wcs, steps=1):
    columns, rows = wcs.pixel_shape
    return _corners(cls, wcs, columns, rows)


@pytest.fixture
def transposing(monkeypatch):
    monkeypatch.setattr(SingleSphericalPolygon, "from_wcs", classmethod(_transposed_footprint))
    return SingleSphericalPolygon.__dict__["from_wcs"]


def test_a_transposed_footprint_is_named(transposing):
    problem = footprints.footprint_problem()
    assert problem.startswith("spherical_geometry ")
    assert "draws the footprint of a 40x10-pixel image transposed (the image's far column " in (
        problem
    )
    assert "outside, a point beyond its last row inside)" in problem


def test_a_true_footprint_passes(monkeypatch):
    monkeypatch.setattr(SingleSphericalPolygon, "from_wcs", classmethod(_true_footprint))
    assert footprints.footprint_problem() == ""


def test_the_correction_holds_inside_the_block_only(transposing):
    with footprints.true_footprints() as corrected:
        assert corrected
        assert footprints.footprint_problem() == ""
    assert SingleSphericalPolygon.__dict__["from_wcs"] is transposing
    assert footprints.footprint_problem() != ""


def test_a_library_that_draws_true_footprints_is_left_alone(monkeypatch):
    monkeypatch.setattr(SingleSphericalPolygon, "from_wcs", classmethod(_true_footprint))
    own = SingleSphericalPolygon.__dict__["from_wcs"]
    with footprints.true_footprints() as corrected:
        assert not corrected
        assert SingleSphericalPolygon.__dict__["from_wcs"] is own


def test_the_installed_spherical_geometry_is_right_inside_the_block():
    """Whatever version is installed (1.3.5 pinned: transposing; 1.4: right)."""
    with footprints.true_footprints():
        assert footprints.footprint_problem() == ""


def test_edge_footprint_of_a_square_image_is_the_librarys_own():
    """On square images (WFC3/IR) the correction would change nothing: same area."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = [150.0, 2.0], [20.5, 20.5]
    wcs.wcs.cd = [[-1e-4, 0.0], [0.0, 1e-4]]
    wcs.pixel_shape = (40, 40)
    ours = footprints.edge_footprint(SingleSphericalPolygon, wcs).area()
    assert SphericalPolygon.from_wcs(wcs, steps=1).area() == pytest.approx(ours, rel=1e-12)


@pytest.mark.parametrize("detector", [WFC3_UVIS, ACS_WFC])
def test_matching_non_square_chips_corrects_the_footprints(detector):
    for method in ("match", "globalmin+match"):
        assert not isinstance(sky_footprints(detector, method), contextlib.nullcontext)
    assert isinstance(sky_footprints(detector, "localmin"), contextlib.nullcontext)
    assert isinstance(sky_footprints(WFC3_IR, "match"), contextlib.nullcontext)
