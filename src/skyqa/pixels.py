"""The drizzled mosaics' pixels against the sky values their headers record.

Every sky method drizzles the same aligned FLTs onto the same output grid with the same
weights; only the sky subtracted from each exposure differs. So where one known set of
exposures covers the mosaic, the difference of two methods' mosaics must be the weighted
mean of the differences of their recorded MDRIZSKY over that set. An exposure's weight in
an output pixel is its exposure time (AstroDrizzle's default ``final_wht_type = 'EXP'``)
times the ratio of the output pixel's area to its own pixel's area there (drizzle spreads
each input pixel's weight over the output pixels it overlaps): the IR detector's pixels
differ in area by several percent across it, and on horsehead-sim an equal weighting was
0.006 e-/s off in a region of four exposures where localmin's skies spread over 0.3 e-/s
(the area ratios reproduce the mosaic to 1e-5 e-/s). A mosaic whose pixels had another
sky subtracted than its headers say (a fallback that left stale MDRIZSKY, a bug between
the sky step and the drizzle step) fails this without the log being read.

`sky_regions` measures it: for each pair of methods and each region (a set of exposures
covering at least ``min_pixels`` samples of the grid), the median difference of the two
mosaics there, and what the headers predict. The difference of two mosaics of the same
data has no noise of its own, so the medians are exact to far below the threshold; the
few pixels where an exposure's own pixel is flagged (its weight is 0 there) are outvoted.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.headers import rootname_of

REGION_COLUMNS = [
    "method_a",
    "method_b",
    "region",
    "n_pixels",
    "measured_e_s",
    "predicted_e_s",
    "noise_e_s",
]
"""One row per pair of methods and region: the median of mosaic_b - mosaic_a there; what
the headers predict for it (that median less the median, sample by sample, of the
difference's excess over the headers' prediction there, so that measured - predicted is
that median excess); and the per-pixel noise of the region's exposures (RMS of their
median ERR)."""
EDGE_MARGIN = 3
"""Grid samples left out along each exposure's edge (its pixels there are partly drizzled)."""


def _footprint_mask(flt_header: fits.Header, wcs, out_wcs, shape, step: int) -> np.ndarray:
    """Which samples (every ``step``-th output pixel) an exposure's detector covers, less
    `EDGE_MARGIN` samples along its edge. The detector's outline (through its WCS, with
    SIP) is filled as a polygon on the sample grid (Pillow's scan-line fill: matplotlib's
    point-in-polygon test took 21 s of horsehead-sim's 26)."""
    from PIL import Image, ImageDraw
    from scipy import ndimage

    nx, ny = flt_header["NAXIS1"], flt_header["NAXIS2"]
    along = np.linspace(0.0, 1.0, 32, endpoint=False)
    low, high_x, high_y = np.full(32, -0.5), np.full(32, nx - 0.5), np.full(32, ny - 0.5)
    xs = np.concatenate([-0.5 + along * nx, high_x, nx - 0.5 - along * nx, low])
    ys = np.concatenate([low, -0.5 + along * ny, high_y, ny - 0.5 - along * ny])
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    out_x, out_y = out_wcs.all_world2pix(ra, dec, 0)
    canvas = Image.new("1", (shape[1], shape[0]), 0)
    outline = [(float(x), float(y)) for x, y in zip(out_x / step, out_y / step, strict=True)]
    ImageDraw.Draw(canvas).polygon(outline, fill=1)
    inside = np.array(canvas, dtype=bool)
    return ndimage.binary_erosion(inside, iterations=EDGE_MARGIN)


AREA_NODE_STEP = 32
"""Detector pixels between the nodes where an exposure's pixel area is evaluated."""
REGION_SAMPLES = 5000
"""Most grid samples of a region compared (drawn at random, the same each run)."""


