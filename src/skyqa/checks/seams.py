"""Checks of seams between overlapping exposures, from skyqa's own pair measurements."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from skyqa.checks.chips import chip_label
from skyqa.checks.sky import tolerance_of
from skyqa.oracle import offset_uncertainties, overlap_groups, seam_score, solve_offsets
from skyqa.steps import STEP_COLUMNS, weighted_mean
from skyqa.verdict import Verdict, is_finite

SIGNIFICANCE = 2.0
"""A pair's seam is one when it exceeds the threshold by more than this many of its
uncertainties (one-sided: a pair exactly at the threshold fails 2.3% of the time, one a
third below it far less). Until issue 17 a pair with an uncertainty below a third of the
threshold failed as soon as it passed it: on mini-sim seed 101 a pair whose true seam,
from the injected pedestals, was 0.056 was measured at 0.104 +- 0.032 and failed."""


def check_seam_free(seams: pd.DataFrame, method: str, max_noise_fraction: float) -> list[Verdict]:
    """Every overlapping pair's sky difference, after the method's MDRIZSKY, is small.

    A pair fails when its difference exceeds ``max_noise_fraction`` of the per-pixel
    noise by more than `SIGNIFICANCE` times its measurement uncertainty: a difference
    within its own noise of the limit is not called a seam. A pair whose seam,
    uncertainty or noise is not a finite number fails: it was not measured.
    """
    verdicts = []
    for _, pair in seams.iterrows():
        seam, noise = float(pair[method]), float(pair.pixel_noise_e_s)
        uncertainty = float(pair.uncertainty_e_s) / noise if noise > 0 else math.nan
        finite = is_finite(seam) and is_finite(uncertainty)
        # The part of the seam beyond its own noise, with the seam's sign: what is judged.
        beyond = math.copysign(max(abs(seam) - SIGNIFICANCE * uncertainty, 0.0), seam)
        failed = not finite or abs(beyond) > max_noise_fraction
        difference = seam * noise
        verdicts.append(
            Verdict(
                "Overlap is seam-free",
                seam_subject(pair, method),
                not failed,
                f"{seam:+.3f} x pixel noise ({difference:+.5f} e-/s, measurement uncertainty "
                f"{uncertainty:.3f} x noise)"
                + (
                    ""
                    if finite
                    else "; not a number: the pair's difference, uncertainty or noise "
                    "(a MDRIZSKY that is NaN, or an overlap with no usable pixel)"
                ),
                f"|difference| - {SIGNIFICANCE:g} x its uncertainty <= {max_noise_fraction} x "
                f"pixel noise ({noise:.4f} e-/s)",
                "the two exposures' skies disagree after subtraction: compare their MDRIZSKY "
                "in the log, look at the overlap in the mosaic, and read the log for "
                "'Reverting sky computation'.",
                item=method,
                value=beyond,  # NaN whenever the seam or its uncertainty is
                limit=max_noise_fraction,
            )
        )
    return verdicts


def chi2_sf(value: float, dof: int) -> float:
    """The chance that a chi-square with ``dof`` (>= 1) degrees of freedom exceeds
    ``value``: the regularised upper gamma function Q(dof/2, value/2), in closed form for
    whole ``dof`` (no scipy: a fully cached run imports none)."""
    half = value / 2.0
    if not math.isfinite(value):
        return 0.0 if value > 0 else math.nan
    if value <= 0:
        return 1.0
    if dof % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, dof // 2):
            term *= half / i
            total += term
        return math.exp(-half) * total
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(half) * math.exp(-half) / math.gamma(1.5)
    for i in range((dof - 1) // 2):
        total += term
        term *= half / (i + 1.5)
    return total


def exposure_seam_statistics(seams: pd.DataFrame, method: str) -> pd.DataFrame:
    """Each exposure's pairs judged together: their seams (x pixel noise, oriented as
    the exposure less its neighbour) and uncertainties give a weighted mean (what a
    pedestal on the exposure shows in every pair) and an excess scatter (what a sky step
    or a gradient across it shows: pairs on its two sides disagree, and cancel in a mean).

    The excess scatter is ``sqrt(max(chi2 - dof, 0) / sum(w))`` with ``w = 1/u^2``,
    ``chi2 = sum(w (s - mean)^2)`` and ``dof = n - 1``: the RMS of the seams about their
    mean beyond what their uncertainties explain (a half-exposure step of ``h`` gives
    about ``h / 2``). ``p_scatter`` is the chance of so large a chi-square from noise.

    Returns
    -------
    pandas.DataFrame
        ``rootname``, ``n_pairs``, ``mean``, ``mean_uncertainty``, ``scatter``,
        ``chi2``, ``p_scatter`` and ``pairs`` (the oriented seams, by neighbour).
    """
    oriented: dict[str, list[tuple[str, float, float]]] = {}
    for _, pair in seams.iterrows():
        noise = float(pair.pixel_noise_e_s)
        seam = float(pair[method])
        uncertainty = float(pair.uncertainty_e_s) / noise if noise > 0 else math.nan
        name = pair_name(pair)
        oriented.setdefault(pair.exposure_a, []).append((name, seam, uncertainty))
        oriented.setdefault(pair.exposure_b, []).append((name, -seam, uncertainty))
    rows = []
    for rootname, entries in oriented.items():
        values = np.array([seam for _, seam, _ in entries])
        weights = 1.0 / np.array([u for _, _, u in entries]) ** 2
        total = float(np.sum(weights))
        mean = float(np.sum(weights * values) / total)
        chi2 = float(np.sum(weights * (values - mean) ** 2))
        dof = len(entries) - 1
        rows.append(
            {
                "rootname": rootname,
                "n_pairs": len(entries),
                "mean": mean,
                "mean_uncertainty": 1.0 / math.sqrt(total) if total > 0 else math.nan,
                "scatter": math.sqrt(max(chi2 - dof, 0.0) / total) if total > 0 else math.nan,
                "chi2": chi2,
                "p_scatter": chi2_sf(chi2, dof) if dof > 0 else 1.0,
                "pairs": sorted(
                    ((name, seam) for name, seam, _ in entries), key=lambda item: -abs(item[1])
                ),
            }
        )
    return pd.DataFrame(rows)


SCATTER_P = 0.5 * math.erfc(SIGNIFICANCE / math.sqrt(2.0))
"""An exposure's scatter is judged only where noise alone makes so large a chi-square
less often than this (2.3 %): the pair rule's margin of `SIGNIFICANCE` uncertainties,
one-sided."""


def exposure_steps(seams: pd.DataFrame) -> pd.DataFrame:
    """Each exposure's (chip's) sky step across its middle column (``x``) and middle row
    (``y``): the weighted mean, over its pairs, of how much brighter its sky is beyond
    the half-line than before it against the same pixels of the other exposure
    (`skyqa.steps.STEP_COLUMNS`), x the pair's pixel noise, weighted by ``1/u^2``. A
    constant sky, the neighbours' offsets and their own steps cancel in each pair's
    measurement, so the sky method does not enter. A half-line that no overlap spans has
    no step (NaN): nothing measured it.

    Returns
    -------
    pandas.DataFrame
        ``rootname``, ``chip`` (0 for a one-chip detector), ``n_pairs`` (pairs that
        measured a step), then ``step`` and ``uncertainty`` along ``x`` and ``y`` (x pixel
        noise): ``x_step``, ``x_uncertainty``, ``y_step``, ``y_uncertainty``.
    """
    axes = ("x", "y")
    columns = [
        "rootname",
        "chip",
        "n_pairs",
        *(f"{a}_{n}" for a in axes for n in ("step", "uncertainty")),
    ]
    if not set(STEP_COLUMNS) <= set(seams.columns):
        return pd.DataFrame(columns=columns)  # a table without its pairs' steps
    chips = "chip_a" in seams
    entries: dict[tuple[str, int], dict[str, list[tuple[float, float]]]] = {}
    for _, pair in seams.iterrows():
        noise = float(pair.pixel_noise_e_s)
        for side in ("a", "b"):
            key = (pair[f"exposure_{side}"], int(pair[f"chip_{side}"]) if chips else 0)
            found = entries.setdefault(key, {axis: [] for axis in axes})
            for axis in axes:
                step = float(pair[f"{axis}{side}_step_e_s"]) / noise
                uncertainty = float(pair[f"{axis}{side}_step_uncertainty_e_s"]) / noise
                if is_finite(step) and is_finite(uncertainty):
                    found[axis].append((step, uncertainty))
    rows = []
    for (rootname, chip), found in entries.items():
        row: dict = {"rootname": rootname, "chip": chip}
        row["n_pairs"] = max(len(found[axis]) for axis in axes)
        for axis in axes:
            values, uncertainties = zip(*found[axis], strict=True) if found[axis] else ((), ())
            row[f"{axis}_step"], row[f"{axis}_uncertainty"] = weighted_mean(values, uncertainties)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def check_exposure_seams(
    seams: pd.DataFrame, method: str, max_noise_fraction: float
) -> list[Verdict]:
    """Each exposure's overlaps, judged jointly (`exposure_seam_statistics`): their mean
    within ``max_noise_fraction`` beyond `SIGNIFICANCE` of its uncertainty (a pedestal
    on the exposure), and their excess scatter within ``max_noise_fraction`` wherever it
    is significant (p below `SCATTER_P`: a step or gradient across the exposure, which
    the pairs on its two sides see with opposite signs); and its sky step across its
    middle row and column (`exposure_steps`), within ``max_noise_fraction`` beyond
    `SIGNIFICANCE` of its uncertainty, as a pair's seam is. An exposure with one pair has
    no scatter to judge, one whose overlaps span neither half-line no step; a value that
    is not a finite number fails."""
    verdicts = []
    for row in exposure_seam_statistics(seams, method).itertuples(index=False):
        subject = f"exposure {row.rootname} ({method}, {row.n_pairs} overlapping pairs)"
        listed = ", ".join(f"{name} {seam:+.3f}" for name, seam in row.pairs[:6])
        more = f" and {row.n_pairs - 6} more" if row.n_pairs > 6 else ""
        finite = is_finite(row.mean) and is_finite(row.mean_uncertainty)
        beyond = math.copysign(
            max(abs(row.mean) - SIGNIFICANCE * row.mean_uncertainty, 0.0), row.mean
        )
        verdicts.append(
            Verdict(
                "Exposure's overlaps agree on average",
                subject,
                finite and abs(beyond) <= max_noise_fraction,
                f"mean seam {row.mean:+.3f} x pixel noise (uncertainty "
                f"{row.mean_uncertainty:.3f}) over its pairs: {listed}{more}"
                + ("" if finite else "; not a number: a pair's seam or uncertainty"),
                f"|mean| - {SIGNIFICANCE:g} x its uncertainty <= {max_noise_fraction} x "
                "pixel noise",
                "every overlap of this exposure leans the same way: its sky value is off "
                "by about the mean; compare its MDRIZSKY with its neighbours' in the log.",
                item=method,
                value=beyond,
                limit=max_noise_fraction,
            )
        )
        if row.n_pairs >= 2:
            verdicts.append(
                _scatter_verdict(row, subject, f"{listed}{more}", method, max_noise_fraction)
            )
    return [*verdicts, *_step_verdicts(seams, method, max_noise_fraction)]


def _scatter_verdict(
    row, subject: str, listed: str, method: str, max_noise_fraction: float
) -> Verdict:
    """The scatter rule of `check_exposure_seams` for one exposure's statistics."""
    significant = row.p_scatter < SCATTER_P
    scatter = float(row.scatter) if significant or not is_finite(row.scatter) else 0.0
    return Verdict(
        "Exposure's overlaps agree with each other",
        subject,
        is_finite(row.scatter) and scatter <= max_noise_fraction,
        f"excess scatter {row.scatter:.3f} x pixel noise about their mean (chi-square "
        f"{row.chi2:.1f} on {row.n_pairs - 1} degrees of freedom, p = {row.p_scatter:.2g}"
        + ("" if significant else f", not significant at {SCATTER_P:.3f}")
        + f"); its pairs: {listed}",
        f"excess scatter <= {max_noise_fraction} x pixel noise where p < {SCATTER_P:.3f}",
        "its overlaps disagree with each other beyond their uncertainties: a sky step "
        "or gradient across this exposure (pairs on its two sides lean opposite "
        "ways), or one neighbour's sky off (one pair far from the rest): look at the "
        "pairs listed, largest first, and at the exposure in the mosaic.",
        item=method,
        value=scatter,
        limit=max_noise_fraction,
    )


