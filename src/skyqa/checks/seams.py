"""Checks of seams between overlapping exposures, from skyqa's own pair measurements."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from skyqa.checks.chips import chip_label
from skyqa.checks.sky import tolerance_of
from skyqa.measure import overlap_groups, seam_score, solve_offsets
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
    others). An exposure whose MDRIZSKY or solution is not finite fails, and so does one
    without a tolerance.

    ``tolerance_e_s``: one for all, or per exposure; the QA run gives each exposure half
    the seam threshold of its pixel noise (`skyqa.checks.sky.pedestal_tolerances`), the
    pedestal-truth check's tolerance, for the same triangle-inequality reason.
    """
    sky = mdrizsky.groupby("rootname", sort=False)["mdrizsky_e_s"].first().astype(float)
    names = list(sky.index)
    known = pairs["exposure_a"].isin(names) & pairs["exposure_b"].isin(names)
    oracle = solve_offsets(pairs[known], names)
    verdicts = []
    for group in overlap_groups(pairs[known], names):
        difference = sky[group] - oracle[group]
        difference -= difference.median()
        for name in group:
            finite = is_finite(difference[name])
            limit = tolerance_of(tolerance_e_s, name)
            verdicts.append(
                Verdict(
                    "Matched sky agrees with skyqa's independent solution",
                    f"exposure {name} ({method})",
                    finite and abs(difference[name]) <= limit,  # False for a NaN limit
                    f"{difference[name]:+.5f} e-/s (MDRIZSKY {sky[name]:.5f}, skyqa offset "
                    f"{oracle[name]:.5f})"
                    + ("" if finite else "; not a number: a MDRIZSKY or a pair difference is NaN")
                    + (
                        ""
                        if is_finite(limit)
                        else "; no tolerance: this exposure's pixel noise is unknown"
                    ),
                    f"|difference| <= {limit:.5g} e-/s",
                    "drizzlepac's overlap solution differs from the measured pair "
                    "differences: look at this exposure's pairs in the seam table.",
                    item=method,
                    value=float(difference[name]),
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
