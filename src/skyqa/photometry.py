"""Aperture photometry that holds in a drizzled product and in the exposures it was made
from alike: the same aperture on the sky, each exposure corrected for its pixels' area,
and the widening drizzle gives a star (`drizzle_broadening`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.astrometry import wcs_from_header
from skyqa.headers import rootname_of
from skyqa.simulate import pixel_area_arcsec2
from skyqa.sources import science_chips

APERTURE_ARCSEC = 0.6
"""The photometric aperture's radius on the sky: 4.7 WFC3/IR, 12 ACS/WFC and 15 WFC3/UVIS
pixels. Drizzling widens a star by its kernel, which moves flux across an aperture's
edge: at 0.4" the mosaic held 0.6 % less than the FLTs (mini-sim, every exposure), at
0.6" less than 0.1 %, below the ratios' own scatter (docs/checks.md)."""
EDGE_ARCSEC = 0.15
"""The width of the rings either side of the aperture's edge whose surface brightness
gives the profile's slope there (`aperture_fluxes`)."""
ANNULUS_ARCSEC = (1.2, 1.8)
"""The local background's annulus (inner, outer radius): the median there is taken off."""
ISOLATION_ARCSEC = 1.8
"""A star is measured only with no other catalog star within the annulus's outer radius."""


def _nominal_area(header: fits.Header, wcs) -> float:
    """The pixel area (arcsec^2) drizzle takes as an exposure's nominal: IDCSCALE squared
    where the header has a SIP distortion, else its linear WCS's own pixel (stwcs's
    undistorted scale)."""
    if "A_ORDER" in header and "IDCSCALE" in header:
        return float(header["IDCSCALE"]) ** 2
    return abs(float(np.linalg.det(wcs.pixel_scale_matrix))) * 3600.0**2


def nominal_scale(path: Path) -> float:
    """An exposure's nominal pixel scale (arcsec; its first chip's, `_nominal_area`): the
    scale AstroDrizzle gives a product without a final_scale."""
    with fits.open(path) as hdul:
        header = hdul["SCI", 1].header
        return math.sqrt(_nominal_area(header, wcs_from_header(header)))


def relative_area(header: fits.Header, wcs, x, y) -> np.ndarray:
    """The pixel area map at (x, y) of an exposure: its pixels' area on the sky over the
    area drizzle takes as nominal (`_nominal_area`)."""
    return pixel_area_arcsec2(wcs, x, y) / _nominal_area(header, wcs)


def _pixels(wcs, ra, dec, shape) -> tuple[np.ndarray, np.ndarray]:
    """Positions' pixels (0-based) through the full WCS, for those the linear WCS puts
    within 50 pixels of the image (the SIP inverse diverges far from it); NaN elsewhere."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    x, y = np.full(ra.shape, math.nan), np.full(ra.shape, math.nan)
    x_lin, y_lin = wcs.wcs_world2pix(ra, dec, 0)
    near = (x_lin > -50) & (x_lin < shape[1] + 50) & (y_lin > -50) & (y_lin < shape[0] + 50)
    if near.any():
        x[near], y[near] = wcs.all_world2pix(ra[near], dec[near], 0, quiet=True)
    return x, y


def aperture_fluxes(
    image, bad, wcs, ra, dec, error=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each position's aperture flux (data units) less its annulus's median, with the
    aperture of `APERTURE_ARCSEC` on the sky (in pixels at the image's own local scale);
    the slope of its profile at the aperture's edge over that flux (arcsec^-3: the
    surface brightness in the `EDGE_ARCSEC` outside the edge less that inside, over
    `EDGE_ARCSEC`); and the flux's uncertainty from ``error`` (an ERR array: its squares
    summed over the aperture; NaN without one). NaN where the aperture leaves the image
    or holds a bad pixel."""
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture

    rows, columns = image.shape
    x, y = _pixels(wcs, ra, dec, image.shape)
    scale = np.sqrt(pixel_area_arcsec2(wcs, x, y))
    fluxes, slopes = np.full(len(x), math.nan), np.full(len(x), math.nan)
    errors = np.full(len(x), math.nan)
    flagged = bad.astype(float)
    variance = None if error is None else np.where(bad, 0.0, np.asarray(error, float) ** 2)
    edge = APERTURE_ARCSEC
    for index, (xi, yi, pixel) in enumerate(zip(x, y, scale, strict=True)):
        outer = ANNULUS_ARCSEC[1] / pixel
        if not (outer <= xi < columns - 1 - outer and outer <= yi < rows - 1 - outer):
            continue
        aperture = CircularAperture((xi, yi), edge / pixel)
        if ApertureStats(flagged, aperture).sum > 0:
            continue
        annulus = CircularAnnulus((xi, yi), ANNULUS_ARCSEC[0] / pixel, outer)
        background = ApertureStats(image, annulus, mask=bad).median
        fluxes[index] = ApertureStats(image, aperture).sum - background * aperture.area
        rings = [
            CircularAnnulus((xi, yi), inner / pixel, (inner + EDGE_ARCSEC) / pixel)
            for inner in (edge - EDGE_ARCSEC, edge)
        ]
        brightness = [  # per arcsec^2
            (ApertureStats(image, ring, mask=bad).mean - background) / pixel**2 for ring in rings
        ]
        slopes[index] = (brightness[1] - brightness[0]) / EDGE_ARCSEC / fluxes[index]
        if variance is not None:
            errors[index] = math.sqrt(ApertureStats(variance, aperture).sum)
    return fluxes, slopes, errors


