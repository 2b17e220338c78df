"""What the pair table (`skyqa.measure`) tells, before any pixel is read again.

A sky method's seam in an overlap is the pair's raw difference less the two MDRIZSKY the
method subtracted (`seam_table`); a seam score per method is the overlap-weighted RMS of
the noise-normalised seams. The overlap graph's connected groups (`overlap_groups`: a
group that overlaps nothing else has an undetermined relative level) and a weighted
least-squares solution for per-exposure sky offsets (`solve_offsets`, with
`offset_uncertainties`) are skyqa's own oracle to hold drizzlepac's ``match`` against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def seam_table(pairs: pd.DataFrame, mdrizsky: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per pair, each method's seam in units of the per-pixel noise.

    Adds one column per method: ``(raw_median - (sky_a - sky_b)) / pixel_noise``, where
    sky is the method's MDRIZSKY of each exposure.
    """
    table = pairs.copy()
    for method, sky_table in mdrizsky.items():
        sky = sky_table.set_index("rootname")["mdrizsky_e_s"]
        seam = table["raw_median_e_s"] - (
            table["exposure_a"].map(sky).to_numpy() - table["exposure_b"].map(sky).to_numpy()
        )
        table[method] = seam / table["pixel_noise_e_s"]
    return table


def seam_score(seams: pd.DataFrame, method: str) -> float:
    """Overlap-weighted RMS of a method's noise-normalised pair differences."""
    weights = seams["n_pixels"].to_numpy(dtype=float)
    values = seams[method].to_numpy(dtype=float)
    if weights.sum() == 0:
        return float("nan")
    return float(np.sqrt(np.sum(weights * values**2) / weights.sum()))


def overlap_groups(pairs: pd.DataFrame, rootnames: Sequence[str]) -> list[list[str]]:
    """Connected groups of exposures in the overlap graph, largest first."""
    parent = {name: name for name in rootnames}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for a, b in zip(pairs["exposure_a"], pairs["exposure_b"], strict=True):
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for name in rootnames:
        groups.setdefault(root(name), []).append(name)
    return sorted(groups.values(), key=lambda group: (-len(group), group))


def _difference_design(
    pairs: pd.DataFrame, rootnames: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pair differences as a linear system, ``raw_median_ab = o_a - o_b``: its design
    matrix (a row a pair, a column an exposure), targets and uncertainties (e-/s)."""
    index = {name: position for position, name in enumerate(rootnames)}
    design = np.zeros((len(pairs), len(rootnames)))
    for row, pair in enumerate(pairs.itertuples(index=False)):
        design[row, index[pair.exposure_a]] = 1.0
        design[row, index[pair.exposure_b]] = -1.0
    target = pairs["raw_median_e_s"].to_numpy(dtype=float)
    uncertainty = np.maximum(pairs["uncertainty_e_s"].to_numpy(dtype=float), 1e-12)
    return design, target, uncertainty


def solve_offsets(pairs: pd.DataFrame, rootnames: Sequence[str]) -> pd.Series:
    """Per-exposure sky offsets (e-/s) that best explain the pair differences.

    Weighted least squares of ``raw_median_ab = o_a - o_b`` (weights 1/uncertainty^2).
    Each connected group is fixed as ``match`` fixes it: its lowest offset is 0.
    """
    index = {name: position for position, name in enumerate(rootnames)}
    groups = overlap_groups(pairs, rootnames)
    differences, target, uncertainty = _difference_design(pairs, rootnames)
    constraints = np.zeros((len(groups), len(rootnames)))
    for row, group in enumerate(groups):
        constraints[row, [index[name] for name in group]] = 1.0  # each group sums to 0 ...
    design = np.vstack([differences, constraints])
    weights = np.concatenate([1.0 / uncertainty, np.ones(len(groups))])
    target = np.concatenate([target, np.zeros(len(groups))])
    solution, *_ = np.linalg.lstsq(design * weights[:, None], target * weights, rcond=None)
    offsets = pd.Series(solution, index=list(rootnames))
    for group in groups:  # ... then, like match, starts at 0
        offsets[group] -= offsets[group].min()
    return offsets


def offset_uncertainties(pairs: pd.DataFrame, rootnames: Sequence[str]) -> pd.Series:
    """The uncertainty (e-/s) of each `solve_offsets` offset relative to its group's
    level: the square root of the diagonal of the weighted least-squares covariance,
    ``(A^T W A)^+``, of the pair differences' uncertainties (the level of a group is
    free: the pseudo-inverse takes the solution whose group sums are fixed)."""
    design, _, uncertainty = _difference_design(pairs, rootnames)
    weights = 1.0 / uncertainty**2
    covariance = np.linalg.pinv(design.T @ (weights[:, None] * design))
    return pd.Series(np.sqrt(np.clip(np.diag(covariance), 0.0, None)), index=list(rootnames))
