"""Sky steps across a detector's middle row and column, measured in an overlap.

A pair's sky difference (`skyqa.measure.pair_statistics`) is compared across each side's
half-lines within parts of the overlap where the other side's sky is one level: what is
left is that side's own step, whatever the other exposure's offset or step and the sky
method's constant. `skyqa.checks.seams.exposure_steps` combines an exposure's pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

STEP_SPLITS = ("xa", "ya", "xb", "yb")
"""The half-lines across which a pair measures a sky step: each side's detector (chip)
split at its middle column (``x``) and middle row (``y``), where WFC3/IR's quadrants and
the CCDs' amplifiers meet."""
STEP_COLUMNS = [
    column
    for split in STEP_SPLITS
    for column in (f"{split}_step_e_s", f"{split}_step_uncertainty_e_s")
]
"""Per pair and half-line (`STEP_SPLITS`): how much brighter that side's sky is beyond
its half-line (upper rows, right columns) than before it, against the same pixels of the
other side, and its uncertainty (e-/s; NaN where no part of the overlap spans it). The
pair's difference is compared across the half-line within parts where the three other
half-lines are fixed, so the other side's own step and offset, and the sky method's
constant sky, all cancel (`half_steps`, `skyqa.checks.seams.exposure_steps`)."""
MIN_HALF_SAMPLES = 50
"""Samples needed on each side of a half-line, within one part, for its difference to
count (a median of fewer is too noisy for its uncertainty's normal approximation)."""


def weighted_mean(values: Sequence[float], uncertainties: Sequence[float]) -> tuple[float, float]:
    """The ``1/u^2``-weighted mean of ``values`` and its uncertainty; NaN for none. Values
    known exactly (``u`` = 0, noise-free data) are averaged alone, with no uncertainty."""
    value, error = np.asarray(values, dtype=float), np.asarray(uncertainties, dtype=float)
    if value.size == 0:
        return math.nan, math.nan
    if np.any(error == 0):
        return float(np.mean(value[error == 0])), 0.0
    weights = 1.0 / error**2
    return float(np.sum(weights * value) / np.sum(weights)), float(1.0 / np.sqrt(np.sum(weights)))


def halves_of(x: np.ndarray, y: np.ndarray, shape: tuple[int, ...], side: str) -> dict:
    """Which samples of one side lie beyond its middle column and its middle row."""
    return {f"x{side}": x >= shape[1] / 2, f"y{side}": y >= shape[0] / 2}


def half_steps(
    differences: np.ndarray, kept: np.ndarray, halves: Mapping[str, np.ndarray], scale: float
) -> dict:
    """`STEP_COLUMNS` of one pair: for each half-line, the difference of the median of
    ``differences`` (a - b) beyond it and before it, within each part where the other
    three half-lines are on one side (so a sky that is one level in each quadrant of
    either detector leaves only this half-line's step), weighted over the parts by
    ``1/u^2`` with ``u = scale sqrt(1/n_beyond + 1/n_before)`` (``scale / sqrt(n)``: a
    median's uncertainty). A step of b's is a
    difference of the opposite sign: its columns are negated, so that each means how
    much brighter that exposure is beyond its half-line."""
    row = {}
    for split in STEP_SPLITS:
        others = [halves[other] for other in STEP_SPLITS if other != split]
        part = np.zeros(differences.size, dtype=int)
        for bit, side in enumerate(others):
            part |= side.astype(int) << bit  # which side of each other half-line
        values, uncertainties = [], []
        for code in np.unique(part[kept]):
            beyond = differences[kept & (part == code) & halves[split]]
            before = differences[kept & (part == code) & ~halves[split]]
            if min(beyond.size, before.size) < MIN_HALF_SAMPLES:
                continue
            values.append(float(np.median(beyond) - np.median(before)))
            uncertainties.append(scale * math.sqrt(1.0 / beyond.size + 1.0 / before.size))
        step, uncertainty = weighted_mean(values, uncertainties)
        row[f"{split}_step_e_s"] = step if split.endswith("a") else -step
        row[f"{split}_step_uncertainty_e_s"] = uncertainty
    return row
