"""Overlap statistics measured by skyqa itself, independently of drizzlepac.

For every pair of overlapping exposures, pixels of the first are mapped through the
aligned WCSs onto the second, whose SCI array is interpolated there; pixels that are bad
in either (DQ outside ``final_bits``) or on a source are left out. The sigma-clipped
median of the differences is the pair's sky difference *before* any sky subtraction; a
sky method's seam in that overlap is that difference less the two MDRIZSKY values it
subtracted. Since clipping and the median move with a constant, one measurement serves
all four methods exactly.

What is made from the pair table (seams, the seam score, the overlap graph and skyqa's
least-squares sky offsets) is in `skyqa.oracle`.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.headers import chip_of, rootname_of, to_rate
from skyqa.planes import PLANE_COLUMNS, plane_sums
from skyqa.steps import STEP_COLUMNS, half_steps, halves_of

if TYPE_CHECKING:
    from astropy.wcs import WCS

PAIR_COLUMNS = [
    "exposure_a",
    "exposure_b",
    "n_pixels",
    "raw_median_e_s",
    "uncertainty_e_s",
    "pixel_noise_e_s",
    *STEP_COLUMNS,
    *PLANE_COLUMNS,
]
SOURCE_SIGMA = 3.0
"""Pixels this many ERR above the local 9x9 mean are on a source and left out (grown by 2)."""
CLIP_SIGMA = 3.0


CHIP_COLUMNS = ["chip_a", "chip_b"]
"""Added to the pair table of a two-chip detector: the CCDCHIP of each side's chip (each
chip has its own WCS and is measured on its own)."""


@dataclass(frozen=True)
class ExposurePixels:
    """What the overlap measurement needs of one FLT (of one chip of a two-chip
    exposure: ``chip`` is its CCDCHIP, 0 for a one-chip detector), in e-/s."""

    rootname: str
    sci: np.ndarray
    err: np.ndarray
    usable: np.ndarray
    wcs: WCS
    chip: int = 0

    @cached_property
    def usable_noise(self) -> float:
        """Median ERR of the usable pixels (computed once)."""
        return float(np.median(self.err[self.usable]))


def parse_bits(final_bits: str | int) -> int:
    """DQ bits treated as good ('16', '16,64', 80 -> an integer mask)."""
    if isinstance(final_bits, int):
        return final_bits
    parts = [part for part in str(final_bits).replace("+", ",").split(",") if part.strip()]
    return sum(int(part) for part in parts)


def load_exposure(path: Path, good_bits: int, extver: int = 0) -> ExposurePixels:
    """Read an FLT's SCI, ERR and DQ; mark usable pixels (good DQ, finite, off sources).

    ``extver`` 0: the one chip of a one-chip detector (``[SCI,1]``). Otherwise that chip
    of a two-chip exposure, its CCDCHIP kept; its ELECTRONS are turned into e-/s
    (divided by EXPTIME), in which the skies of exposures of any length compare.
    """
    # astropy.wcs and scipy here, not at the top: a warm QA run never needs them.
    from astropy.wcs import WCS, FITSFixedWarning
    from scipy import ndimage

    with fits.open(path) as hdul:
        science = hdul["SCI", max(extver, 1)]
        sci = science.data.astype(float)
        err = hdul["ERR", max(extver, 1)].data.astype(float)
        dq = hdul["DQ", max(extver, 1)].data.astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(science.header, hdul)
        rootname = rootname_of(hdul[0].header, path)
        chip = chip_of(science.header, extver, 2 if extver else 1)
        sci, err = (to_rate(hdul[0].header, science.header, array) for array in (sci, err))
    good = ((dq & ~good_bits) == 0) & np.isfinite(sci) & np.isfinite(err) & (err > 0)
    filled = np.where(good, sci, np.nanmedian(sci[good]) if good.any() else 0.0)
    local_mean = ndimage.uniform_filter(filled, size=9)
    on_source = ndimage.binary_dilation(
        (filled - local_mean) > SOURCE_SIGMA * np.where(good, err, np.inf), iterations=2
    )
    return ExposurePixels(rootname, sci, err, good & ~on_source, wcs, chip)


def _bilinear(image: np.ndarray, usable: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Bilinear samples of ``image`` at (x, y), and whether all four neighbours are usable."""
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    corners = [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)]
    weights = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]
    value = sum(w * image[r, c] for w, (r, c) in zip(weights, corners, strict=True))
    ok = np.logical_and.reduce([usable[r, c] for r, c in corners])
    return value, ok, sum(w * w for w in weights)


SMALL_OVERLAP_PIXELS = 4000
"""Overlaps of fewer pixels are measured at every pixel, not every second (issue 31): on
such a pair (acs-mini-sim's 515-pixel edge-to-edge overlap) sampling halves what is
measured and leaves its uncertainty near the seam threshold."""

NEAR_MARGIN = 20
"""Pixels beyond the second exposure's edge still mapped exactly (linear pre-selection)."""


