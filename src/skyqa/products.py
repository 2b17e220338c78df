"""A drizzled mosaic measured as the product it is: where its stars are, what flux they
hold against each exposure's, its geometry, and the keywords it carries.

- **Astrometry.** Stars are found in the mosaic by photutils as in the FLTs
  (`skyqa.sources.find_sources`), placed on the sky by the mosaic's own WCS and matched
  to the reference catalog; on a replica, also to the stars' true positions.
- **Photometry.** For each isolated catalog star, the flux in an aperture of
  `skyqa.photometry.APERTURE_ARCSEC` (less its local background) in the mosaic, and in
  every exposure that holds it whole with the same aperture on the sky, corrected for the
  exposure's pixel area (`skyqa.photometry.relative_area`): an FLT is flat-fielded, not
  area-corrected, so a star's counts there are its flux over its pixels' relative area,
  which drizzle puts right.
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
from skyqa.photometry import (
    aperture_fluxes,
    drizzle_broadening,
    exposure_photometry,
    isolated,
    nominal_scale,
    per_second,
)
from skyqa.sources import (
    clipped_offset,
    find_sources,
    match_offsets,
    science_chips,
)

PHOTOMETRIC_KEYWORDS = ("PHOTMODE", "PHOTFLAM", "PHOTPLAM")
INPUT_ARRAYS = "field_inputs.npz"
INPUT_FLUXES = "exposure_fluxes.csv"
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
    difference = np.diff(np.where(bad, np.nan, sci)[::4], axis=1)  # every 4th row: enough
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


STAR_COLUMNS = [
    "rootname", "ra", "dec", "mosaic_e_s", "exposure_e_s", "ratio", "ratio_error",
    "edge_slope", "true_e_s",
]  # fmt: skip
"""`product_photometry`'s table."""


def product_photometry(sci, bad, wcs, inputs: FieldInputs, truth: dict | None) -> pd.DataFrame:
    """One row per isolated catalog star and exposure that holds it whole (`STAR_COLUMNS`):
    its aperture flux in the mosaic and in the exposure (`exposure_photometry`), their
    ``ratio`` and its uncertainty from the exposure's noise, the profile's slope at the
    aperture's edge, and ``true_e_s`` on a replica (the star's total flux; NaN
    otherwise)."""
    ra, dec = inputs.star_ra, inputs.star_dec
    mosaic, slope, _ = aperture_fluxes(sci, bad, wcs, ra, dec)
    true = np.full(len(ra), math.nan)
    if truth and len(truth["ra"]) and len(ra):
        east = (ra[:, None] - truth["ra"][None, :]) * np.cos(np.deg2rad(np.mean(dec)))
        nearest = np.argmin(np.hypot(east, dec[:, None] - truth["dec"][None, :]), axis=1)
        true = np.asarray(truth["flux_e_s"])[nearest]
    table = inputs.fluxes
    star = table["star"].to_numpy(int)
    measured = mosaic[star] if len(star) else np.empty(0)
    keep = np.isfinite(measured) & (measured > 0)
    table, star, measured = table[keep], star[keep], measured[keep]
    exposure = table["exposure_e_s"].to_numpy(float)
    return pd.DataFrame(
        {
            "rootname": table["rootname"].to_numpy(str),
            "ra": ra[star],
            "dec": dec[star],
            "mosaic_e_s": measured,
            "exposure_e_s": exposure,
            "ratio": measured / exposure,
            # The exposure's own noise in the ratio (the mosaic shares its photons).
            "ratio_error": measured / exposure * table["error_e_s"].to_numpy(float) / exposure,
            "edge_slope": slope[star],
            "true_e_s": true[star],
        },
        columns=STAR_COLUMNS,
    )


