"""Detector columns that stand out from their neighbours without a DQ flag: a hot or dead
column that would streak the mosaic (`skyqa.checks.inspection.column_verdict`).

Each good pixel (by ``final_bits``) less the median of its row neighbours, the column's
median of those differences, centred over the columns, in units of the larger of the
columns' robust spread and the column's own uncertainty.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.headers import chip_of, rootname_of, science_extvers, to_rate
from skyqa.measure import parse_bits

COLUMN_OUTLIER_COLUMNS = ["rootname", "column", "deviation_e_s", "score"]


def column_medians(sci: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Median of each column over its ``good`` pixels; NaN for a column with none.

    The same values as ``np.nanmedian`` of the masked image along axis 0, from one sort
    (NaN sorts last) instead of a per-column loop.
    """
    ordered = np.sort(np.where(good, sci, np.nan).astype(float), axis=0)
    counts = good.sum(axis=0)
    columns = np.arange(sci.shape[1])
    upper = ordered[np.minimum(counts // 2, sci.shape[0] - 1), columns]
    lower = ordered[np.maximum((counts - 1) // 2, 0), columns]
    return np.where(counts > 0, (lower + upper) / 2.0, np.nan)


# A pixel's neighbours along its row: five on each side, itself left out (with itself in,
# a tenth of the differences would be exactly zero and their spread could vanish).
ROW_NEIGHBOURS = np.array([[True] * 5 + [False] + [True] * 5])


def column_deviations(
    sci: np.ndarray, dq: np.ndarray, good_bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each column's median, over its good pixels, of the pixel less the median of its 10
    row neighbours (`ROW_NEIGHBOURS`), centred on the median over columns; and each
    column's sigma: the robust standard deviation (1.4826 MAD) of those medians over all
    columns, or, where larger, the column's own uncertainty (its median's standard error,
    1.2533 x 1.4826 MAD / sqrt(n), from its pixels' differences).

    Compared row by row, emission that changes along a column (a nebula's edge, a pillar)
    cancels: only what is offset in one column over its whole length stands out, which is
    what a hot or dead column is. Comparing whole-column medians with the neighbouring
    columns' instead made bright structured emission look like a bad column (28 sigma on
    the m16-uvis replica's F657N nebula), and a column crossing bright emission is noisier
    than the sky's columns, hence its own uncertainty. Flagged pixels count as their
    column's median in a neighbour's comparison. Beyond the detector's edge the nearest
    column stands in (a mirror made a sky gradient look like an edge column at 8 sigma), so
    the five columns at each edge are compared in part with themselves: a bad column 0 shows
    about half its offset.
    """
    from scipy import ndimage  # here, not at the top: a warm QA run never needs scipy

    good = ((dq & ~good_bits) == 0) & np.isfinite(sci)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # wholly flagged columns: NaN
        columns = column_medians(sci, good)
        fill = np.nan_to_num(columns, nan=np.nanmedian(columns) if good.any() else 0.0)
        filled = np.where(good, sci, fill[np.newaxis, :]).astype(float)
        along = ndimage.median_filter(filled, footprint=ROW_NEIGHBOURS, mode="nearest")
        difference = filled - along
        medians = column_medians(difference, good)
        deviation = medians - np.nanmedian(medians)
        spread = 1.4826 * np.nanmedian(np.abs(deviation))
        scatter = column_medians(np.abs(difference - medians[np.newaxis, :]), good)
        own = 1.2533 * 1.4826 * scatter / np.sqrt(good.sum(axis=0))
    return deviation, np.fmax(own, spread)


def column_outlier(sci: np.ndarray, dq: np.ndarray, good_bits: int) -> tuple[int, float, float]:
    """The column (0-based) that differs most from its neighbours: (column, deviation, score).

    Each pixel good by ``good_bits`` is compared with its row neighbours and the column's
    median difference taken (`column_deviations`); the score is that median in the column's
    sigma (the robust spread over all columns, or the column's own uncertainty if larger).
    """
    deviation, sigma = column_deviations(sci, dq, good_bits)
    with np.errstate(all="ignore"):
        # a flat image stands out nowhere (0 / 0 is no outlier); a flagged column is NaN
        score = np.where(deviation == 0, 0.0, np.abs(deviation) / sigma)
    worst = int(np.nanargmax(score)) if np.isfinite(score).any() else 0
    return worst, float(deviation[worst]), float(score[worst])


def column_outliers(flt_paths: Sequence[Path], final_bits: str | int) -> pd.DataFrame:
    """`column_outlier` of every SCI/DQ of every FLT (columns `COLUMN_OUTLIER_COLUMNS`;
    one row per chip with a ``chip`` column (CCDCHIP) on the two-chip CCDs, whose
    deviations are turned from electrons into e-/s)."""
    good_bits = parse_bits(final_bits)
    rows = []
    two_chips = False
    for path in flt_paths:
        with fits.open(path) as hdul:
            primary = hdul[0].header
            rootname = rootname_of(primary, path)
            extvers = science_extvers(hdul)
            two_chips |= len(extvers) > 1
            for extver in extvers:
                science = hdul["SCI", extver]
                column, deviation, score = column_outlier(
                    science.data, hdul["DQ", extver].data, good_bits
                )
                row = dict(
                    zip(
                        COLUMN_OUTLIER_COLUMNS,
                        (rootname, column, to_rate(primary, science.header, deviation), score),
                        strict=True,
                    )
                )
                rows.append({**row, "chip": chip_of(science.header, extver, len(extvers))})
    columns = [*COLUMN_OUTLIER_COLUMNS, "chip"] if two_chips else COLUMN_OUTLIER_COLUMNS
    return pd.DataFrame(rows, columns=columns)