@dataclass(frozen=True)
class GridSamples:
    """The usable pixels of one exposure on a ``step`` grid, and their sky positions.

    ``u``, ``v``: the same positions in the exposure's own *linear* pixel frame (no
    distortion), used only to narrow down which samples can reach another exposure.
    """

    x: np.ndarray
    y: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    u: np.ndarray
    v: np.ndarray


def grid_samples(exposure: ExposurePixels, step: int = 2) -> GridSamples:
    """Usable pixels of ``exposure`` every ``step`` pixels, mapped to the sky (with SIP)."""
    ny, nx = exposure.sci.shape
    grid_y, grid_x = np.mgrid[0:ny:step, 0:nx:step]
    keep = exposure.usable[grid_y, grid_x]
    x, y = grid_x[keep].astype(float), grid_y[keep].astype(float)
    # The linear frame is the focal plane (all distortions applied), and the sky is its
    # linear projection: the same numbers as all_pix2world, without a second mapping.
    u, v = exposure.wcs.pix2foc(x, y, 0)
    ra, dec = exposure.wcs.wcs_pix2world(u, v, 0)
    return GridSamples(x, y, ra, dec, u, v)


def box_outline(low: float, high_x: float, high_y: float, points_per_edge: int = 64):
    """Points along the edges of the box [low, high_x] x [low, high_y]."""
    edge = np.linspace(0.0, 1.0, points_per_edge)
    x = low + (high_x - low) * np.concatenate([edge, np.ones_like(edge), edge, 0 * edge])
    y = low + (high_y - low) * np.concatenate([0 * edge, edge, np.ones_like(edge), edge])
    return x, y


def _candidates(a: ExposurePixels, b: ExposurePixels, samples: GridSamples) -> np.ndarray:
    """Indices of ``samples`` (of ``a``) that may fall in ``b``'s pre-selection box.

    The box (``b``'s linear frame, `NEAR_MARGIN` wide margin) is mapped to ``a``'s linear
    frame through the sky; every sample inside the box maps inside the bounding box of
    the mapped outline (a smooth one-to-one mapping), which is widened a little because
    the outline is sampled. The exact test is then made on these samples only.
    """
    by, bx = b.sci.shape
    x, y = box_outline(-NEAR_MARGIN, bx + NEAR_MARGIN, by + NEAR_MARGIN)
    u, v = a.wcs.wcs_world2pix(*b.wcs.wcs_pix2world(x, y, 0), 0)
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(v))):
        return np.arange(samples.u.size)
    slack = 2.0
    inside = (
        (samples.u > u.min() - slack)
        & (samples.u < u.max() + slack)
        & (samples.v > v.min() - slack)
        & (samples.v < v.max() + slack)
    )
    return np.flatnonzero(inside)


def pair_statistics(
    a: ExposurePixels,
    b: ExposurePixels,
    step: int = 2,
    min_pixels: int = 500,
    samples: GridSamples | None = None,
) -> dict | None:
    """Sky difference a - b over their common footprint (no sky subtracted), or None.

    Returns None when fewer than ``min_pixels`` usable pixels overlap. ``samples``, if
    given, is ``grid_samples(a, step)`` (computed once per exposure by `measure_pairs`).
    """
    samples = samples if samples is not None else grid_samples(a, step)
    chosen = _candidates(a, b, samples)
    if chosen.size < min_pixels:
        return None
    xa, ya, ra, dec = samples.x[chosen], samples.y[chosen], samples.ra[chosen], samples.dec[chosen]
    # Cheap linear pre-selection, then the exact (SIP) inverse on the candidates only.
    xb_lin, yb_lin = b.wcs.wcs_world2pix(ra, dec, 0)
    by, bx = b.sci.shape
    near = (
        (xb_lin > -NEAR_MARGIN)
        & (xb_lin < bx + NEAR_MARGIN)
        & (yb_lin > -NEAR_MARGIN)
        & (yb_lin < by + NEAR_MARGIN)
    )
    if near.sum() < min_pixels:
        return None
    xb, yb = b.wcs.all_world2pix(ra[near], dec[near], 0)
    inside = (xb >= 0) & (xb < bx - 1) & (yb >= 0) & (yb < by - 1)
    if inside.sum() < min_pixels:
        return None
    b_value, b_ok, b_weights = _bilinear(b.sci, b.usable, xb[inside], yb[inside])
    a_rows, a_cols = ya[near][inside].astype(int), xa[near][inside].astype(int)
    a_value = a.sci[a_rows, a_cols]
    differences = (a_value - b_value)[b_ok]
    if differences.size < min_pixels:
        return None
    if step > 1 and differences.size * step * step < SMALL_OVERLAP_PIXELS:
        return pair_statistics(a, b, 1, min_pixels)  # a small overlap: every pixel
    return {
        "exposure_a": a.rootname,
        "exposure_b": b.rootname,
        **({"chip_a": a.chip, "chip_b": b.chip} if a.chip or b.chip else {}),
        **_difference_statistics(
            differences,
            (a_cols[b_ok], a_rows[b_ok], a.sci.shape),
            (xb[inside][b_ok], yb[inside][b_ok], (by, bx)),
            (float(np.median(a.err[a_rows, a_cols])), b.usable_noise),
            b_weights[b_ok] if step == 1 else None,
        ),
    }


