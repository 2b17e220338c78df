"""The overlap measurement of a field's FLTs (`skyqa.measure.pair_statistics`), read one
or two exposures at a time and split into parts that can run on different workers.

Which pairs can overlap is decided from the headers alone: each exposure's footprint
(its detector, with a margin, through its WCS with SIP) lies within a cap on the sky, and
two exposures whose caps do not meet cannot share a pixel. Only the pairs left are
measured, in rootname order as before; part ``k`` of ``n`` measures the pairs whose first
exposure is in the ``k``-th of ``n`` equal runs of that order (neighbours on the sky are
mostly near in rootname order, so a part reads its own exposures and few others),
holding at most `EXPOSURES_HELD` exposures' pixels at once. The parts' tables together are the table
`skyqa.measure.measure_pairs` gives for all the exposures.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.headers import rootname_of
from skyqa.measure import (
    NEAR_MARGIN,
    PAIR_COLUMNS,
    ExposurePixels,
    box_outline,
    load_exposure,
    measure_listed_pairs,
    parse_bits,
)

EXPOSURES_HELD = 12
"""Most exposures whose pixels one part holds at once (the last used are kept)."""
PART_EXPOSURES = 48
"""Exposures per part of the overlap measurement (`overlap_parts`)."""


def overlap_parts(n_exposures: int) -> int:
    """How many parts the overlap measurement of ``n_exposures`` is split into: one
    below 1.5 x `PART_EXPOSURES` (72 exposures; horsehead-sim's 18 and mini-sim's 8 are
    one job, as before), then about one per `PART_EXPOSURES`. It depends on the field
    only, not on the workers, so that the parts' cache entries serve any machine."""
    return max(1, round(n_exposures / PART_EXPOSURES))


@dataclass(frozen=True)
class Cap:
    """A circle on the sky holding an exposure's footprint (one chip's, ``extver`` > 0, on a
    two-chip detector): its centre (unit vector) and radius (radians)."""

    rootname: str
    path: Path
    centre: np.ndarray
    radius: float
    extver: int = 0


def footprint_cap(path: Path, extver: int = 0) -> Cap:
    """The cap around an FLT's detector (one chip's, ``extver`` > 0), and `NEAR_MARGIN`
    pixels beyond, from its headers: no pixel is read."""
    from astropy.wcs import WCS, FITSFixedWarning

    with fits.open(path) as hdul:
        header = hdul["SCI", max(extver, 1)].header
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, hdul)
        rootname = rootname_of(hdul[0].header, path)
        nx, ny = header["NAXIS1"], header["NAXIS2"]
    x, y = box_outline(-NEAR_MARGIN, nx + NEAR_MARGIN, ny + NEAR_MARGIN)
    ra, dec = (np.deg2rad(value) for value in wcs.all_pix2world(x, y, 0))
    points = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    centre = points.mean(axis=0)
    centre /= np.linalg.norm(centre)
    radius = float(np.max(np.arccos(np.clip(points @ centre, -1.0, 1.0))))
    return Cap(rootname, path, centre, radius, extver)


def candidate_pairs(caps: Sequence[Cap]) -> list[tuple[int, int]]:
    """The pairs (i < j) of ``caps`` that meet (1 % slack for the sampled outline); two
    chips of one exposure are never a pair (the chip gap lies between them)."""
    centres = np.array([cap.centre for cap in caps]).reshape(-1, 3)
    radii = np.array([cap.radius for cap in caps])
    pairs = []
    for i in range(len(caps) - 1):
        apart = np.arccos(np.clip(centres[i + 1 :] @ centres[i], -1.0, 1.0))
        meet = np.flatnonzero(apart <= 1.01 * (radii[i] + radii[i + 1 :]))
        pairs += [
            (i, i + 1 + int(j)) for j in meet if caps[i + 1 + int(j)].rootname != caps[i].rootname
        ]
    return pairs


class _HeldExposures:
    """Exposures' pixels read on demand, the `EXPOSURES_HELD` last used kept."""

    def __init__(self, good_bits: int, size: int) -> None:
        self.good_bits, self.size = good_bits, size
        self._held: OrderedDict[tuple[Path, int], ExposurePixels] = OrderedDict()

    def get(self, cap: Cap) -> ExposurePixels:
        key = (cap.path, cap.extver)
        if key in self._held:
            self._held.move_to_end(key)
        else:
            self._held[key] = load_exposure(cap.path, self.good_bits, cap.extver)
            while len(self._held) > self.size:
                self._held.popitem(last=False)
        return self._held[key]


def measure_overlaps(
    flt_paths: Sequence[Path],
    final_bits: str | int,
    min_pixels: int = 500,
    step: int = 2,
    part: int = 0,
    parts: int = 1,
    chips: int = 1,
) -> pd.DataFrame:
    """Pair statistics (`skyqa.measure.pair_columns`) of the overlapping pairs of FLTs
    whose first exposure (in rootname order) is in part ``part`` of ``parts``. With
    ``chips`` 2 each chip of an exposure is measured on its own, against every chip of
    the other exposures (in e-/s; the table has the chips' CCDCHIP).

    Raises
    ------
    ValueError
        If ``part`` is not one of the ``parts``.
    """
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}: parts are numbered 0 to {parts - 1}")
    extvers = range(1, chips + 1) if chips > 1 else (0,)
    caps = sorted(
        (footprint_cap(Path(path), extver) for path in flt_paths for extver in extvers),
        key=lambda cap: (cap.rootname, cap.extver),
    )
    mine = [(i, j) for i, j in candidate_pairs(caps) if i * parts // len(caps) == part]
    held = _HeldExposures(parse_bits(final_bits), EXPOSURES_HELD)
    table = measure_listed_pairs(
        mine, lambda i: held.get(caps[i]), step, min_pixels, chips=chips > 1
    )
    return _in_pair_order(table) if chips > 1 else table


def join_parts(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The parts' tables as one, in rootname order of the pairs (as one part gives it)."""
    columns = list(tables[0].columns) if tables else PAIR_COLUMNS
    tables = [table for table in tables if len(table)]  # an empty part has no types
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    return _in_pair_order(table)


def _in_pair_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by (exposure_a, exposure_b), stably: a pair's chips keep their file order."""
    return table.sort_values(["exposure_a", "exposure_b"], kind="stable", ignore_index=True)


__all__ = [
    "Cap",
    "candidate_pairs",
    "footprint_cap",
    "join_parts",
    "measure_overlaps",
    "overlap_parts",
]
