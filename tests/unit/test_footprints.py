"""The footprint probe: a spherical_geometry that draws a non-square image's footprint
transposed (1.3.5) is caught before skymatch measures match skies on ACS/WFC or
WFC3/UVIS chips over the wrong overlaps."""

from __future__ import annotations

import pytest
from spherical_geometry.polygon import SphericalPolygon

from skyqa import footprints
from skyqa.detectors import ACS_WFC, WFC3_IR, WFC3_UVIS
from skyqa.drizzle import require_true_footprints
from skyqa.errors import PipelineStepError


def _corners(wcs, columns, rows):
    corners = [(-0.5, -0.5), (columns - 0.5, -0.5), (columns - 0.5, rows - 0.5), (-0.5, rows - 0.5)]
    sky = wcs.pixel_to_world(*zip(*corners, strict=True))
    return SphericalPolygon.from_radec(sky.ra.deg, sky.dec.deg)


def _true_footprint(wcs, steps=1):
    columns, rows = wcs.pixel_shape
    return _corners(wcs, columns, rows)


def _transposed_footprint(wcs, steps=1):
    """What spherical_geometry 1.3.5 does: array_shape (rows, columns) read as (x, y)."""
    rows, columns = wcs.array_shape
    return _corners(wcs, rows, columns)


def test_a_transposed_footprint_is_named_with_what_to_do(monkeypatch):
    monkeypatch.setattr(SphericalPolygon, "from_wcs", staticmethod(_transposed_footprint))
    problem = footprints.footprint_problem()
    assert problem.startswith("spherical_geometry ")
    assert "draws the footprint of a 40x10-pixel image transposed (the image's far column " in (
        problem
    )
    assert "outside, a point beyond its last row inside)" in problem
    assert problem.endswith("(constraints/pinned.txt, README: Pinned dependencies).")


def test_a_true_footprint_passes(monkeypatch):
    monkeypatch.setattr(SphericalPolygon, "from_wcs", staticmethod(_true_footprint))
    assert footprints.footprint_problem() == ""


def test_the_pinned_spherical_geometry_draws_true_footprints():
    assert footprints.footprint_problem() == ""


@pytest.mark.parametrize("detector", [WFC3_UVIS, ACS_WFC])
def test_matching_non_square_chips_stops_on_transposed_footprints(monkeypatch, detector):
    monkeypatch.setattr(SphericalPolygon, "from_wcs", staticmethod(_transposed_footprint))
    for method in ("match", "globalmin+match"):
        with pytest.raises(PipelineStepError, match=rf"Not drizzling {detector.name} exposures "):
            require_true_footprints(detector, method)
    require_true_footprints(detector, "localmin")  # no footprints intersected
    require_true_footprints(WFC3_IR, "match")  # square arrays: nothing to transpose
