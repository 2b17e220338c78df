"""A drizzled mosaic measured as the product it is: where its stars are, what flux they
hold against each exposure's, its geometry, and the keywords it carries.

- **Astrometry.** Stars are found in the mosaic by photutils as in the FLTs
  (`skyqa.sources.find_sources`), placed on the sky by the mosaic's own WCS and matched
  to the reference catalog; on a replica, also to the stars' true positions.
- **Photometry.** For each isolated catalog star, the flux in an aperture of
  `APERTURE_ARCSEC` (less its local background) in the mosaic, and in every exposure
  that holds it whole with the same aperture on the sky, corrected for the exposure's
  pixel area (`relative_area`): an FLT is flat-fielded, not area-corrected, so a star's
  counts there are its flux over its pixels' relative area, which drizzle puts right.
- **Geometry.** The mosaic's orientation and pixel scale from its CD matrix, its extent,
  and the zero-weight pixels inside the union of the inputs' footprints (`holes`).
- **Keywords.** PHOTMODE, PHOTFLAM and PHOTPLAM of the product and of its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.astrometry import wcs_from_header
from skyqa.headers import rootname_of
from skyqa.simulate import pixel_area_arcsec2
from skyqa.sources import (
    clipped_offset,
    find_sources,
    match_offsets,
    science_chips,
)

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
PHOTOMETRIC_KEYWORDS = ("PHOTMODE", "PHOTFLAM", "PHOTPLAM")
OUTLINE_POINTS = 40
"""Points along each side of a chip's outline drawn on a mosaic (`footprint_union`): the
distortion bends a WFC3/IR chip's edges by a few pixels between its corners."""
STAMP_HALF = 12
"""Half the side (pixels) of the stamp searched around each catalog star: 1.5" on
WFC3/IR, beyond the 0.3" within which a source is matched to it."""
ASTROMETRY_FIELDS = (
    "n_found", "n_matched", "east_mas", "north_mas", "offset_mas", "uncertainty_mas",
    "scatter_mas",
)  # fmt: skip


def mosaic_noise(sci: np.ndarray, bad: np.ndarray) -> float:
    """A mosaic's per-pixel noise (e-/s): the robust spread of neighbouring pixels'
    differences over sqrt(2) (a smooth nebula cancels; drizzle's correlated noise makes
    it an underestimate, which finds more stars, all then matched to the catalog)."""
    difference = np.diff(np.where(bad, np.nan, sci), axis=1)
    difference = difference[np.isfinite(difference)]
    if difference.size == 0:
        return math.nan
    spread = 1.4826 * np.median(np.abs(difference - np.median(difference)))
    return float(spread / math.sqrt(2))


def stamp_sources(sci, bad, noise: float, x, y) -> tuple[np.ndarray, np.ndarray, int]:
    """The source nearest each position (0-based x, y) in its stamp of `STAMP_HALF`
    pixels a side around it, found and centred as in the FLTs (`find_sources`), and how
    many stamps held one. A search stamp by stamp is the whole mosaic's search kept near
    the catalog's stars, at a tenth of the cost (a WFC3/IR mosaic of 11 million pixels:
    6.4 s whole)."""
    found_x, found_y = [], []
    rows, columns = sci.shape
    for xi, yi in zip(np.round(x).astype(int), np.round(y).astype(int), strict=True):
        y0, y1 = max(0, yi - STAMP_HALF), min(rows, yi + STAMP_HALF + 1)
        x0, x1 = max(0, xi - STAMP_HALF), min(columns, xi + STAMP_HALF + 1)
        if y1 - y0 < STAMP_HALF or x1 - x0 < STAMP_HALF:
            continue
        sx, sy, _count = find_sources(sci[y0:y1, x0:x1], bad[y0:y1, x0:x1], noise)
        if len(sx):
            nearest = int(np.argmin(np.hypot(sx + x0 - xi, sy + y0 - yi)))
            found_x.append(sx[nearest] + x0)
            found_y.append(sy[nearest] + y0)
    return np.asarray(found_x, float), np.asarray(found_y, float), len(found_x)