def step_subject(row, method: str) -> str:
    """The subject of an `exposure_steps` row's verdict."""
    where = chip_label(row.rootname, row.chip)
    pairs = "1 pair" if row.n_pairs == 1 else f"{row.n_pairs} pairs"
    return f"exposure {where} ({method}, {pairs} spanning its halves)"


def _step_verdicts(seams: pd.DataFrame, method: str, max_noise_fraction: float) -> list:
    """The step rule of `check_exposure_seams` (`exposure_steps`): one verdict an
    exposure (chip) with a step measured along x or y, judged on the larger of the two
    beyond `SIGNIFICANCE` of its uncertainty."""
    verdicts = []
    for row in exposure_steps(seams).itertuples(index=False):
        measured, beyond = [], []
        for axis, across in (("x", "its middle column"), ("y", "its middle row")):
            step, uncertainty = getattr(row, f"{axis}_step"), getattr(row, f"{axis}_uncertainty")
            if not is_finite(step):
                measured.append(f"across {across}: not measured (no overlap spans it)")
                continue
            beyond.append(math.copysign(max(abs(step) - SIGNIFICANCE * uncertainty, 0.0), step))
            measured.append(f"across {across} {step:+.3f} (uncertainty {uncertainty:.3f})")
        if not beyond:
            continue  # no overlap spans either half-line: nothing was measured
        worst = max(beyond, key=abs)
        verdicts.append(
            Verdict(
                "Exposure's sky is level across its detector",
                step_subject(row, method),
                abs(worst) <= max_noise_fraction,
                "its sky beyond less before, against the same pixels of its neighbours, x "
                "pixel noise: " + "; ".join(measured),
                f"|step| - {SIGNIFICANCE:g} x its uncertainty <= {max_noise_fraction} x "
                "pixel noise (a step is a seam within the exposure)",
                "this exposure's two halves hold different skies, which one sky value per "
                "exposure cannot level: compare its FLT's sky on the two sides of the "
                "half-line named (an amplifier or quadrant offset, or a gradient the "
                "pipeline did not remove), then the mosaic there.",
                item=method,
                value=worst,
                limit=max_noise_fraction,
            )
        )
    return verdicts