def _difference_statistics(
    differences: np.ndarray, at_a: tuple, at_b: tuple, noises: tuple, weights_squared
) -> dict:
    """A pair's statistics from its samples' differences (a - b) at their positions on
    each side (x, y, the array's shape): the clipped median, its uncertainty, the pixel
    noise (of ``noises``: a's and b's), each half-line's step (`skyqa.steps`) and the
    plane's sums (`skyqa.planes`). ``weights_squared``: b's bilinear weights squared at
    every pixel (step 1), whose shared pixels the uncertainties allow for; None else."""
    from astropy.stats import sigma_clipped_stats

    _, median, std = sigma_clipped_stats(differences, sigma=CLIP_SIGMA, maxiters=10)
    kept = np.abs(differences - median) <= CLIP_SIGMA * std
    noise_a, noise_b = noises
    shared = 1.0 if weights_squared is None else _shared_pixels(noise_a, noise_b, weights_squared)
    (xa, ya, shape_a), (xb, yb, shape_b) = at_a, at_b
    halves = halves_of(xa, ya, shape_a, "a") | halves_of(xb, yb, shape_b, "b")
    plane = plane_sums(
        differences[kept],
        (xa[kept] / shape_a[1] - 0.5, ya[kept] / shape_a[0] - 0.5),
        (xb[kept] / shape_b[1] - 0.5, yb[kept] / shape_b[0] - 0.5),
        float((std * shared) ** 2),
    )
    return {
        "n_pixels": int(kept.sum()),
        "raw_median_e_s": float(median),
        "uncertainty_e_s": float(1.2533 * std / np.sqrt(kept.sum())) * shared,
        "pixel_noise_e_s": float(np.sqrt((noise_a**2 + noise_b**2) / 2.0)),
        **half_steps(differences, kept, halves, 1.2533 * std * shared),
        **plane,
    }


def _shared_pixels(noise_a: float, noise_b: float, weights_squared: np.ndarray) -> float:
    """How much a pair's uncertainty from its samples' spread understates the error of its
    median at every pixel: neighbouring samples share b's pixels through the bilinear
    interpolation, which smooths b's noise in each sample (by ``sum(w^2)``) but not in
    their mean. Every second pixel shares none, and needs no correction."""
    smoothed = noise_a**2 + noise_b**2 * float(np.mean(weights_squared))
    return float(np.sqrt((noise_a**2 + noise_b**2) / smoothed))


def measure_pairs(
    exposures: Sequence[ExposurePixels], step: int = 2, min_pixels: int = 500
) -> pd.DataFrame:
    """Pair statistics (`PAIR_COLUMNS`) of every overlapping pair.

    A pair is measured by sampling its first exposure and interpolating the second, which
    is not symmetric at the noise level; pairs are therefore always taken in rootname
    order, so that the result does not depend on the order of the exposures. The sky positions
    of each exposure's samples are computed once.
    """
    ordered = sorted(exposures, key=lambda exposure: (exposure.rootname, exposure.chip))
    pairs = [
        (i, j)
        for i, j in itertools.combinations(range(len(ordered)), 2)
        if ordered[i].rootname != ordered[j].rootname  # an exposure's chips: no overlap
    ]
    chips = any(exposure.chip for exposure in ordered)
    return measure_listed_pairs(pairs, ordered.__getitem__, step, min_pixels, chips)


def pair_columns(chips: bool) -> list[str]:
    """The pair table's columns: `PAIR_COLUMNS`, with `CHIP_COLUMNS` for two chips."""
    return [*PAIR_COLUMNS[:2], *CHIP_COLUMNS, *PAIR_COLUMNS[2:]] if chips else PAIR_COLUMNS


def measure_listed_pairs(
    pairs: Iterable[tuple[int, int]],
    exposure: Callable[[int], ExposurePixels],
    step: int = 2,
    min_pixels: int = 500,
    chips: bool = False,
) -> pd.DataFrame:
    """Pair statistics (`pair_columns`) of the pairs ``(i, j)`` listed, grouped by their
    first exposure (whose samples are computed once); ``exposure(i)`` gives exposure ``i``
    (from memory, or read on demand: `skyqa.overlaps`). Pairs that do not overlap by
    ``min_pixels`` are left out. ``chips``: the exposures are chips of a two-chip
    detector (the table has `CHIP_COLUMNS`)."""
    rows = []
    for i, group in itertools.groupby(pairs, key=lambda pair: pair[0]):
        a = exposure(i)
        samples = grid_samples(a, step)
        for _, j in group:
            row = pair_statistics(a, exposure(j), step, min_pixels, samples)
            if row is not None:
                rows.append(row)
    return pd.DataFrame(rows, columns=pair_columns(chips))
