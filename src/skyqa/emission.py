"""How much of each exposure is extended emission: the measure behind the tutorial's rule
of thumb ("localmin for blank sky, match for extended emission").

AstroDrizzle's ``localmin`` takes each exposure's sky from its own pixels' clipped
median (``skystat='median'``, AstroDrizzle's default), so an exposure more than half
covered by emission has that median in the emission: its sky is biased and ``localmin``
leaves a seam. Here each chip is cut into blocks of `BLOCK` x `BLOCK` pixels; a block's
median of the good pixels (by ``final_bits``) ignores stars and hits; the blank-sky level
is the chip's 5th-percentile block corrected up by its own noise; a block is emission
where its median is more than `EMISSION_SIGMAS` block-median standard errors above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.headers import chip_of, rootname_of, science_extvers, to_rate

BLOCK = 8
"""Block size (pixels): 64 pixels per median, so the median's standard error is
1.2533 / 8 of the pixel noise; small enough to follow a nebula's edges."""

EMISSION_SIGMAS = 3.0
"""A block is emission above this many standard errors of its median over the blank
sky: 3 x 1.2533 / 8 = 0.47 x the pixel noise; a blank chip has 0.13 % of such blocks."""

LOW_PERCENTILE = 5.0
"""The blank sky's level: this percentile of the block medians, which for blank sky lies
1.645 standard errors below the sky (added back)."""

EMISSION_COLUMNS = ["rootname", "chip", "n_blocks", "emission_fraction", "noise_e_s"]


def emission_fraction(science: np.ndarray, good: np.ndarray, noise: float) -> tuple[int, float]:
    """(blocks with data, fraction of them in emission) of one chip.

    Parameters
    ----------
    science : ndarray
        The chip's pixels (any unit; ``noise`` in the same).
    good : ndarray of bool
        Pixels to use (good by DQ, finite).
    noise : float
        The per-pixel noise (the median ERR of the good pixels).
    """
    rows, columns = (size // BLOCK * BLOCK for size in science.shape)
    shape = (rows // BLOCK, BLOCK, columns // BLOCK, BLOCK)
    values = np.where(good, science, np.nan)[:rows, :columns].reshape(shape)
    values = values.transpose(0, 2, 1, 3).reshape(shape[0], shape[2], BLOCK * BLOCK)
    enough = np.sum(np.isfinite(values), axis=2) >= BLOCK * BLOCK // 2
    if not np.any(enough) or not np.isfinite(noise) or noise <= 0:
        return int(np.sum(enough)), float("nan")
    from scipy import stats  # here: a run that finds the emission cached imports no scipy

    medians = np.nanmedian(values[enough], axis=1)
    error = 1.2533 * noise / BLOCK
    sky = np.percentile(medians, LOW_PERCENTILE) - stats.norm.ppf(LOW_PERCENTILE / 100) * error
    return len(medians), float(np.mean(medians > sky + EMISSION_SIGMAS * error))


def emission_table(flt_paths: Sequence[Path], good_bits: int) -> pd.DataFrame:
    """`emission_fraction` of every chip of every exposure (`EMISSION_COLUMNS`; ``chip``
    is CCDCHIP, 0 for a one-chip detector; the noise in e-/s)."""
    rows = []
    for path in flt_paths:
        with fits.open(path) as hdul:
            primary = hdul[0].header
            extvers = science_extvers(hdul)
            for extver in extvers:
                science = hdul["SCI", extver]
                data = np.asarray(science.data, dtype=float)
                good = ((hdul["DQ", extver].data & ~good_bits) == 0) & np.isfinite(data)
                noise = float(np.nanmedian(np.where(good, hdul["ERR", extver].data, np.nan)))
                n_blocks, fraction = emission_fraction(data, good, noise)
                rows.append(
                    {
                        "rootname": rootname_of(primary, path),
                        "chip": chip_of(science.header, extver, len(extvers))
                        if len(extvers) > 1
                        else 0,
                        "n_blocks": n_blocks,
                        "emission_fraction": fraction,
                        "noise_e_s": float(to_rate(primary, science.header, noise)),
                    }
                )
    return pd.DataFrame(rows, columns=EMISSION_COLUMNS)