@dataclass(frozen=True)
class FieldInputs:
    """What every product of a field is held against, measured once from its aligned
    exposures (`field_inputs`): the isolated catalog stars and their fluxes in each
    exposure, each chip's outline on the sky (`OUTLINE_POINTS` a side, deg), the
    exposures' nominal pixel scale and their photometric keywords' distinct values."""

    star_ra: np.ndarray
    star_dec: np.ndarray
    fluxes: pd.DataFrame
    outlines: tuple[np.ndarray, ...]
    scale_arcsec: float
    keywords: dict[str, str]

    def to_record(self, directory: Path) -> dict:
        """Write the arrays and the flux table into ``directory``; a JSON-able record."""
        arrays = {f"outline_{index}": outline for index, outline in enumerate(self.outlines)}
        arrays.update(star_ra=self.star_ra, star_dec=self.star_dec)
        np.savez(directory / INPUT_ARRAYS, allow_pickle=False, **arrays)
        self.fluxes.to_csv(directory / INPUT_FLUXES, index=False)
        return {
            "arrays": INPUT_ARRAYS,
            "fluxes": INPUT_FLUXES,
            "outlines": len(self.outlines),
            "scale_arcsec": self.scale_arcsec,
            "keywords": self.keywords,
        }

    @classmethod
    def from_record(cls, directory: Path, record: dict) -> FieldInputs:
        """The inputs `to_record` wrote into ``directory``."""
        with np.load(directory / record["arrays"]) as arrays:
            outlines = tuple(arrays[f"outline_{index}"] for index in range(record["outlines"]))
            star_ra, star_dec = arrays["star_ra"], arrays["star_dec"]
        fluxes = pd.read_csv(directory / record["fluxes"], dtype={"rootname": str})
        keywords = {key: str(value) for key, value in record["keywords"].items()}
        return cls(star_ra, star_dec, fluxes, outlines, float(record["scale_arcsec"]), keywords)


def field_inputs(
    flt_paths: Sequence[Path], catalog: tuple[np.ndarray, np.ndarray], good_bits: int
) -> FieldInputs:
    """`FieldInputs` of the aligned exposures against the reference catalog."""
    ra, dec = (np.asarray(values, float) for values in catalog)
    keep = isolated(ra, dec)
    ra, dec = ra[keep], dec[keep]
    outlines = []
    side = np.linspace(0.0, 1.0, OUTLINE_POINTS, endpoint=False)
    for _path, _primary, header, data, _dq, _err, _chip in science_chips(flt_paths):
        height, width = data.shape
        x = np.concatenate([side * width, np.full_like(side, width), (1 - side) * width, 0 * side])
        y = np.concatenate(
            [0 * side, side * height, np.full_like(side, height), (1 - side) * height]
        )
        outlines.append(np.column_stack(wcs_from_header(header).all_pix2world(x - 0.5, y - 0.5, 0)))
    keywords = [photometric_keywords(path) for path in flt_paths]
    return FieldInputs(
        ra,
        dec,
        exposure_photometry(flt_paths, ra, dec, good_bits),
        tuple(outlines),
        float(np.median([nominal_scale(path) for path in flt_paths])),
        {key: ";".join(sorted({k[key] for k in keywords})) for key in PHOTOMETRIC_KEYWORDS},
    )


def orientation_and_scale(wcs) -> tuple[float, float]:
    """A mosaic's orientation (deg east of north of its y axis, as ``final_rot`` and
    ORIENTAT give it) and pixel scale (arcsec), from its CD matrix."""
    cd = wcs.pixel_scale_matrix
    orientation = math.degrees(math.atan2(cd[0, 1], cd[1, 1])) % 360.0
    return orientation, math.sqrt(abs(float(np.linalg.det(cd)))) * 3600.0