def product_astrometry(sci, bad, wcs, cat_ra, cat_dec, truth: dict | None) -> dict:
    """The mosaic's stars against the catalog (`ASTROMETRY_FIELDS`) and, with ``truth``
    (the replica's stars: ``ra``, ``dec``), against the true positions (``truth_``
    fields: offset, uncertainty and scatter; NaN without a truth). The stars are
    searched for around the catalog's (`stamp_sources`)."""
    x, y = wcs.all_world2pix(cat_ra, cat_dec, 0)
    on = np.isfinite(x) & np.isfinite(y)
    x, y, found = stamp_sources(sci, bad, mosaic_noise(sci, bad), x[on], y[on])
    ra, dec = (np.asarray(value) for value in wcs.all_pix2world(x, y, 0))
    row = {"n_found": found, **clipped_offset(*match_offsets(ra, dec, cat_ra, cat_dec))}
    true = clipped_offset(np.empty(0), np.empty(0))
    if truth:
        true = clipped_offset(*match_offsets(ra, dec, truth["ra"], truth["dec"]))
    for name in ("n_matched", "offset_mas", "uncertainty_mas", "scatter_mas"):
        row[f"truth_{name}"] = true[name]
    return row


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


def aperture_fluxes(image, bad, wcs, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    """Each position's aperture flux (data units) less its annulus's median, with the
    aperture of `APERTURE_ARCSEC` on the sky (in pixels at the image's own local scale),
    and the slope of its profile at the aperture's edge over that flux (arcsec^-3: the
    surface brightness in the `EDGE_ARCSEC` outside the edge less that inside, over
    `EDGE_ARCSEC`): NaN where the aperture leaves the image or holds a bad pixel."""
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture

    x, y = wcs.all_world2pix(ra, dec, 0)
    scale = np.sqrt(pixel_area_arcsec2(wcs, x, y))
    fluxes, slopes = np.full(len(x), math.nan), np.full(len(x), math.nan)
    flagged = bad.astype(float)
    rows, columns = image.shape
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
    return fluxes, slopes


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


def product_photometry(
    sci, bad, wcs, flt_paths: Sequence[Path], stars, good_bits: int, truth: dict | None
) -> pd.DataFrame:
    """One row per isolated catalog star and exposure that holds it whole: ``rootname``,
    ``ra``, ``dec``, ``mosaic_e_s`` and ``exposure_e_s`` (pixel-area corrected) and their
    ``ratio``; ``true_e_s`` on a replica (the star's total flux; NaN otherwise)."""
    ra, dec = stars
    keep = isolated(ra, dec)
    ra, dec = ra[keep], dec[keep]
    mosaic, slope = aperture_fluxes(sci, bad, wcs, ra, dec)
    inside = np.isfinite(mosaic) & (mosaic > 0)
    ra, dec, mosaic, slope = ra[inside], dec[inside], mosaic[inside], slope[inside]
    true = np.full(len(ra), math.nan)
    if truth:
        east = (ra[:, None] - truth["ra"][None, :]) * np.cos(np.deg2rad(np.mean(dec)))
        nearest = np.argmin(np.hypot(east, dec[:, None] - truth["dec"][None, :]), axis=1)
        true = np.asarray(truth["flux_e_s"])[nearest] if len(truth["ra"]) else true
    rows = []
    for path, primary, header, data, dq, _err, _chip in science_chips(flt_paths):
        wcs_flt = wcs_from_header(header)
        flt_bad = ((dq & ~good_bits) != 0) | ~np.isfinite(data)
        flux = aperture_fluxes(data, flt_bad, wcs_flt, ra, dec)[0] * per_second(header, primary)
        held = np.isfinite(flux) & (flux > 0)
        if not held.any():
            continue
        x, y = wcs_flt.all_world2pix(ra[held], dec[held], 0)
        corrected = flux[held] * relative_area(header, wcs_flt, x, y)
        for index, value in zip(np.flatnonzero(held), corrected, strict=True):
            rows.append(
                {
                    "rootname": rootname_of(primary, path),
                    "ra": float(ra[index]),
                    "dec": float(dec[index]),
                    "mosaic_e_s": float(mosaic[index]),
                    "exposure_e_s": float(value),
                    "ratio": float(mosaic[index] / value),
                    "edge_slope": float(slope[index]),
                    "true_e_s": float(true[index]),
                }
            )
    columns = [
        "rootname",
        "ra",
        "dec",
        "mosaic_e_s",
        "exposure_e_s",
        "ratio",
        "edge_slope",
        "true_e_s",
    ]
    return pd.DataFrame(rows, columns=columns)


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


def orientation_and_scale(wcs) -> tuple[float, float]:
    """A mosaic's orientation (deg east of north of its y axis, as ``final_rot`` and
    ORIENTAT give it) and pixel scale (arcsec), from its CD matrix."""
    cd = wcs.pixel_scale_matrix
    orientation = math.degrees(math.atan2(cd[0, 1], cd[1, 1])) % 360.0
    return orientation, math.sqrt(abs(float(np.linalg.det(cd)))) * 3600.0


def footprint_union(shape: tuple[int, int], wcs, flt_paths: Sequence[Path]) -> np.ndarray:
    """The mosaic's pixels inside the union of the inputs' chips: each chip's outline
    (`OUTLINE_POINTS` a side, through its full WCS) filled on one image of the mosaic's
    grid by Pillow's scanline fill (a pixel is its square from its corner, hence the half
    pixel: PIL puts pixel i's centre at i + 0.5)."""
    from PIL import Image, ImageDraw

    union = Image.new("1", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(union)
    side = np.linspace(0.0, 1.0, OUTLINE_POINTS, endpoint=False)
    for _path, _primary, header, data, _dq, _err, _chip in science_chips(flt_paths):
        height, width = data.shape
        x = np.concatenate([side * width, np.full_like(side, width), (1 - side) * width, 0 * side])
        y = np.concatenate(
            [0 * side, side * height, np.full_like(side, height), (1 - side) * height]
        )
        chip_wcs = wcs_from_header(header)
        mx, my = wcs.all_world2pix(*chip_wcs.all_pix2world(x - 0.5, y - 0.5, 0), 0)
        draw.polygon(
            [(float(u) + 0.5, float(v) + 0.5) for u, v in zip(mx, my, strict=True)], fill=1
        )
    return np.asarray(union, dtype=bool)


def holes(weight: np.ndarray, union: np.ndarray) -> tuple[int, int, int]:
    """Zero-weight holes inside the union of the inputs' footprints, two pixels in from
    its edge (where an input's outline and drizzle's pixel edges differ): the union's
    pixels, how many holes, and the largest hole's pixels."""
    from scipy import ndimage

    core = ndimage.binary_erosion(union, iterations=2)
    empty = core & ~(weight > 0)
    labels, count = ndimage.label(empty)
    largest = int(np.bincount(labels.ravel())[1:].max()) if count else 0
    return int(union.sum()), int(count), largest


def photometric_keywords(path: Path) -> dict[str, str]:
    """PHOTMODE, PHOTFLAM, PHOTPLAM of a file: its science header's, else its primary's
    ("" where neither has it)."""
    with fits.open(path) as hdul:
        headers = [h.header for h in hdul if h.is_image][:2][::-1]
        return {
            key: next((str(h[key]) for h in headers if key in h), "")
            for key in PHOTOMETRIC_KEYWORDS
        }


def measure_product(
    sci_path: Path,
    wht_path: Path,
    flt_paths: Sequence[Path],
    catalog: tuple[np.ndarray, np.ndarray],
    good_bits: int,
    truth: dict | None,
) -> tuple[dict, pd.DataFrame]:
    """One mosaic measured (the module's docstring): its row (astrometry, geometry,
    keywords, the inputs' keywords as ``inputs_<KEY>``: their distinct values joined by
    ``;``) and its photometry table (`product_photometry`)."""
    with fits.open(sci_path) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None and h.data.ndim == 2)
        sci = hdu.data.astype(float) * per_second(hdu.header, hdul[0].header)
        wcs = wcs_from_header(hdu.header)
        broadening = drizzle_broadening(hdul[0].header)
    weight = fits.getdata(wht_path)
    bad = ~(weight > 0) | ~np.isfinite(sci)
    sci = np.where(bad, 0.0, sci)
    cat_ra, cat_dec = (np.asarray(values, float) for values in catalog)
    row = product_astrometry(sci, bad, wcs, cat_ra, cat_dec, truth)
    orientation, scale = orientation_and_scale(wcs)
    union = footprint_union(sci.shape, wcs, flt_paths)
    union_pixels, n_holes, largest = holes(weight, union)
    row.update(
        orientation_deg=orientation,
        scale_arcsec=scale,
        radius_arcsec=_radius_arcsec(union, scale),
        union_pixels=union_pixels,
        holes=n_holes,
        largest_hole_pixels=largest,
        broadening_arcsec2=broadening,
        **photometric_keywords(sci_path),
    )
    row["inputs_scale_arcsec"] = float(np.median([nominal_scale(path) for path in flt_paths]))
    inputs = [photometric_keywords(path) for path in flt_paths]
    for key in PHOTOMETRIC_KEYWORDS:
        row[f"inputs_{key}"] = ";".join(sorted({keys[key] for keys in inputs}))
    stars = product_photometry(sci, bad, wcs, flt_paths, (cat_ra, cat_dec), good_bits, truth)
    return row, stars


def _radius_arcsec(union: np.ndarray, scale: float) -> float:
    """How far (arcsec) the footprint's farthest pixel lies from the mosaic's centre."""
    rows, columns = np.nonzero(union)
    if rows.size == 0:
        return math.nan
    centre_y, centre_x = (union.shape[0] - 1) / 2, (union.shape[1] - 1) / 2
    return float(np.max(np.hypot(rows - centre_y, columns - centre_x))) * scale


@dataclass(frozen=True)
class ProductMeasures:
    """Every mosaic measured (`measure_product`): ``table`` one row per sky method
    (``method`` and the row's fields), ``stars`` the photometry of all, with ``method``."""

    table: pd.DataFrame
    stars: pd.DataFrame

    def of(self, method: str) -> tuple[pd.Series | None, pd.DataFrame]:
        """The method's row (None if its mosaic was not measured) and photometry."""
        rows = self.table[self.table["method"] == method]
        row = None if rows.empty else rows.iloc[0]
        return row, self.stars[self.stars["method"] == method].reset_index(drop=True)


def measure_products(
    mosaics: dict[str, tuple[Path, Path]],
    flt_paths: Sequence[Path],
    catalog: tuple[np.ndarray, np.ndarray],
    good_bits: int,
    truth: dict | None,
) -> ProductMeasures:
    """`measure_product` for each sky method's (science, weight) mosaic."""
    rows, stars = [], []
    for method, (sci_path, wht_path) in mosaics.items():
        row, table = measure_product(sci_path, wht_path, flt_paths, catalog, good_bits, truth)
        rows.append({"method": method, **row})
        stars.append(table.assign(method=method))
    columns = ["method", "rootname", "ra", "dec", "mosaic_e_s", "exposure_e_s", "ratio"]
    joined = pd.concat(stars, ignore_index=True) if stars else pd.DataFrame(columns=columns)
    return ProductMeasures(pd.DataFrame(rows), joined)
