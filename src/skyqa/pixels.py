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

from skyqa.astrometry import wcs_from_header
from skyqa.headers import rootname_of, science_extvers, to_rate

REGION_COLUMNS = [
    "method_a",
    "method_b",
    "region",
    "n_pixels",
    "measured_e_s",
    "predicted_e_s",
    "noise_e_s",
    "weights",
]
"""One row per pair of methods and region: the median of mosaic_b - mosaic_a there; what
the headers predict for it (that median less the median, sample by sample, of the
difference's excess over the headers' prediction there, so that measured - predicted is
that median excess); the per-pixel noise of the region's exposures (RMS of their median
ERR); and each member's median weight there (``;``-separated, in the region's order),
which says how much of one exposure's error the region shows."""
EDGE_MARGIN = 3
"""Grid samples left out on either side of each exposure's edge: inside it its pixels are
partly drizzled, and outside it a sample may still hold some of them, so a sample that
near any exposure's edge belongs to no region (leaving out only the inner side put the
samples just beyond a dither partner's edge in a region without it: on acs-mini-sim's
20-sample slivers between exposures, most of a region, 0.04 e-/s off its prediction)."""


@dataclass(frozen=True)
class _Footprint:
    """The samples an exposure covers, as a mask over its own bounding box on the
    sampled output grid (``y0``, ``x0``: the box's first sample): held for every
    exposure at once, it costs what the exposures cover, not the grid's area each."""

    y0: int
    x0: int
    mask: np.ndarray
    edge: np.ndarray
    """The samples within `EDGE_MARGIN` of the outline, inside or out (same box)."""

    def rows(self, start: int, stop: int, edge: bool = False) -> tuple[slice, np.ndarray] | None:
        """The part of the mask (or of ``edge``) in grid rows ``start:stop``: (its
        columns on the grid, its rows, offset so that row 0 is ``start``), None if it has
        none there."""
        mask = self.edge if edge else self.mask
        low, high = max(start, self.y0), min(stop, self.y0 + mask.shape[0])
        if low >= high:
            return None
        part = mask[low - self.y0 : high - self.y0]
        columns = slice(self.x0, self.x0 + mask.shape[1])
        return columns, np.pad(part, ((low - start, stop - high), (0, 0)))

    def covers(self, x: int, y: int) -> bool:
        """Whether the exposure covers sample (x, y)."""
        row, column = y - self.y0, x - self.x0
        height, width = self.mask.shape
        return 0 <= row < height and 0 <= column < width and bool(self.mask[row, column])

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask on the whole grid."""
        inside = np.zeros(shape, dtype=bool)
        columns, part = self.rows(0, shape[0]) or (slice(0, 0), inside[:, :0])
        inside[:, columns] = part
        return inside


def _footprint(flt_header: fits.Header, wcs, out_wcs, shape, step: int) -> _Footprint:
    """Which samples (every ``step``-th output pixel) an exposure's detector covers, less
    `EDGE_MARGIN` samples along its edge, and the samples within that margin of the edge
    on either side. The detector's outline (through its WCS, with
    SIP) is filled as a polygon (Pillow's scan-line fill: matplotlib's point-in-polygon
    test took 21 s of horsehead-sim's 26) on the part of the grid around it."""
    from PIL import Image, ImageDraw
    from scipy import ndimage

    nx, ny = flt_header["NAXIS1"], flt_header["NAXIS2"]
    along = np.linspace(0.0, 1.0, 32, endpoint=False)
    low, high_x, high_y = np.full(32, -0.5), np.full(32, nx - 0.5), np.full(32, ny - 0.5)
    xs = np.concatenate([-0.5 + along * nx, high_x, nx - 0.5 - along * nx, low])
    ys = np.concatenate([low, -0.5 + along * ny, high_y, ny - 0.5 - along * ny])
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    out_x, out_y = out_wcs.all_world2pix(ra, dec, 0)
    out_x, out_y = out_x / step, out_y / step
    # The box around the outline, a margin wider than the erosion reaches (clipped to the
    # grid, whose edge erodes the mask as before).
    pad = EDGE_MARGIN + 2
    x0 = int(np.clip(np.floor(out_x.min()) - pad, 0, shape[1]))
    x1 = int(np.clip(np.ceil(out_x.max()) + pad, x0, shape[1]))
    y0 = int(np.clip(np.floor(out_y.min()) - pad, 0, shape[0]))
    y1 = int(np.clip(np.ceil(out_y.max()) + pad, y0, shape[0]))
    if x1 <= x0 or y1 <= y0:
        nothing = np.zeros((0, 0), dtype=bool)
        return _Footprint(y0, x0, nothing, nothing)
    canvas = Image.new("1", (x1 - x0, y1 - y0), 0)
    outline = [(float(x - x0), float(y - y0)) for x, y in zip(out_x, out_y, strict=True)]
    ImageDraw.Draw(canvas).polygon(outline, fill=1)
    inside = np.array(canvas, dtype=bool)
    inner = ndimage.binary_erosion(inside, iterations=EDGE_MARGIN)
    return _Footprint(
        y0, x0, inner, ndimage.binary_dilation(inside, iterations=EDGE_MARGIN) & ~inner
    )


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
    """`pixel_noise` of an FLT's first ERR extension, in its data units (what a fault
    adds to its pixels)."""
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

    The mosaics are read a strip of rows at a time and each exposure's footprint is held
    over its own box, so the memory this takes does not grow with the number of
    exposures nor with the mosaic's area (but for each region's samples, at most
    `REGION_SAMPLES`); the time grows as the samples times the exposures over each.

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
    with _MosaicStrips(mosaics, step) as grid:
        exposures = _drizzled_exposures(flt_paths, grid.wcs, grid.shape, step)
        regions = _Regions(len(mosaics))
        for start in range(0, grid.shape[0], STRIP_ROWS):
            stop = min(start + STRIP_ROWS, grid.shape[0])
            science, valid = grid.read(start, stop)
            code = np.where(valid, exposures.coverage(start, stop, grid.shape[1]), 0)
            regions.add(code, science, start, exposures)
    skies = {
        method: table.set_index("rootname")["mdrizsky_e_s"]
        .reindex(exposures.rootnames)
        .to_numpy(float)
        for method, table in mdrizsky.items()
    }
    methods = list(mosaics)
    rows = []
    for members, count, sample_x, sample_y, values in regions.large(min_pixels):
        weights = exposures.weights(members, sample_x, sample_y)
        noise = float(np.sqrt(np.mean(exposures.noises[members] ** 2)))
        name = "+".join(exposures.rootnames[i] for i in members)
        for (a, method_a), (b, method_b) in itertools.combinations(enumerate(methods), 2):
            difference = values[b] - values[a]
            recorded = skies[method_a][members] - skies[method_b][members]
            predicted = np.sum(weights * recorded[:, None], axis=0)
            rows.append(
                {
                    "method_a": method_a,
                    "method_b": method_b,
                    "region": name,
                    "n_pixels": count * step * step,
                    "measured_e_s": float(np.median(difference)),
                    # The median excess, pixel by pixel, is what the check judges.
                    "predicted_e_s": float(
                        np.median(difference) - np.median(difference - predicted)
                    ),
                    "noise_e_s": noise,
                    "weights": ";".join(f"{w:.6f}" for w in np.median(weights, axis=1)),
                }
            )
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


