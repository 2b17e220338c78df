"""Checks of the alignment: shift file, fit quality, residuals, tweakback, truth."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from skyqa.align import parse_shift_file, signed_rotation
from skyqa.checks.chips import chip_label
from skyqa.checks.limits import CONSISTENCY_SIGMAS, AstrometryGrades, ErrorBudget
from skyqa.errors import PipelineStepError
from skyqa.names import visit_of
from skyqa.sources import MATCH_RADIUS_ARCSEC
from skyqa.verdict import Verdict, is_finite


def check_shift_file(path: Path, visit_images: Sequence[str]) -> list[Verdict]:
    """The shift file exists, has one line per visit DRZ and no NaN or inf.

    Parameters
    ----------
    path : Path
        TweakReg's shift file.
    visit_images : sequence of str
        File names of the visit DRZs that were aligned.
    """
    check = "Shift file"
    advice_missing = "TweakReg did not run to the end: read its log, tweakreg.log, beside it."
    if not path.is_file():
        return [Verdict(check, str(path), False, "file missing", "a shift file", advice_missing)]
    try:
        table = parse_shift_file(path)
    except PipelineStepError as error:
        return [Verdict(check, str(path), False, str(error), "7 columns a line", advice_missing)]
    verdicts = []
    for image in visit_images:
        rows = table[table["image"] == image]
        verdicts.append(
            Verdict(
                "Shift file has one line for the visit",
                f"{image} in {path.name}",
                len(rows) == 1,
                f"{len(rows)} line(s)",
                "exactly 1 line",
                "TweakReg skipped or repeated this image: check that it found sources "
                "(its *_sci1_xy_catalog.coo file) and read tweakreg.log.",
                item=visit_of(image),
            )
        )
        for _, row in rows.iterrows():
            values = row[["xsh_pix", "ysh_pix", "rot_deg", "scale", "xrms_pix", "yrms_pix"]]
            bad = [name for name, value in values.items() if not math.isfinite(value)]
            verdicts.append(
                Verdict(
                    "Shift file line is finite",
                    f"{image} ({path.name} line {int(row['line'])})",
                    not bad,
                    f"non-finite {', '.join(bad)}" if bad else "all finite",
                    "no NaN or inf",
                    "NaN means TweakReg found no match for this image: its pointing error "
                    "may exceed searchrad, or the catalog has too few stars in its "
                    "footprint; look at the image's *_catalog_fit.match file and tweakreg.log.",
                    item=visit_of(image),
                )
            )
    extra = sorted(set(table["image"]) - set(visit_images))
    verdicts += [
        Verdict(
            "Shift file names only aligned visits",
            f"{image} in {path.name}",
            False,
            "an image that was not aligned",
            "only the visit DRZs",
            "the shift file is stale or from another run: delete the cache entry.",
            item=visit_of(image),
        )
        for image in extra
    ]
    return verdicts


NO_FIT = "not a number: TweakReg wrote no fit for this visit (NaN in its shift file)"


def _duplicates(table: pd.DataFrame, column: str, check: str, what: str) -> list[Verdict]:
    """A failed verdict for every value of ``column`` that names more than one row."""
    counts = table[column].value_counts()
    return [
        Verdict(
            check,
            f"{what} {name}",
            False,
            f"{count} rows",
            "exactly 1 row",
            "the table holds two results for one subject (a stale file from another run, "
            "or an image given twice): delete the cache entry and rerun.",
            item=visit_of(str(name)) if what == "visit" else str(name),
        )
        for name, count in counts.items()
        if count > 1
    ]


def check_fit_quality(
    fit_table: pd.DataFrame, rms_max_pix: float, min_matches: int
) -> list[Verdict]:
    """Per visit DRZ: fit xrms and yrms within the threshold, enough matched sources.

    A NaN RMS or match count (TweakReg found no fit) fails; so does a visit with more
    than one row.
    """
    verdicts = _duplicates(fit_table, "image", "TweakReg fit table has one row per visit", "visit")
    for _, row in fit_table.iterrows():
        visit = visit_of(row["image"])
        for axis in ("xrms_pix", "yrms_pix"):
            value = float(row[axis])
            verdicts.append(
                Verdict(
                    f"TweakReg fit {axis.split('_')[0]}",
                    f"visit {visit}",
                    is_finite(value) and value <= rms_max_pix,
                    f"{value:.4f} pix" if is_finite(value) else f"{value} pix ({NO_FIT})",
                    f"<= {rms_max_pix} pix",
                    "a large fit RMS means wrong matches or a poor catalog: look at the "
                    f"residuals in {visit}_drz_catalog_fit.match and at the source list.",
                    item=visit,
                    value=value,
                    limit=rms_max_pix,
                )
            )
        matches = float(row["n_matches"])
        verdicts.append(
            Verdict(
                "TweakReg matched sources",
                f"visit {visit}",
                is_finite(matches) and matches >= min_matches,
                f"{matches:.0f} matches" if is_finite(matches) else f"{matches} ({NO_FIT})",
                f">= {min_matches}",
                "too few matches make the fit unreliable: check the catalog's coverage of "
                "this visit and the source-finding threshold in tweakreg.log.",
                item=visit,
                value=matches,
                limit=float(min_matches),
                upper=False,
            )
        )
    return verdicts


def check_residuals(
    residual_table: pd.DataFrame,
    shift_max_pix: float,
    rotation_max_deg: float,
    scale_max: float,
) -> list[Verdict]:
    """After the header update, a new fit finds no shift, rotation or scale left.

    Each of |shift|, |rotation| (signed: TweakReg's 359.99 is -0.01) and |scale - 1| is
    held to its limit; a NaN (the verification fit found no match) fails, and so does a
    visit with more than one row.
    """
    verdicts = _duplicates(
        residual_table, "image", "Verification fit has one row per visit", "visit"
    )
    rotations = signed_rotation(residual_table["rot_deg"])
    for (_, row), rotation in zip(residual_table.iterrows(), rotations, strict=True):
        visit = visit_of(row["image"])
        shift = float(np.hypot(row["xsh_pix"], row["ysh_pix"]))
        excess_scale = float(row["scale"]) - 1.0
        measures = [
            ("Residual shift after the update", shift, f"{shift:.4f} pix", shift_max_pix, "pix"),
            (
                "Residual rotation after the update",
                float(rotation),
                f"{float(rotation):+.5f} deg",
                rotation_max_deg,
                "deg",
            ),
            (
                "Residual scale after the update",
                excess_scale,
                f"{excess_scale:+.2e}",
                scale_max,
                "(scale - 1)",
            ),
        ]
        for check, value, text, limit, unit in measures:
            verdicts.append(
                Verdict(
                    check,
                    f"visit {visit}",
                    is_finite(value) and abs(value) <= limit,
                    text if is_finite(value) else f"{text} (verification fit found no match)",
                    f"|value| <= {limit} {unit}",
                    "the header update did not take: compare the DRZ's WCSNAME and "
                    "alternate WCS (WCSNAMEA) with the shift file, and read tweakreg.log.",
                    item=visit,
                    value=value,
                    limit=limit,
                )
            )
    return verdicts


def check_tweakback(moves: pd.DataFrame, agreement_max_mas: float) -> list[Verdict]:
    """Each FLT's WCS moved on the sky as its visit DRZ's WCS did.

    Parameters
    ----------
    moves : pandas.DataFrame
        `skyqa.astrometry.tweakback_moves` rows (one per FLT).
    agreement_max_mas : float
        Largest allowed RMS (mas) between the FLT's move and the DRZ's correction.
    """
    verdicts = _duplicates(moves, "flt", "One tweakback measurement per FLT", "FLT")
    for row in moves.itertuples(index=False):
        no_op = row.moved_mas < 0.01 * row.correction_mas
        finite = is_finite(row.disagreement_mas)
        verdicts.append(
            Verdict(
                "tweakback moved the FLT WCS with its visit DRZ",
                f"{row.flt} (visit {row.visit})",
                finite and row.disagreement_mas <= agreement_max_mas,
                f"RMS {row.disagreement_mas:.2f} mas between the FLT's move "
                f"({row.moved_mas:.1f} mas) and the DRZ's correction ({row.correction_mas:.1f} mas)"
                + ("; the FLT did not move at all: tweakback was a silent no-op" if no_op else "")
                + ("" if finite else "; not a number: a WCS could not be evaluated"),
                f"<= {agreement_max_mas} mas",
                "check the orig_wcs_name passed to tweakback: it must be the DRZ's WCSNAME "
                f"from before TweakReg's update (archived as WCSNAMEA), "
                f"here {row.drz_wcsnamea!r}; and that the FLT's WCSNAME changed.",
                item=row.visit,
                value=float(row.disagreement_mas),
                limit=agreement_max_mas,
            )
        )
    return verdicts


def _by_chip(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``rootname`` naming the chip too (``<rootname> chip N``) where it
    has a ``chip`` column (the two-chip CCDs: one row per chip)."""
    if "chip" not in table:
        return table
    labels = [
        chip_label(name, chip) for name, chip in zip(table["rootname"], table["chip"], strict=True)
    ]
    return table.assign(rootname=labels)


def _grade_advice(rms_mas: float, predicted_mas: float, n_stars: int) -> str:
    """What to look at when the truth error is past HAP's good limit, from what was
    measured: the error the fit itself predicts, against the error it delivers."""
    if not is_finite(rms_mas):
        return "the aligned WCS could not be evaluated on the detector's grid: read its SCI header."
    if is_finite(predicted_mas) and predicted_mas >= 0.5 * rms_mas:
        return (
            f"the error is of the size the fit predicts ({predicted_mas:.1f} mas): its "
            f"{n_stars} matched stars do not pin the solution better; more matched stars "
            "(a deeper catalog, a lower TweakReg threshold) or a fit with fewer free "
            "parameters would."
        )
    return (
        "the error is larger than the fit predicts: see the consistency verdict beside this "
        "one, and compare the visit's shift with the injected pointing error in truth.json."
    )


def _consistency(row, subject: str, text: str, predicted: float, budget: ErrorBudget) -> Verdict:
    """Rule 1 of `check_wcs_against_truth`: within `CONSISTENCY_SIGMAS` predicted errors."""
    claims = is_finite(predicted)
    sigmas = float(row.rms_mas) / predicted if claims else math.nan
    if claims:
        measured = (
            f"{text}, {sigmas:.2f} x its predicted error {predicted:.2f} mas (the fit of "
            f"{row.n_stars} stars claims {row.fit_claim_mas:.2f} mas there, with the "
            f"small-sample bound of its RMS; {budget.describe(row.pixel_scale_mas)})"
        )
        advice = (
            "the aligned WCS is not the solution its fit describes: the alignment converged "
            "to a wrong solution, or tweakback did not carry it to this FLT, or the "
            "exposure's pointing differs from its visit's: compare the visit's shift with "
            "the injected pointing error in truth.json, this FLT's offset with its visit "
            "partner's, and the visit's matches."
        )
    else:
        measured = (
            f"{text}; the fit of {row.n_stars} stars has {row.dof} degrees of freedom: "
            "it claims nothing about its accuracy"
        )
        advice = (
            "too few matched stars for the fit to measure its own scatter: raise the "
            "catalog's depth or TweakReg's source count (its threshold) for this visit."
        )
    return Verdict(
        "Aligned WCS is as close to the truth as its fit claims",
        subject,
        is_finite(row.rms_mas) and claims and sigmas <= CONSISTENCY_SIGMAS,
        measured,
        f"<= {CONSISTENCY_SIGMAS:g} predicted errors"
        + (f" ({CONSISTENCY_SIGMAS * predicted:.1f} mas)" if claims else ""),
        advice,
        item=row.visit,
        value=sigmas,
        limit=CONSISTENCY_SIGMAS,
    )


def check_wcs_against_truth(
    offsets: pd.DataFrame, budget: ErrorBudget, grades: AstrometryGrades
) -> list[Verdict]:
    """Synthetic fields: each aligned FLT WCS against the injected true mapping, two ways.

    1. *Is the claimed accuracy true?* The RMS from the truth over the detector must be
       within `CONSISTENCY_SIGMAS` of the predicted error: what the visit's fit claims
       there (its covariance on the detector's grid, with the small-sample bound of its
       RMS; `skyqa.accuracy`) and ``budget``'s terms, in quadrature. Beyond it the WCS
       is not the solution the fit describes: a silent no-op, a wrong tweakback, a
       misaligned exposure, a fit that converged to a wrong solution. A fit with no
       degree of freedom left claims nothing, and fails.
    2. *Is it accurate enough?* The same RMS graded with HAP's limits (``grades``).

    Parameters
    ----------
    offsets : pandas.DataFrame
        `skyqa.astrometry.truth_offset_mas` per FLT (`skyqa.astrometry.TRUTH_COLUMNS`;
        and ``chip`` on the two-chip CCDs, one row per chip).
    budget : ErrorBudget
        The terms the fit cannot see.
    grades : AstrometryGrades
        HAP's good and accepted limits.
    """
    offsets = _by_chip(offsets)
    verdicts = _duplicates(offsets, "rootname", "One truth comparison per FLT", "exposure")
    for row in offsets.itertuples(index=False):
        subject = f"exposure {row.rootname} (visit {row.visit})"
        finite = is_finite(row.rms_mas)
        text = f"RMS {row.rms_mas:.2f} mas from the truth over the detector" + (
            "" if finite else " (not a number: the aligned WCS could not be evaluated)"
        )
        predicted = budget.predicted_mas(float(row.fit_claim_mas), float(row.pixel_scale_mas))
        verdicts.append(_consistency(row, subject, text, predicted, budget))
        verdicts.append(
            grades.grade(
                "Aligned WCS accuracy against the injected truth (HAP grade)",
                subject,
                float(row.rms_mas),
                text,
                _grade_advice(float(row.rms_mas), predicted, int(row.n_stars)),
                row.visit,
            )
        )
    return verdicts


def check_sources_on_catalog(
    offsets: pd.DataFrame, grades: AstrometryGrades, min_matches: int
) -> list[Verdict]:
    """Each aligned FLT puts the stars found in it (by photutils, not TweakReg) onto the
    reference catalog: their clipped mean offset is graded with HAP's limits (``grades``:
    a warning beyond the good limit, a failure beyond the accepted one), from at least
    ``min_matches`` matched stars.

    Parameters
    ----------
    offsets : pandas.DataFrame
        `skyqa.sources.source_offsets` (one row per FLT; per chip, with a ``chip``
        column, on the two-chip CCDs: each chip has its own WCS).
    grades : AstrometryGrades
        HAP's good and accepted limits for the length (mas) of the mean offset.
    min_matches : int
        Fewest matched stars that measure an offset.
    """
    names = _by_chip(offsets)
    verdicts = _duplicates(names, "rootname", "One source measurement per FLT", "exposure")
    for row, name in zip(offsets.itertuples(index=False), names["rootname"], strict=True):
        subject = (
            f"exposure {name} (visit {row.visit}, {row.n_matched} of {row.n_found} stars matched)"
        )
        advice = (
            "the exposure's aligned WCS does not put its own stars on the catalog: compare "
            "its offset with its visit partner's (one exposure off: its pointing differs "
            "from the visit's, which one fit per visit cannot follow; the whole visit off: "
            "the fit or tweakback), and read the visit's TweakReg matches."
        )
        if row.n_matched < min_matches:
            verdicts.append(
                Verdict(
                    "Aligned FLT's own stars sit on the catalog",
                    subject,
                    False,
                    f"{row.n_matched} matched stars within "
                    f'{MATCH_RADIUS_ARCSEC}" (of {row.n_found} found)',
                    f">= {min_matches} matched stars",
                    "too few stars to verify the alignment: an exposure far off (more than "
                    f'{MATCH_RADIUS_ARCSEC}") matches none; ' + advice,
                    item=row.visit,
                    value=float(row.n_matched),
                    limit=float(min_matches),
                    upper=False,
                )
            )
            continue
        finite = is_finite(row.offset_mas) and is_finite(row.uncertainty_mas)
        verdicts.append(
            grades.grade(
                "Aligned FLT's own stars sit on the catalog",
                subject,
                float(row.offset_mas) if finite else math.nan,
                f"mean offset {row.offset_mas:.1f} mas (east {row.east_mas:+.1f}, north "
                f"{row.north_mas:+.1f}; uncertainty {row.uncertainty_mas:.1f} mas, per-star "
                f"scatter {row.scatter_mas:.1f} mas)"
                + ("" if finite else " (not a number: the offsets could not be measured)"),
                advice,
                row.visit,
            )
        )
    return verdicts