def check_score_below(
    seams: pd.DataFrame, method: str, reference: str = "localmin"
) -> list[Verdict]:
    """The method's seam score is lower than the reference method's (both finite)."""
    score, reference_score = seam_score(seams, method), seam_score(seams, reference)
    finite = is_finite(score) and is_finite(reference_score)
    return [
        Verdict(
            f"Seam score is lower than {reference}'s",
            f"the {method} mosaic ({len(seams)} overlapping pairs)",
            finite and score < reference_score,
            f"score {score:.3f}"
            + ("" if finite else " (not a number: no pairs, or a pair's seam is NaN)"),
            f"< {reference_score:.3f} ({reference})",
            "sky matching did not improve on per-exposure skies: read the log for "
            "'Reverting sky computation' and look at the pairs with the largest seams.",
            item=method,
            value=score,
            limit=reference_score,
        )
    ]


def check_oracle_agreement(
    pairs: pd.DataFrame,
    mdrizsky: pd.DataFrame,
    method: str,
    tolerance_e_s: float | Mapping[str, float],
) -> list[Verdict]:
    """drizzlepac's matched skies agree with skyqa's least-squares offsets.

    Differences are compared after removing their median within each overlap group (the
    level of a group is free; the median keeps one wrong exposure from implicating the
    others). The solution is a measurement, with an uncertainty of its own from the
    pairs' (`skyqa.oracle.offset_uncertainties`): a difference is judged beyond
    `SIGNIFICANCE` times it, as a pair's seam is. An exposure whose MDRIZSKY or solution
    is not finite fails, and so does one without a tolerance.

    ``tolerance_e_s``: one for all, or per exposure; the QA run gives each exposure half
    the seam threshold of its pixel noise (`skyqa.checks.sky.pedestal_tolerances`), the
    pedestal-truth check's tolerance, for the same triangle-inequality reason.
    """
    sky = mdrizsky.groupby("rootname", sort=False)["mdrizsky_e_s"].first().astype(float)
    names = list(sky.index)
    known = pairs["exposure_a"].isin(names) & pairs["exposure_b"].isin(names)
    oracle = solve_offsets(pairs[known], names)
    spread = offset_uncertainties(pairs[known], names)
    verdicts = []
    for group in overlap_groups(pairs[known], names):
        difference = sky[group] - oracle[group]
        difference -= difference.median()
        for name in group:
            finite = is_finite(difference[name])
            limit = tolerance_of(tolerance_e_s, name)
            beyond = math.copysign(
                max(abs(difference[name]) - SIGNIFICANCE * spread[name], 0.0), difference[name]
            )
            verdicts.append(
                Verdict(
                    "Matched sky agrees with skyqa's independent solution",
                    f"exposure {name} ({method})",
                    finite and abs(beyond) <= limit,  # False for a NaN limit
                    f"{difference[name]:+.5f} e-/s (MDRIZSKY {sky[name]:.5f}, skyqa offset "
                    f"{oracle[name]:.5f} +- {spread[name]:.5f})"
                    + ("" if finite else "; not a number: a MDRIZSKY or a pair difference is NaN")
                    + (
                        ""
                        if is_finite(limit)
                        else "; no tolerance: this exposure's pixel noise is unknown"
                    ),
                    f"|difference| - {SIGNIFICANCE:g} x the solution's uncertainty <= "
                    f"{limit:.5g} e-/s",
                    "drizzlepac's overlap solution differs from the measured pair "
                    "differences: look at this exposure's pairs in the seam table.",
                    item=method,
                    value=beyond if finite else math.nan,
                    limit=limit,
                )
            )
    return verdicts