def footprint_union(shape: tuple[int, int], wcs, outlines: Sequence[np.ndarray]) -> np.ndarray:
    """The mosaic's pixels inside the union of the inputs' chips: each chip's outline on
    the sky (`FieldInputs.outlines`) filled on one image of the mosaic's grid by Pillow's
    scanline fill (a pixel is its square from its corner, hence the half pixel: PIL puts
    pixel i's centre at i + 0.5)."""
    from PIL import Image, ImageDraw

    union = Image.new("1", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(union)
    for outline in outlines:
        mx, my = wcs.all_world2pix(outline[:, 0], outline[:, 1], 0)
        draw.polygon(
            [(float(u) + 0.5, float(v) + 0.5) for u, v in zip(mx, my, strict=True)], fill=1
        )
    return np.asarray(union, dtype=bool)


def holes(weight: np.ndarray, union: np.ndarray) -> tuple[int, int, int, tuple[float, float]]:
    """Zero-weight holes inside the union of the inputs' footprints, two pixels in from
    its edge (where an input's outline and drizzle's pixel edges differ): the union's
    pixels, how many holes, the largest hole's pixels and its centre (x, y; NaN with
    none)."""
    from scipy import ndimage

    rows, columns = np.nonzero(union & ~(weight > 0))
    inside = np.ones(rows.size, bool)  # the union's erosion by 2 (a diamond), at these only
    for dy in range(-2, 3):
        for dx in range(-(2 - abs(dy)), 3 - abs(dy)):
            y, x = rows + dy, columns + dx
            within = (y >= 0) & (y < union.shape[0]) & (x >= 0) & (x < union.shape[1])
            inside &= within & union[np.clip(y, 0, union.shape[0] - 1),
                                     np.clip(x, 0, union.shape[1] - 1)]  # fmt: skip
    empty = np.zeros(union.shape, bool)
    empty[rows[inside], columns[inside]] = True
    labels, count = ndimage.label(empty)
    if not count:
        return int(union.sum()), 0, 0, (math.nan, math.nan)
    sizes = np.bincount(labels.ravel())[1:]
    hole_y, hole_x = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    centre = (float(hole_x.mean()), float(hole_y.mean()))
    return int(union.sum()), int(count), int(sizes.max()), centre


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
    inputs: FieldInputs,
    catalog: tuple[np.ndarray, np.ndarray],
    truth: dict | None,
) -> tuple[dict, pd.DataFrame]:
    """One mosaic measured (the module's docstring) against its field's ``inputs``: its
    row (astrometry, geometry, keywords; the inputs' as ``inputs_<KEY>``, their distinct
    values joined by ``;``, and ``inputs_scale_arcsec``) and its photometry table
    (`product_photometry`)."""
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
    union_pixels, n_holes, largest, centre = holes(
        weight, footprint_union(sci.shape, wcs, inputs.outlines)
    )
    hole_ra, hole_dec = (float(v) for v in wcs.all_pix2world(*centre, 0))
    row.update(
        orientation_deg=orientation,
        scale_arcsec=scale,
        radius_arcsec=_radius_arcsec(sci.shape, wcs, inputs.outlines, scale),
        union_pixels=union_pixels,
        holes=n_holes,
        largest_hole_pixels=largest,
        hole_ra=hole_ra,
        hole_dec=hole_dec,
        broadening_arcsec2=broadening,
        **photometric_keywords(sci_path),
        inputs_scale_arcsec=inputs.scale_arcsec,
        **{f"inputs_{key}": value for key, value in inputs.keywords.items()},
    )
    return row, product_photometry(sci, bad, wcs, inputs, truth)


def _radius_arcsec(shape, wcs, outlines: Sequence[np.ndarray], scale: float) -> float:
    """How far (arcsec) the inputs' farthest outline point lies from the mosaic's centre."""
    if not outlines:
        return math.nan
    points = np.concatenate(outlines)
    x, y = wcs.all_world2pix(points[:, 0], points[:, 1], 0)
    return float(np.max(np.hypot(x - (shape[1] - 1) / 2, y - (shape[0] - 1) / 2))) * scale


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

    @classmethod
    def join(cls, parts: Sequence[ProductMeasures]) -> ProductMeasures:
        """Several methods' measures as one (each product stage measures one)."""
        tables = [part.table for part in parts]
        stars = [part.stars for part in parts if len(part.stars)]
        return cls(
            pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["method"]),
            pd.concat(stars, ignore_index=True)
            if stars
            else pd.DataFrame(columns=["method", *STAR_COLUMNS]),
        )