STRIP_ROWS = 256
"""Sampled rows of the mosaics read at a time."""


class _MosaicStrips:
    """The methods' mosaics on one grid, sampled every ``step`` pixels and read a strip
    of rows at a time (`astropy.io.fits.ImageHDU.section` of files opened without memory
    mapping: only those rows are read, and none stays resident after)."""

    def __init__(self, mosaics: Mapping[str, tuple[Path, Path]], step: int) -> None:
        self.step = step
        self._files: list[tuple[fits.HDUList, fits.HDUList]] = []
        shape = None
        for method, (sci_path, wht_path) in mosaics.items():
            sci, wht = fits.open(sci_path, memmap=False), fits.open(wht_path, memmap=False)
            self._files.append((sci, wht))
            sampled = tuple(-(-n // step) for n in sci[0].shape)
            if shape is None:
                shape, first, header = sampled, method, sci[0].header
            elif sampled != shape:
                self.close()
                raise ValueError(
                    f"the {method} mosaic ({sci_path.name}) is {sampled} samples, the "
                    f"{first} mosaic {shape}: not one output grid"
                )
        self.shape: tuple[int, int] = shape  # type: ignore[assignment]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.wcs = wcs_from_header(header)

    def read(self, start: int, stop: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Sampled rows ``start:stop`` of each mosaic, and where all are valid (finite,
        weight > 0)."""
        # Whole rows are read, then sampled: a section with a step reads pixel by pixel.
        rows, step = slice(start * self.step, stop * self.step), self.step
        science, valid = [], np.ones((stop - start, self.shape[1]), dtype=bool)
        for sci, wht in self._files:
            data = np.asarray(sci[0].section[rows, :][::step, ::step], dtype=float)
            valid &= np.isfinite(data) & (wht[0].section[rows, :][::step, ::step] > 0)
            science.append(data)
        return science, valid

    def close(self) -> None:
        for pair in self._files:
            for hdul in pair:
                hdul.close()

    def __enter__(self) -> _MosaicStrips:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class _DrizzledExposures:
    """What `sky_regions` needs of each drizzled exposure, in ``flt_paths`` order: its
    name, exposure time (s), pixel noise (e-/s), footprint on the sampled output grid,
    its pixel-area ratio (input to output) interpolated over that grid, and a random
    64-bit key (one entry per chip on the two-chip CCDs, the chips of an exposure sharing
    its name and key): a sample's coverage code is the sum (modulo 2**64) of the keys of the
    exposures over it, one number per set of exposures whatever their count (two sets
    share a code with a chance of about (sets / 2**32)**2)."""

    rootnames: list[str]
    exptimes: np.ndarray
    noises: np.ndarray
    footprints: list[_Footprint]
    areas: list[Any]
    keys: np.ndarray

    def coverage(self, start: int, stop: int, width: int) -> np.ndarray:
        """The coverage code of each sample of grid rows ``start:stop`` (0: none, or
        within `EDGE_MARGIN` of an exposure's edge)."""
        code = np.zeros((stop - start, width), dtype=np.uint64)
        near_edge = np.zeros((stop - start, width), dtype=bool)
        for key, footprint in zip(self.keys, self.footprints, strict=True):
            part = footprint.rows(start, stop)
            if part is not None:
                columns, mask = part
                code[:, columns] += mask.astype(np.uint64) * key
            part = footprint.rows(start, stop, edge=True)
            if part is not None:
                columns, mask = part
                near_edge[:, columns] |= mask
        code[near_edge] = 0
        return code

    def members(self, x: int, y: int) -> list[int]:
        """The exposures covering sample (x, y), in ``flt_paths`` order."""
        return [index for index, footprint in enumerate(self.footprints) if footprint.covers(x, y)]

    def weights(self, members: list[int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each sample's weights (one row per member): exposure time x area ratio there,
        normalised over the members."""
        ratios = np.array([self.areas[i](x, y) for i in members], dtype=float)
        ratios = np.where(np.isfinite(ratios), ratios, np.nanmean(ratios, axis=1)[:, None])
        weights = self.exptimes[members][:, None] * ratios
        return weights / weights.sum(axis=0)


def _drizzled_exposures(
    flt_paths: Sequence[Path], out_wcs: Any, shape: tuple[int, int], step: int
) -> _DrizzledExposures:
    from scipy.interpolate import LinearNDInterpolator

    rootnames, exptimes, noises, footprints, areas = [], [], [], [], []
    for path in flt_paths:
        with fits.open(path) as hdul:
            primary = hdul[0].header
            for extver in science_extvers(hdul):  # each chip of a two-chip exposure
                header = hdul["SCI", extver].header
                noise = pixel_noise(hdul["ERR", extver].data)
                noises.append(to_rate(primary, header, noise))
                rootnames.append(rootname_of(primary, path))
                exptimes.append(float(primary["EXPTIME"]))
                wcs = wcs_from_header(header)
                footprints.append(_footprint(header, wcs, out_wcs, shape, step))
                node_x, node_y, ratio = _area_ratio_nodes(header, wcs, out_wcs, step)
                areas.append(LinearNDInterpolator(np.column_stack([node_x, node_y]), ratio))
    names = list(dict.fromkeys(rootnames))
    drawn = np.random.default_rng(0).integers(
        1, np.iinfo(np.uint64).max, len(names), dtype=np.uint64
    )
    # The chips of one exposure share its key: they never cover one sample together.
    keys = np.array([drawn[names.index(name)] for name in rootnames], dtype=np.uint64)
    return _DrizzledExposures(
        rootnames, np.array(exptimes), np.array(noises), footprints, areas, keys
    )


def _priorities(index: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random rank for each sample, from its index on the grid
    (SplitMix64's finaliser, its top 53 bits: exact as a float): the `REGION_SAMPLES` of
    lowest rank are a region's random sample, the same whatever the strips."""
    z = index.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return ((z ^ (z >> np.uint64(31))) >> np.uint64(11)).astype(float)


class _Regions:
    """The regions met so far, strip by strip: per coverage code its members, its number
    of samples, and its `REGION_SAMPLES` samples of lowest rank (`_priorities`): rank,
    x, y and each method's value."""

    def __init__(self, n_methods: int) -> None:
        self.n_methods = n_methods
        self.members: dict[int, list[int]] = {}
        self.counts: dict[int, int] = {}
        self.samples: dict[int, np.ndarray] = {}

    def add(self, code: np.ndarray, science: list[np.ndarray], start: int, exposures) -> None:
        y, x = np.nonzero(code)
        if not len(x):
            return
        codes = code[y, x]
        y = y + start
        width = code.shape[1]
        rank = _priorities(y.astype(np.uint64) * np.uint64(width) + x.astype(np.uint64))
        table = np.column_stack([rank, x, y, *(values[y - start, x] for values in science)])
        order = np.lexsort((rank, codes))
        codes, table = codes[order], table[order]
        bounds = np.flatnonzero(np.diff(codes)) + 1
        for first, last in zip(np.r_[0, bounds], np.r_[bounds, len(codes)], strict=True):
            value = int(codes[first])
            if value not in self.members:
                self.members[value] = exposures.members(int(table[first, 1]), int(table[first, 2]))
                self.counts[value], self.samples[value] = 0, table[:0]
            self.counts[value] += int(last - first)
            mine = table[first : min(last, first + REGION_SAMPLES)]
            kept = np.concatenate([self.samples[value], mine])
            if len(kept) > REGION_SAMPLES:
                kept = kept[np.argsort(kept[:, 0], kind="stable")[:REGION_SAMPLES]]
            self.samples[value] = kept

    def large(self, min_pixels: int):
        """(members, samples, x, y, each method's values) of each region of at least
        ``min_pixels`` samples, ordered by their sets of exposures."""
        found = [
            (self.members[value], count, self.samples[value])
            for value, count in self.counts.items()
            if count >= min_pixels
        ]
        found.sort(key=lambda region: sorted(region[0], reverse=True))
        for members, count, samples in found:
            x, y = samples[:, 1].astype(int), samples[:, 2].astype(int)
            yield members, count, x, y, [samples[:, 3 + i] for i in range(self.n_methods)]
