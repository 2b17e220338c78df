"""The footprints skymatch intersects, drawn right for non-square chips.

skymatch (stsci.skypac) intersects the chips' footprints, each made by
``SphericalPolygon.from_wcs``, to find where two exposures overlap, and measures the
`match` sky differences there. spherical_geometry 1.3.5 (the pinned version) builds that
footprint from ``array_shape`` read as (x, y) when it is (rows, columns): the footprint of
a non-square image comes out transposed. It is fixed upstream
(spacetelescope/spherical_geometry#318), but only in 1.4.0, which also removed a method
stsci.skypac 1.0.12 calls (README, "Pinned dependencies"); and 1.3.3, the release before,
draws footprints through the corner pixels' centres, which moves the `match` values of
square WFC3/IR exposures (mini-sim seed 31: a pedestal residual of 0.00235 e-/s past its
0.0022 tolerance).

WFC3/IR arrays are square, and nothing here touches them. For the ACS/WFC and WFC3/UVIS
chips, twice as wide as tall, `true_footprints` draws each footprint from the WCS's
``pixel_shape`` (columns, rows) while AstroDrizzle runs, when `footprint_problem` finds the
installed version transposing. Measured on the ACS/WFC test field (256x512 chips, a 2 e-/s
nebula): matched skies off the injected pedestals by up to 0.24 e-/s transposed, within
0.0015 e-/s corrected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

import numpy as np

PROBE_SHAPE = (10, 40)
"""(rows, columns) of the probe image: four times as wide as tall."""


def _probe_wcs():
    from astropy.wcs import WCS

    rows, columns = PROBE_SHAPE
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [(columns + 1) / 2.0, (rows + 1) / 2.0]
    wcs.wcs.cd = [[-1.0e-4, 0.0], [0.0, 1.0e-4]]
    wcs.pixel_shape = (columns, rows)
    return wcs


def footprint_problem() -> str:
    """ "" if ``SphericalPolygon.from_wcs`` (as skymatch calls it) covers a non-square
    image, else one sentence saying what it covers instead."""
    from spherical_geometry.polygon import SphericalPolygon

    rows, columns = PROBE_SHAPE
    wcs = _probe_wcs()
    polygon = SphericalPolygon.from_wcs(wcs, steps=1)
    probes = {
        "the image's far column": (columns - 3.0, rows / 2.0 - 0.5),
        "a point beyond its last row": (rows / 2.0, columns - 3.0),
    }
    inside = {}
    for name, (x, y) in probes.items():
        sky = wcs.pixel_to_world(x, y)
        inside[name] = bool(polygon.contains_lonlat(sky.ra.deg, sky.dec.deg))
    if inside["the image's far column"] and not inside["a point beyond its last row"]:
        return ""
    found = ", ".join(f"{name} {'inside' if ok else 'outside'}" for name, ok in inside.items())
    return (
        f"spherical_geometry {_installed('spherical_geometry')} draws the footprint of a "
        f"{columns}x{rows}-pixel image transposed ({found}), so skymatch would measure the "
        "match skies of non-square chips (ACS/WFC, WFC3/UVIS) over the wrong overlaps"
    )


def edge_footprint(cls, wcs, steps: int = 1):
    """The footprint of ``wcs``'s image as a spherical polygon: its outer pixel edges
    (-0.5 to n - 0.5 along each axis, ``pixel_shape`` = (columns, rows)), ``steps``
    vertices per side so that distortion bends the sides, the image centre inside."""
    import astropy.wcs

    if not isinstance(wcs, astropy.wcs.WCS):
        wcs = astropy.wcs.WCS(wcs)
    columns, rows = wcs.pixel_shape
    fraction = np.linspace(0.0, 1.0, max(int(steps), 1), endpoint=False)
    low_x, high_x, low_y, high_y = -0.5, columns - 0.5, -0.5, rows - 0.5
    across, up = low_x + fraction * columns, low_y + fraction * rows
    x = np.concatenate([across, np.full_like(up, high_x), high_x - fraction * columns,
                        np.full_like(up, low_x)])  # fmt: skip
    y = np.concatenate([np.full_like(across, low_y), up, np.full_like(across, high_y),
                        high_y - fraction * rows])  # fmt: skip
    sky = wcs.pixel_to_world(x, y)
    centre = wcs.pixel_to_world((columns - 1) / 2.0, (rows - 1) / 2.0)
    return cls.from_lonlat(
        sky.ra.degree, sky.dec.degree, center=(centre.ra.degree, centre.dec.degree)
    )


@contextlib.contextmanager
def true_footprints() -> Iterator[bool]:
    """While active, spherical_geometry draws footprints with `edge_footprint` if the
    installed version transposes non-square ones (`footprint_problem`); yields whether it
    had to. Nothing changes outside the block.

    Raises
    ------
    RuntimeError
        If the footprints are still wrong with the correction in place.
    """
    if not footprint_problem():
        yield False
        return
    from spherical_geometry.polygon import SingleSphericalPolygon

    original = SingleSphericalPolygon.__dict__["from_wcs"]
    SingleSphericalPolygon.from_wcs = classmethod(edge_footprint)
    try:
        problem = footprint_problem()
        if problem:
            raise RuntimeError(f"{problem}, even with skyqa's correction in place")
        yield True
    finally:
        SingleSphericalPolygon.from_wcs = original


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed)"