def isolated(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """The catalog stars with no other within `ISOLATION_ARCSEC`."""
    if len(ra) < 2:
        return np.ones(len(ra), bool)
    cos_dec = np.cos(np.deg2rad(np.mean(dec)))
    east = (ra[:, None] - ra[None, :]) * cos_dec * 3600.0
    north = (dec[:, None] - dec[None, :]) * 3600.0
    distance = np.hypot(east, north)
    np.fill_diagonal(distance, np.inf)
    return distance.min(axis=1) > ISOLATION_ARCSEC


def per_second(header: fits.Header, primary: fits.Header) -> float:
    """The factor that puts an image's data in e-/s: 1 for ELECTRONS/S (WFC3/IR, a
    drizzled product), 1/EXPTIME for ELECTRONS (a CCD's FLC)."""
    unit = str(header.get("BUNIT", primary.get("BUNIT", ""))).upper()
    return 1.0 if "/S" in unit else 1.0 / float(primary["EXPTIME"])


def exposure_photometry(
    flt_paths: Sequence[Path], ra: np.ndarray, dec: np.ndarray, good_bits: int
) -> pd.DataFrame:
    """Each star's aperture flux in every exposure that holds it whole (e-/s, pixel-area
    corrected, `relative_area`): one row per (``rootname``, ``star``: its index in
    ``ra``, ``dec``), ``exposure_e_s`` and its uncertainty from the exposure's ERR,
    ``error_e_s``. The same for every sky method's product."""
    rows = []
    for path, primary, header, data, dq, err, _chip in science_chips(flt_paths):
        wcs = wcs_from_header(header)
        flagged = ((dq & ~good_bits) != 0) | ~np.isfinite(data)
        flux, _, error = aperture_fluxes(data, flagged, wcs, ra, dec, err)
        held = np.flatnonzero(np.isfinite(flux) & (flux > 0))
        if not held.size:
            continue
        x, y = wcs.all_world2pix(ra[held], dec[held], 0)
        factor = relative_area(header, wcs, x, y) * per_second(header, primary)
        name = rootname_of(primary, path)
        rows += [
            {"rootname": name, "star": int(star), "exposure_e_s": float(value),
             "error_e_s": float(uncertainty)}
            for star, value, uncertainty in zip(
                held, flux[held] * factor, error[held] * factor, strict=True
            )
        ]  # fmt: skip
    return pd.DataFrame(rows, columns=["rootname", "star", "exposure_e_s", "error_e_s"])


KERNEL_VARIANCE = {
    "square": 1 / 12,
    "turbo": 1 / 12,
    "tophat": 1 / 16,
    "gaussian": 1 / 2.3548**2,
    "point": 0.0,
    "lanczos2": 0.0,
    "lanczos3": 0.0,
}
"""Each drizzle kernel's variance along one axis, in units of its footprint's width
squared (pixfrac x the input pixel): a box's 1/12, a disk's 1/16, a Gaussian of that
FWHM, none for a point; the Lanczos kernels interpolate (drizzlepac: only with pixfrac 1)
and widen a star by little: taken as none."""


def drizzle_broadening(header: fits.Header) -> float:
    """How much wider (variance along one axis, arcsec^2) drizzle makes a star in the
    product than aperture photometry on an exposure sees it: its kernel, and the output
    pixels' sampling (twice: drizzled into, then summed by the aperture) in place of the
    input pixels' (summed once more on the exposure), from the product's D001KERN,
    D001PIXF, D001ISCL and D001SCAL (NaN without them, or with a kernel skyqa does not
    know)."""
    try:
        kernel = str(header["D001KERN"]).strip().lower()
        footprint = float(header["D001PIXF"]) * float(header["D001ISCL"])
        input_scale, output_scale = float(header["D001ISCL"]), float(header["D001SCAL"])
    except (KeyError, ValueError):
        return math.nan
    if kernel not in KERNEL_VARIANCE:
        return math.nan
    sampling = (2 * output_scale**2 - input_scale**2) / 12
    return KERNEL_VARIANCE[kernel] * footprint**2 + sampling
