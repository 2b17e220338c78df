"""Whether the installed spherical_geometry draws the footprint of a non-square image right.

skymatch (stsci.skypac) intersects the chips' footprints, each made by
``SphericalPolygon.from_wcs``, to find where two exposures overlap, and measures the `match`
sky differences there. spherical_geometry 1.3.5 builds that footprint from ``array_shape``
read as (x, y) when it is (rows, columns): the footprint of a non-square image is
transposed (fixed upstream in spacetelescope/spherical_geometry#318, released in 1.4.0,
which also removed a method stsci.skypac 1.0.12 calls). WFC3/IR arrays are square, so
nothing changes there; ACS/WFC and WFC3/UVIS chips are twice as wide as they are tall,
and on them `match` is then measured over the wrong overlaps. Measured on the ACS/WFC test
field (256x512 chips, a 2 e-/s nebula): the matched skies were off the injected pedestals
by up to 0.24 e-/s with 1.3.5, 0.03 with 1.3.3.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
    image, else one sentence saying what it covers instead and what to do."""
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
        f"{columns}x{rows}-pixel image transposed ({found}), so skymatch measures the match "
        "skies of non-square chips (ACS/WFC, WFC3/UVIS) over the wrong overlaps; install "
        "the pinned spherical_geometry (constraints/pinned.txt, README: Pinned dependencies)."
    )


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed)"
