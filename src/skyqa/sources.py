"""The alignment verified without TweakReg: stars found in each aligned FLT by another
finder, placed on the sky by the FLT's own WCS, against the reference catalog.

TweakReg's verification fit (`skyqa.align.verify_alignment`) finds the same sources in
the same DRZs and matches them to the same catalog as the fit did, so it reads no
residual at all by construction. Here each aligned FLT (not its visit DRZ) is searched
by photutils (``DAOStarFinder``, then a 2-D Gaussian centroid), each source is placed on
the sky through the FLT's aligned WCS (with its SIP distortion), and matched to the
nearest catalog star within `MATCH_RADIUS_ARCSEC`. The exposure's offset is the
sigma-clipped mean of the matched offsets (east, north), with its uncertainty (standard
deviation / sqrt(n)): it sees an FLT that tweakback did not move, an exposure whose
pointing differs from its visit partner's, and a distortion the header does not describe.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.astrometry import wcs_from_header
from skyqa.headers import chip_of, rootname_of, science_extvers
from skyqa.pixels import pixel_noise

SOURCE_COLUMNS = [
    "visit",
    "rootname",
    "n_found",
    "n_matched",
    "east_mas",
    "north_mas",
    "offset_mas",
    "uncertainty_mas",
    "scatter_mas",
]
"""One row per aligned FLT: sources found, matched to the catalog, the clipped mean
offset (source - catalog; east, north and its length), the uncertainty of that mean and
the per-star scatter (RMS of the two axes' standard deviations), in mas."""
FWHM_PIX = 1.5
"""DAOStarFinder's kernel: about the WFC3/IR F160W PSF (FWHM 0.15-0.2") in FLT pixels."""
DETECTION_SIGMA = 10.0
"""Sources at least this many times the exposure's per-pixel noise above the smooth sky
(the kernel has zero sum, so the nebula cancels): bright enough to centroid well."""
CENTROID_BOX = 5
"""Pixels on a side of the box each source is centred in."""
MATCH_RADIUS_ARCSEC = 0.3
"""A source is a catalog star's when it lies within this of it (and is its nearest)."""
CLIP_SIGMA = 3.0
MAS_PER_DEG = 3.6e6


def find_sources(
    sci: np.ndarray,
    mask: np.ndarray,
    noise: float,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Centroids (0-based x, y) of the point sources in an image, and how many were
    found: found by DAOStarFinder, then each centred by a 2-D Gaussian fit in a
    `CENTROID_BOX` box (DAOStarFinder's own centroids scatter 2-3 times more on the
    undersampled IR PSF: 0.06-0.10 pix against 0.02-0.05, measured on mini-sim against
    the true positions). ``keep(x, y)`` selects the detections worth centring (the fits
    are most of the cost: 15 ms each)."""
    from photutils.centroids import centroid_2dg, centroid_sources
    from photutils.detection import DAOStarFinder

    image = np.where(mask, 0.0, sci)
    finder = DAOStarFinder(DETECTION_SIGMA * noise, FWHM_PIX, exclude_border=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no sources found" is an empty table here
        table = finder(image, mask=mask)
        if table is None or len(table) == 0:
            return np.empty(0), np.empty(0), 0
        x_name = "x_centroid" if "x_centroid" in table.colnames else "xcentroid"
        y_name = "y_centroid" if "y_centroid" in table.colnames else "ycentroid"
        x = np.asarray(table[x_name], dtype=float)
        y = np.asarray(table[y_name], dtype=float)
        chosen = np.ones(len(x), bool) if keep is None else np.asarray(keep(x, y), bool)
        if not chosen.any():
            return np.empty(0), np.empty(0), len(table)
        x, y = centroid_sources(
            image, x[chosen], y[chosen], box_size=CENTROID_BOX, mask=mask,
            centroid_func=centroid_2dg,
        )  # fmt: skip
    good = np.isfinite(x) & np.isfinite(y)
    return np.asarray(x)[good], np.asarray(y)[good], len(table)


def _offsets_mas(ra, dec, cat_ra: np.ndarray, cat_dec: np.ndarray):
    """(east, north) offsets (mas) of every position from every catalog star: two
    (positions x stars) arrays."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    cos_dec = np.cos(np.deg2rad(np.mean(cat_dec)))
    east = (ra[:, None] - cat_ra[None, :]) * cos_dec * MAS_PER_DEG
    north = (dec[:, None] - cat_dec[None, :]) * MAS_PER_DEG
    return east, north


def nearest_distance_mas(ra, dec, cat_ra: np.ndarray, cat_dec: np.ndarray) -> np.ndarray:
    """Each position's distance (mas) to its nearest catalog star (inf with no catalog)."""
    if len(cat_ra) == 0:
        return np.full(len(ra), np.inf)
    if len(ra) == 0:
        return np.empty(0)
    return np.hypot(*_offsets_mas(ra, dec, cat_ra, cat_dec)).min(axis=1)


def match_offsets(
    ra: np.ndarray, dec: np.ndarray, cat_ra: np.ndarray, cat_dec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(east, north) offsets (mas) of each source from its nearest catalog star, for the
    sources within `MATCH_RADIUS_ARCSEC` of one (each star matched once: the nearest)."""
    if len(ra) == 0 or len(cat_ra) == 0:
        return np.empty(0), np.empty(0)
    east, north = _offsets_mas(ra, dec, cat_ra, cat_dec)
    distance = np.hypot(east, north)
    nearest = np.argmin(distance, axis=1)
    rows = np.arange(len(ra))
    close = distance[rows, nearest] <= MATCH_RADIUS_ARCSEC * 1000.0
    # A catalog star claimed by several sources keeps only its nearest.
    claimed = []
    for star in np.unique(nearest[close]):
        claims = rows[close & (nearest == star)]
        claimed.append(claims[np.argmin(distance[claims, star])])
    keep = np.array(sorted(claimed), dtype=int)
    return east[keep, nearest[keep]], north[keep, nearest[keep]]


def clipped_offset(east: np.ndarray, north: np.ndarray) -> dict:
    """Sigma-clipped mean offset, its uncertainty and the scatter (mas)."""
    from astropy.stats import sigma_clip

    if len(east) == 0:
        nan = float("nan")
        return {
            "n_matched": 0,
            "east_mas": nan,
            "north_mas": nan,
            "offset_mas": nan,
            "uncertainty_mas": nan,
            "scatter_mas": nan,
        }
    keep = ~(
        np.ma.getmaskarray(sigma_clip(east, sigma=CLIP_SIGMA))
        | np.ma.getmaskarray(sigma_clip(north, sigma=CLIP_SIGMA))
    )
    e, n = east[keep], north[keep]
    scatter = (
        float(np.sqrt((np.std(e, ddof=1) ** 2 + np.std(n, ddof=1) ** 2) / 2))
        if len(e) > 1
        else float("nan")
    )
    return {
        "n_matched": len(e),
        "east_mas": float(np.mean(e)),
        "north_mas": float(np.mean(n)),
        "offset_mas": float(np.hypot(np.mean(e), np.mean(n))),
        "uncertainty_mas": scatter / np.sqrt(len(e)) if len(e) > 1 else float("nan"),
        "scatter_mas": scatter,
    }


def source_offsets(
    flt_paths: Sequence[Path], catalog_ra, catalog_dec, good_bits: int
) -> pd.DataFrame:
    """`SOURCE_COLUMNS` for every aligned FLT against the reference catalog (for every chip,
    with a ``chip`` column, on the two-chip CCDs: each chip has its own WCS)."""

    cat_ra, cat_dec = np.asarray(catalog_ra, float), np.asarray(catalog_dec, float)
    rows = []
    chips = False
    for path, primary, header, sci, dq, err, chip in science_chips(flt_paths):
        chips |= chip > 0
        mask = ((dq & ~good_bits) != 0) | ~np.isfinite(sci)
        wcs = wcs_from_header(header)

        def near_a_star(x, y, wcs=wcs):
            """Detections within reach of a catalog star (the match radius and 0.2")."""
            ra, dec = wcs.all_pix2world(x, y, 0)
            return (
                nearest_distance_mas(ra, dec, cat_ra, cat_dec)
                <= (MATCH_RADIUS_ARCSEC + 0.2) * 1000.0
            )

        x, y, found = find_sources(sci, mask, pixel_noise(err), keep=near_a_star)
        ra, dec = wcs.all_pix2world(x, y, 0)
        east, north = match_offsets(np.asarray(ra), np.asarray(dec), cat_ra, cat_dec)
        rows.append(
            {
                "visit": str(primary.get("ASN_ID", "?")).lower(),
                "rootname": rootname_of(primary, path),
                "n_found": found,
                **clipped_offset(east, north),
                "chip": chip,
            }
        )
    return pd.DataFrame(rows, columns=[*SOURCE_COLUMNS, "chip"] if chips else SOURCE_COLUMNS)


def science_chips(flt_paths: Sequence[Path]) -> Iterator[tuple]:
    """Every chip of every FLT, each file opened once: (path, primary header, SCI header,
    SCI as float, DQ, ERR, CCDCHIP; 0 for one chip)."""
    for path in flt_paths:
        with fits.open(path) as hdul:
            extvers = science_extvers(hdul)
            for extver in extvers:
                header = hdul["SCI", extver].header
                yield (
                    path,
                    hdul[0].header,
                    header,
                    hdul["SCI", extver].data.astype(float),
                    hdul["DQ", extver].data,
                    hdul["ERR", extver].data,
                    chip_of(header, extver, len(extvers)),
                )