def _area_ratio_nodes(
    flt_header: fits.Header, wcs, out_wcs, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An exposure's output-to-input pixel area ratio at nodes over its detector, with
    the nodes' positions in output samples (x, y)."""
    nx, ny = flt_header["NAXIS1"], flt_header["NAXIS2"]
    xs = np.append(np.arange(0, nx, AREA_NODE_STEP), nx - 1).astype(float)
    ys = np.append(np.arange(0, ny, AREA_NODE_STEP), ny - 1).astype(float)
    gx, gy = (grid.ravel() for grid in np.meshgrid(xs, ys))

    def arcsec(ra, dec):
        return ra * np.cos(np.deg2rad(dec)) * 3600.0, dec * 3600.0

    ra, dec = wcs.all_pix2world(gx, gy, 0)
    e0, n0 = arcsec(ra, dec)
    e1, n1 = arcsec(*wcs.all_pix2world(gx + 0.5, gy, 0))
    e2, n2 = arcsec(*wcs.all_pix2world(gx, gy + 0.5, 0))
    area_in = np.abs((e1 - e0) * (n2 - n0) - (e2 - e0) * (n1 - n0)) / 0.25
    area_out = abs(np.linalg.det(out_wcs.pixel_scale_matrix)) * 3600.0**2
    out_x, out_y = out_wcs.all_world2pix(ra, dec, 0)
    return out_x / step, out_y / step, area_out / area_in


def pixel_noise(err: np.ndarray) -> float:
    """An exposure's per-pixel noise: the median of its positive ERR (NaN if none is)."""
    positive = err[np.isfinite(err) & (err > 0)]
    return float(np.median(positive)) if positive.size else float("nan")


def exposure_noise(path: Path) -> float:
    """`pixel_noise` of an FLT's first ERR extension."""
    with fits.open(path) as hdul:
        return pixel_noise(hdul["ERR", 1].data)


def sky_regions(
    mosaics: Mapping[str, tuple[Path, Path]],
    mdrizsky: Mapping[str, pd.DataFrame],
    flt_paths: Sequence[Path],
    min_pixels: int,
    step: int = 2,
) -> pd.DataFrame:
    """Mosaic differences against recorded sky differences, per pair of methods and region.

    Parameters
    ----------
    mosaics : mapping
        Sky method -> (science image, weight image) of its mosaic, all on one grid.
    mdrizsky : mapping
        Sky method -> its MDRIZSKY table (``rootname``, ``mdrizsky_e_s``).
    flt_paths : sequence of Path
        The aligned FLTs that were drizzled (their WCS places them; EXPTIME weighs them).
    min_pixels : int
        Output pixels a region needs (it is sampled every ``step`` pixels).
    step : int
        Sampling of the output grid.

    Returns
    -------
    DataFrame
        `REGION_COLUMNS`. Empty if there are fewer than two methods.

    Raises
    ------
    ValueError
        If the mosaics are not on one grid.
    """
    if len(mosaics) < 2:
        return pd.DataFrame(columns=REGION_COLUMNS)
    science, valid, out_wcs = _sampled_mosaics(mosaics, step)
    exposures = _drizzled_exposures(flt_paths, out_wcs, valid.shape, step)
    code, regions = _coverage_regions(exposures.masks, valid, min_pixels)
    skies = {
        method: table.set_index("rootname")["mdrizsky_e_s"]
        .reindex(exposures.rootnames)
        .to_numpy(float)
        for method, table in mdrizsky.items()
    }
    rows = []
    rng = np.random.default_rng(0)
    for value, count in regions:
        members = [i for i in range(len(exposures.rootnames)) if (int(value) >> i) & 1]
        sample_y, sample_x = np.nonzero(code == value)
        if len(sample_x) > REGION_SAMPLES:
            keep = rng.choice(len(sample_x), REGION_SAMPLES, replace=False)
            sample_x, sample_y = sample_x[keep], sample_y[keep]
        weights = exposures.weights(members, sample_x, sample_y)
        noise = float(np.sqrt(np.mean(exposures.noises[members] ** 2)))
        name = "+".join(exposures.rootnames[i] for i in members)
        for method_a, method_b in itertools.combinations(mosaics, 2):
            difference = (
                science[method_b][sample_y, sample_x] - science[method_a][sample_y, sample_x]
            )
            recorded = skies[method_a][members] - skies[method_b][members]
            predicted = np.sum(weights * recorded[:, None], axis=0)
            rows.append(
                {
                    "method_a": method_a,
                    "method_b": method_b,
                    "region": name,
                    "n_pixels": int(count) * step * step,
                    "measured_e_s": float(np.median(difference)),
                    # The median excess, pixel by pixel, is what the check judges.
                    "predicted_e_s": float(
                        np.median(difference) - np.median(difference - predicted)
                    ),
                    "noise_e_s": noise,
                }
            )
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


def _sampled_mosaics(
    mosaics: Mapping[str, tuple[Path, Path]], step: int
) -> tuple[dict[str, np.ndarray], np.ndarray, Any]:
    """Each method's mosaic sampled every ``step`` pixels, the samples valid in all of
    them (finite, weight > 0), and the output grid's WCS (at full resolution)."""
    from skyqa.astrometry import wcs_from_header

    methods = list(mosaics)
    science: dict[str, np.ndarray] = {}
    valid, shape, out_header = None, None, None
    for method, (sci_path, wht_path) in mosaics.items():
        with fits.open(sci_path) as sci, fits.open(wht_path) as wht:
            data = sci[0].data[::step, ::step].astype(float)
            weight = wht[0].data[::step, ::step]
            header = sci[0].header
        if shape is None:
            shape, out_header = data.shape, header
        elif data.shape != shape:
            raise ValueError(
                f"the {method} mosaic ({sci_path.name}) is {data.shape} samples, the "
                f"{methods[0]} mosaic {shape}: not one output grid"
            )
        good = np.isfinite(data) & (weight > 0)
        valid = good if valid is None else valid & good
        science[method] = data
    if valid is None:
        raise ValueError("no mosaic to compare")  # not reached: two methods at least
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out_wcs = wcs_from_header(out_header)
    return science, valid, out_wcs


@dataclass(frozen=True)
class _DrizzledExposures:
    """What `sky_regions` needs of each drizzled exposure, in ``flt_paths`` order: its
    name, exposure time (s), pixel noise (e-/s), footprint on the sampled output grid,
    and its pixel-area ratio (input to output) interpolated over that grid."""

    rootnames: list[str]
    exptimes: np.ndarray
    noises: np.ndarray
    masks: list[np.ndarray]
    areas: list[Any]

    def weights(self, members: list[int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each sample's weights (one row per member): exposure time x area ratio there,
        normalised over the members."""
        ratios = np.array([self.areas[i](x, y) for i in members], dtype=float)
        ratios = np.where(np.isfinite(ratios), ratios, np.nanmean(ratios, axis=1)[:, None])
        weights = self.exptimes[members][:, None] * ratios
        return weights / weights.sum(axis=0)


def _drizzled_exposures(
    flt_paths: Sequence[Path], out_wcs: Any, shape: tuple[int, ...], step: int
) -> _DrizzledExposures:
    from scipy.interpolate import LinearNDInterpolator

    from skyqa.astrometry import wcs_from_header

    rootnames, exptimes, noises, masks, areas = [], [], [], [], []
    for path in flt_paths:
        with fits.open(path) as hdul:
            primary, header = hdul[0].header, hdul["SCI", 1].header
            noises.append(pixel_noise(hdul["ERR", 1].data))
        rootnames.append(rootname_of(primary, path))
        exptimes.append(float(primary["EXPTIME"]))
        wcs = wcs_from_header(header)
        masks.append(_footprint_mask(header, wcs, out_wcs, shape, step))
        node_x, node_y, ratio = _area_ratio_nodes(header, wcs, out_wcs, step)
        areas.append(LinearNDInterpolator(np.column_stack([node_x, node_y]), ratio))
    return _DrizzledExposures(rootnames, np.array(exptimes), np.array(noises), masks, areas)


def _coverage_regions(
    masks: list[np.ndarray], valid: np.ndarray, min_pixels: int
) -> tuple[np.ndarray, list[tuple[Any, int]]]:
    """Which exposures cover each valid sample, as one integer per sample (a bit per
    exposure), and the regions (codes) with at least ``min_pixels`` samples."""
    code = np.zeros(valid.shape, dtype=object if len(masks) > 62 else np.int64)
    for index, mask in enumerate(masks):
        code = code + mask.astype(code.dtype) * (1 << index)
    code = np.where(valid, code, 0)
    values, counts = np.unique(code[code != 0], return_counts=True)
    regions = [
        (value, count) for value, count in zip(values, counts, strict=True) if count >= min_pixels
    ]
    return code, regions
