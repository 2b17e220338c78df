"""What an alignment claims about itself: its predicted error at the detector.

A TweakReg fit of N matched stars says how well it is determined: its residuals give the
per-star scatter, and the stars' positions give the leverage of each fitted parameter.
The covariance of the linear fit (shift, rotation and scale for ``rscale``), carried to a
grid over each exposure's detector, is the fit's own claim of how far its WCS can be from
the sky there (`fit_error_mas`).

The fit cannot see some errors, because they are common to all its stars or not in the
visit mosaic it fits. The check adds each in quadrature, with a stated size
(`skyqa.checks.alignment.ErrorBudget`):

- each exposure's pointing relative to its visit: tweakback carries one solution to
  every FLT of the visit, so an exposure's own offset from the visit mosaic stays;
- the distortion solution's residual, the same for every star of a detector position;
- the reference catalog's error in carrying its positions to the exposures' epoch, in so
  far as the stars share it.

The RMS of a fit of few stars is a poor estimate of its scatter, so the fit term uses the
upper one-sigma confidence bound of that RMS (`small_sample_factor`), not the RMS itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skyqa.align import match_rows

MAS_PER_DEG = 3.6e6

FIT_PARAMETERS = {"shift": 2, "rscale": 4, "general": 6}
"""Free parameters of TweakReg's ``fitgeometry`` values (x and y together)."""

CONFIDENCE = 0.5 * math.erfc(1.0 / math.sqrt(2.0))
"""The one-sided probability of the small-sample bound: the RMS is taken at the upper end
of its one-sigma interval (15.9 % of fits with a true scatter this large measure less)."""


@dataclass(frozen=True)
class FitClaim:
    """A visit fit's matched stars on a tangent plane (arcsec) and its covariance.

    ``covariance`` is None where the fit has no degree of freedom left (as many
    parameters as coordinates): it then claims nothing.
    """

    n_stars: int
    dof: int
    rms_mas: float
    small_sample_factor: float
    centre: tuple[float, float]
    covariance: np.ndarray | None
    fitgeometry: str


def small_sample_factor(dof: int) -> float:
    """How much larger than its measured RMS a fit's scatter can be at `CONFIDENCE`:
    ``sqrt(dof / chi2_dof(CONFIDENCE))`` (the RMS squared times ``dof`` is chi-square with
    ``dof`` degrees of freedom); inf for no degree of freedom."""
    if dof <= 0:
        return math.inf
    from scipy import stats  # here: a run that finds its placement cached imports no scipy

    return float(math.sqrt(dof / stats.chi2.ppf(CONFIDENCE, dof)))


def _design(u: np.ndarray, v: np.ndarray, fitgeometry: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the linear fit's design matrix for x and y at tangent-plane points."""
    one, zero = np.ones_like(u), np.zeros_like(u)
    if fitgeometry == "shift":
        return np.stack([one, zero], 1), np.stack([zero, one], 1)
    if fitgeometry == "rscale":
        return np.stack([one, zero, u, -v], 1), np.stack([zero, one, v, u], 1)
    if fitgeometry == "general":
        return (
            np.stack([one, zero, u, v, zero, zero], 1),
            np.stack([zero, one, zero, zero, u, v], 1),
        )
    raise ValueError(f"fitgeometry {fitgeometry!r} is not one of {sorted(FIT_PARAMETERS)}")


def _tangent_arcsec(ra, dec, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (arcsec, east and north) of sky positions from ``centre`` (degrees)."""
    ra0, dec0 = centre
    east = (np.asarray(ra, float) - ra0) * math.cos(math.radians(dec0)) * 3600.0
    north = (np.asarray(dec, float) - dec0) * 3600.0
    return east, north


def fit_claim(rows: Sequence[Sequence[str]], fitgeometry: str) -> FitClaim:
    """The claim of a visit fit from its TweakReg ``*_catalog_fit.match`` rows
    (`skyqa.align.match_rows`).

    The residuals (columns 7-8) are in the fit frame's pixels; their scale comes from the
    matched stars themselves (sky separation over fit-frame separation, columns 16-17 and
    9-10), so no frame needs to be rebuilt.
    """
    n_parameters = FIT_PARAMETERS.get(fitgeometry)
    if n_parameters is None:
        raise ValueError(f"fitgeometry {fitgeometry!r} is not one of {sorted(FIT_PARAMETERS)}")
    table = np.array([[float(row[i]) for i in (6, 7, 8, 9, 15, 16)] for row in rows], float)
    n_stars = len(table)
    dof = 2 * n_stars - n_parameters
    if n_stars == 0:
        return FitClaim(0, dof, math.nan, math.inf, (math.nan, math.nan), None, fitgeometry)
    centre = (float(np.mean(table[:, 4])), float(np.mean(table[:, 5])))
    east, north = _tangent_arcsec(table[:, 4], table[:, 5], centre)
    scale_mas = _frame_scale_mas(table[:, 2], table[:, 3], east, north)
    squared = float(np.sum(table[:, 0] ** 2 + table[:, 1] ** 2)) * scale_mas**2
    if dof <= 0 or not math.isfinite(scale_mas):
        return FitClaim(n_stars, dof, math.nan, math.inf, centre, None, fitgeometry)
    variance = squared / dof  # per axis, mas^2
    rows_x, rows_y = _design(east, north, fitgeometry)
    normal = rows_x.T @ rows_x + rows_y.T @ rows_y
    try:
        covariance = variance * np.linalg.inv(normal)
    except np.linalg.LinAlgError:  # stars on one point or one line: rotation undetermined
        covariance = None
    return FitClaim(
        n_stars, dof, math.sqrt(variance), small_sample_factor(dof), centre, covariance, fitgeometry
    )


def _frame_scale_mas(x: np.ndarray, y: np.ndarray, east: np.ndarray, north: np.ndarray) -> float:
    """mas per fit-frame pixel: the median ratio of the stars' sky and frame separations."""
    first, second = np.triu_indices(len(x), 1)
    frame = np.hypot(x[first] - x[second], y[first] - y[second])
    sky = np.hypot(east[first] - east[second], north[first] - north[second]) * 1000.0
    good = frame > 1.0
    return float(np.median(sky[good] / frame[good])) if np.any(good) else math.nan


def fit_error_mas(claim: FitClaim, ra, dec) -> float:
    """The fit's claimed 2-D RMS error (mas) over sky positions (a detector's grid), with
    the small-sample bound; inf where the fit claims nothing."""
    if claim.covariance is None:
        return math.inf
    east, north = _tangent_arcsec(ra, dec, claim.centre)
    rows_x, rows_y = _design(east, north, claim.fitgeometry)
    variance = np.einsum("ij,jk,ik->i", rows_x, claim.covariance, rows_x) + np.einsum(
        "ij,jk,ik->i", rows_y, claim.covariance, rows_y
    )
    return float(math.sqrt(np.mean(variance))) * claim.small_sample_factor


def visit_claim(match_path, fitgeometry: str) -> FitClaim:
    """`fit_claim` of a visit's ``*_catalog_fit.match`` file (no rows: it claims nothing)."""
    return fit_claim(match_rows(match_path), fitgeometry)
