"""Checks of seams between overlapping exposures, from skyqa's own pair measurements."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from skyqa.measure import overlap_groups, seam_score, solve_offsets
from skyqa.verdict import Verdict

PRECISION_FACTOR = 3.0
"""A pair measures a seam precisely when its uncertainty is at most threshold / 3."""


def check_seam_free(seams: pd.DataFrame, method: str, max_noise_fraction: float) -> list[Verdict]:
    """Every overlapping pair's sky difference, after the method's MDRIZSKY, is small.

    A pair fails when its difference exceeds ``max_noise_fraction`` of the per-pixel
    noise and the measurement can tell: its uncertainty is at most a third of the limit,
    or the excess over the limit is more than 3 times the uncertainty. A small overlap
    whose difference is within its own noise is not called a seam.
    """
    verdicts = []
    for _, pair in seams.iterrows():
        seam = float(pair[method])
        uncertainty = pair.uncertainty_e_s / pair.pixel_noise_e_s
        precise = uncertainty <= max_noise_fraction / PRECISION_FACTOR
        significant = abs(seam) - PRECISION_FACTOR * uncertainty > max_noise_fraction
        failed = abs(seam) > max_noise_fraction and (precise or significant)
        difference = seam * pair.pixel_noise_e_s
        verdicts.append(
            Verdict(
                "Overlap is seam-free",
                f"pair {pair.exposure_a}-{pair.exposure_b} ({method}, {pair.n_pixels} pixels)",
                not failed,
                f"{seam:+.3f} x pixel noise ({difference:+.5f} e-/s, measurement uncertainty "
                f"{uncertainty:.3f} x noise)",
                f"|difference| <= {max_noise_fraction} x pixel noise "
                f"({pair.pixel_noise_e_s:.4f} e-/s)",
                "the two exposures' skies disagree after subtraction: compare their MDRIZSKY "
                "in the log, look at the overlap in the mosaic, and read the log for "
                "'Reverting sky computation'.",
                item=method,
                value=seam,
            )
        )
    return verdicts


def check_score_below(
    seams: pd.DataFrame, method: str, reference: str = "localmin"
) -> list[Verdict]:
    """The method's seam score is lower than the reference method's."""
    score, reference_score = seam_score(seams, method), seam_score(seams, reference)
    return [
        Verdict(
            f"Seam score is lower than {reference}'s",
            f"the {method} mosaic ({len(seams)} overlapping pairs)",
            bool(score < reference_score),
            f"score {score:.3f}",
            f"< {reference_score:.3f} ({reference})",
            "sky matching did not improve on per-exposure skies: read the log for "
            "'Reverting sky computation' and look at the pairs with the largest seams.",
            item=method,
            value=score,
        )
    ]


def check_oracle_agreement(
    pairs: pd.DataFrame, mdrizsky: pd.DataFrame, method: str, tolerance_e_s: float
) -> list[Verdict]:
    """drizzlepac's matched skies agree with skyqa's least-squares offsets.

    Differences are compared after removing their median within each overlap group (the
    level of a group is free; the median keeps one wrong exposure from implicating the
    others).
    """
    sky = mdrizsky.set_index("rootname")["mdrizsky_e_s"].astype(float)
    names = list(sky.index)
    oracle = solve_offsets(pairs, names)
    verdicts = []
    for group in overlap_groups(pairs, names):
        difference = sky[group] - oracle[group]
        difference -= difference.median()
        for name in group:
            verdicts.append(
                Verdict(
                    "Matched sky agrees with skyqa's independent solution",
                    f"exposure {name} ({method})",
                    bool(abs(difference[name]) <= tolerance_e_s),
                    f"{difference[name]:+.5f} e-/s (MDRIZSKY {sky[name]:.5f}, skyqa offset "
                    f"{oracle[name]:.5f})",
                    f"|difference| <= {tolerance_e_s} e-/s",
                    "drizzlepac's overlap solution differs from the measured pair "
                    "differences: look at this exposure's pairs in the seam table.",
                    item=method,
                    value=float(difference[name]),
                )
            )
    return verdicts


def check_overlaps_connected(pairs: pd.DataFrame, rootnames: Sequence[str]) -> list[Verdict]:
    """Every exposure overlaps another, and all form one group.

    An exposure or group that overlaps nothing else has an undetermined sky level
    relative to the rest: ``match`` cannot tie it in (and leaves its old MDRIZSKY).
    """
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
