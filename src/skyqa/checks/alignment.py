"""Checks of the alignment: shift file, fit quality, residuals, tweakback, truth."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from skyqa.align import parse_shift_file, signed_rotation
from skyqa.errors import PipelineStepError
from skyqa.verdict import Verdict

MAS_PER_DEG = 3.6e6


def visit_of(image: str) -> str:
    """Visit id of a visit DRZ file name: 'ibxl50030_drz.fits' -> 'ibxl50030'."""
    return Path(image).name.split("_")[0].lower()


def wcs_from_header(header: fits.Header) -> WCS:
    """The primary WCS of a header (with SIP), without astropy's 'fixed' chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


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


def check_fit_quality(
    fit_table: pd.DataFrame, rms_max_pix: float, min_matches: int
) -> list[Verdict]:
    """Per visit DRZ: fit xrms and yrms within the threshold, enough matched sources."""
    verdicts = []
    for _, row in fit_table.iterrows():
        visit = visit_of(row["image"])
        for axis in ("xrms_pix", "yrms_pix"):
            value = float(row[axis])
            verdicts.append(
                Verdict(
                    f"TweakReg fit {axis.split('_')[0]}",
                    f"visit {visit}",
                    bool(value <= rms_max_pix),
                    f"{value:.4f} pix",
                    f"<= {rms_max_pix} pix",
                    "a large fit RMS means wrong matches or a poor catalog: look at the "
                    f"residuals in {visit}_drz_catalog_fit.match and at the source list.",
                    item=visit,
                    value=value,
                )
            )
        matches = int(row["n_matches"])
        verdicts.append(
            Verdict(
                "TweakReg matched sources",
                f"visit {visit}",
                matches >= min_matches,
                f"{matches} matches",
                f">= {min_matches}",
                "too few matches make the fit unreliable: check the catalog's coverage of "
                "this visit and the source-finding threshold in tweakreg.log.",
                item=visit,
                value=float(matches),
            )
        )
    return verdicts


def check_residuals(
    residual_table: pd.DataFrame,
    shift_max_pix: float,
    rotation_max_deg: float,
    scale_max: float,
) -> list[Verdict]:
    """After the header update, a new fit finds no shift, rotation or scale left."""
    verdicts = []
    rotations = signed_rotation(residual_table["rot_deg"])
    for (_, row), rotation in zip(residual_table.iterrows(), rotations, strict=True):
        visit = visit_of(row["image"])
        shift = float(np.hypot(row["xsh_pix"], row["ysh_pix"]))
        measures = [
            ("Residual shift after the update", shift, f"{shift:.4f} pix", shift_max_pix, "pix"),
            (
                "Residual rotation after the update",
                abs(float(rotation)),
                f"{float(rotation):+.5f} deg",
                rotation_max_deg,
                "deg",
            ),
            (
                "Residual scale after the update",
                abs(float(row["scale"]) - 1.0),
                f"{float(row['scale']) - 1.0:+.2e}",
                scale_max,
                "(scale - 1)",
            ),
        ]
        for check, magnitude, text, limit, unit in measures:
            verdicts.append(
                Verdict(
                    check,
                    f"visit {visit}",
                    bool(magnitude <= limit),
                    text,
                    f"|value| <= {limit} {unit}",
                    "the header update did not take: compare the DRZ's WCSNAME and "
                    "alternate WCS (WCSNAMEA) with the shift file, and read tweakreg.log.",
                    item=visit,
                    value=magnitude,
                )
            )
    return verdicts


def _grid(header: fits.Header, step_fraction: float = 0.125) -> tuple[np.ndarray, np.ndarray]:
    size_x = header.get("NAXIS1") or 2 * header["CRPIX1"]
    size_y = header.get("NAXIS2") or 2 * header["CRPIX2"]
    xs = np.linspace(0, size_x - 1, int(1 / step_fraction) + 1)
    ys = np.linspace(0, size_y - 1, int(1 / step_fraction) + 1)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return grid_x.ravel(), grid_y.ravel()


def _sky_offsets_mas(ra1, dec1, ra2, dec2) -> np.ndarray:
    return np.hypot((ra1 - ra2) * np.cos(np.deg2rad(dec2)), dec1 - dec2) * MAS_PER_DEG