def check_overlaps_connected(pairs: pd.DataFrame, rootnames: Sequence[str]) -> list[Verdict]:
    """Every exposure overlaps another, and all form one group.

    An exposure or group that overlaps nothing else has an undetermined sky level
    relative to the rest: ``match`` cannot tie it in (and leaves its old MDRIZSKY).
    """
    names = set(rootnames)
    stray = sorted(
        {str(name) for name in [*pairs["exposure_a"], *pairs["exposure_b"]] if name not in names}
    )
    if stray:
        return [
            Verdict(
                "Exposures form one overlapping group",
                f"{len(rootnames)} exposures",
                False,
                f"pairs name exposure(s) that are not among the aligned FLTs: {', '.join(stray)}",
                "pairs of the aligned FLTs only",
                "the overlap measurement is stale or from other inputs: delete its cache entry.",
                item="all",
            )
        ]
    groups = overlap_groups(pairs, rootnames)
    alone = [group[0] for group in groups if len(group) == 1]
    described = "; ".join(
        f"{{{', '.join(group)}}}" if len(group) > 1 else f"{group[0]} alone" for group in groups
    )
    return [
        Verdict(
            "Exposures form one overlapping group",
            f"{len(rootnames)} exposures",
            len(groups) == 1,
            f"{len(groups)} group(s): {described}" if len(groups) > 1 else "1 group",
            "1 group",
            (
                f"exposures overlapping nothing: {', '.join(alone)}. "
                if alone
                else "separate groups share no overlap. "
            )
            + "Their sky level relative to the rest is undetermined: check their pointing "
            "(footprints in the mosaic) or drizzle them separately.",
            item="all",
            value=float(len(groups)),
        )
    ]


def seam_subject(pair, method: str) -> str:
    """What a `check_seam_free` verdict is about: ``pair A-B (METHOD, N pixels)``."""
    return f"pair {pair_name(pair)} ({method}, {pair.n_pixels} pixels)"


def pair_name(pair) -> str:
    """``A-B``, or ``A chip 1-B chip 2`` for a pair of two-chip exposures' chips."""
    if "chip_a" in pair:
        return (
            f"{chip_label(pair.exposure_a, pair.chip_a)}-{chip_label(pair.exposure_b, pair.chip_b)}"
        )
    return f"{pair.exposure_a}-{pair.exposure_b}"