def check_tweakback(
    visit: str,
    drz_before: fits.Header,
    drz_after: fits.Header,
    flt_before: Mapping[str, fits.Header],
    flt_after: Mapping[str, fits.Header],
    agreement_max_mas: float,
) -> list[Verdict]:
    """Each FLT's WCS moved on the sky as its visit DRZ's WCS did.

    On a grid over each FLT, the position given by the FLT's WCS after tweakback is
    compared with where the DRZ's correction sends the position given by the FLT's WCS
    before: ``WCS_drz_after(WCS_drz_before^-1(WCS_flt_before(pixel)))``. A tweakback that
    did nothing leaves the FLT where it was, off by the whole DRZ correction.

    Parameters
    ----------
    visit : str
        The visit id, for messages.
    drz_before, drz_after : Header
        The visit DRZ's SCI header before and after TweakReg updated it.
    flt_before, flt_after : mapping
        FLT file name -> SCI header before and after tweakback.
    agreement_max_mas : float
        Largest allowed RMS (mas) between the FLT's and the DRZ's correction.
    """
    drz_old, drz_new = wcs_from_header(drz_before), wcs_from_header(drz_after)
    verdicts = []
    for name, before in flt_before.items():
        old, new = wcs_from_header(before), wcs_from_header(flt_after[name])
        x, y = _grid(before)
        ra_old, dec_old = old.all_pix2world(x, y, 0)
        ra_new, dec_new = new.all_pix2world(x, y, 0)
        drz_x, drz_y = drz_old.all_world2pix(ra_old, dec_old, 0)
        ra_expected, dec_expected = drz_new.all_pix2world(drz_x, drz_y, 0)
        correction = float(
            np.sqrt(np.mean(_sky_offsets_mas(ra_expected, dec_expected, ra_old, dec_old) ** 2))
        )
        moved = float(np.sqrt(np.mean(_sky_offsets_mas(ra_new, dec_new, ra_old, dec_old) ** 2)))
        disagreement = float(
            np.sqrt(np.mean(_sky_offsets_mas(ra_new, dec_new, ra_expected, dec_expected) ** 2))
        )
        no_op = moved < 0.01 * correction
        verdicts.append(
            Verdict(
                "tweakback moved the FLT WCS with its visit DRZ",
                f"{name} (visit {visit})",
                bool(disagreement <= agreement_max_mas),
                f"RMS {disagreement:.2f} mas between the FLT's move ({moved:.1f} mas) and the "
                f"DRZ's correction ({correction:.1f} mas)"
                + ("; the FLT did not move at all: tweakback was a silent no-op" if no_op else ""),
                f"<= {agreement_max_mas} mas",
                "check the orig_wcs_name passed to tweakback: it must be the DRZ's WCSNAME "
                f"from before TweakReg's update (archived as WCSNAMEA), "
                f"here {drz_after.get('WCSNAMEA', '?')!r}; and that the FLT's WCSNAME changed.",
                item=visit,
                value=disagreement,
            )
        )
    return verdicts


def check_wcs_against_truth(
    visit: str,
    rootname: str,
    aligned_header: fits.Header,
    true_header: fits.Header,
    max_rms_mas: float,
) -> list[Verdict]:
    """Synthetic fields: the aligned FLT WCS maps the detector as the true WCS does."""
    aligned, true = wcs_from_header(aligned_header), wcs_from_header(true_header)
    x, y = _grid(true_header, step_fraction=1 / 32)
    ra, dec = aligned.all_pix2world(x, y, 0)
    true_ra, true_dec = true.all_pix2world(x, y, 0)
    rms = float(np.sqrt(np.mean(_sky_offsets_mas(ra, dec, true_ra, true_dec) ** 2)))
    return [
        Verdict(
            "Aligned WCS agrees with the injected truth",
            f"exposure {rootname} (visit {visit})",
            bool(rms <= max_rms_mas),
            f"RMS {rms:.2f} mas over the detector",
            f"<= {max_rms_mas} mas",
            "the alignment converged to a wrong solution: compare the visit's shift with "
            "the injected pointing error in truth.json and look at its matches.",
            item=visit,
            value=rms,
        )
    ]
