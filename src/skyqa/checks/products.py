"""Checks of a mosaic as the product a user releases: its stars where the sky has them,
their fluxes those the exposures measured, its grid the one asked for without holes,
and the photometric keywords of its inputs (`skyqa.products` measures them all)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from skyqa.checks.limits import CONSISTENCY_SIGMAS, AstrometryGrades
from skyqa.verdict import Verdict, is_finite

KEYWORD_RTOL = 1e-6
"""Two PHOTFLAM or PHOTPLAM values agree within this: the headers print 5-8 digits."""


def _measured_offset(row: pd.Series, prefix: str = "") -> str:
    offset, uncertainty = row[f"{prefix}offset_mas"], row[f"{prefix}uncertainty_mas"]
    parts = [] if prefix else [f"east {row['east_mas']:+.1f}, north {row['north_mas']:+.1f}"]
    parts.append(
        f"uncertainty {uncertainty:.1f} mas, per-star scatter {row[f'{prefix}scatter_mas']:.1f} mas"
    )
    return f"mean offset {offset:.1f} mas ({'; '.join(parts)})"


def check_product_astrometry(
    row: pd.Series, method: str, grades: AstrometryGrades, min_matches: int, truth: bool = False
) -> Verdict:
    """The mosaic's own stars, found by photutils and placed by its WCS, sit on the
    reference catalog (``truth``: on the replica's true star positions): their clipped
    mean offset graded with HAP's limits, from at least ``min_matches`` matched stars."""
    prefix = "truth_" if truth else ""
    against = "their true positions" if truth else "the catalog"
    check = f"Product's stars sit on {against}"
    matched = int(row[f"{prefix}n_matched"])
    subject = f"the {method} mosaic ({matched} of {int(row['n_found'])} stars matched)"
    advice = (
        f"the product's WCS does not put its stars on {against}, while each aligned FLT's "
        "are judged by test_sources_on_catalog: if those pass, the drizzle step moved the "
        "mosaic (its output WCS, or a header written after drizzling); if they fail too, "
        "the alignment did."
    )
    if matched < min_matches:
        return Verdict(
            check, subject, False,
            f"{matched} stars matched within 0.3\"",
            f">= {min_matches} matched stars",
            "too few stars to judge the product's astrometry: a mosaic far off (more than "
            "0.3\") matches none; " + advice,
            item=method, value=float(matched), limit=float(min_matches), upper=False,
        )  # fmt: skip
    offset = float(row[f"{prefix}offset_mas"])
    finite = is_finite(offset) and is_finite(row[f"{prefix}uncertainty_mas"])
    measured = _measured_offset(row, prefix)
    if not finite:
        measured += " (not a number: the offsets could not be measured)"
    return grades.grade(check, subject, offset if finite else math.nan, measured, advice, method)


MIN_STARS = 3
"""The fewest stars an exposure's flux ratio is judged from: the fewest of which one bad
star (a cosmic ray in its aperture, a neighbour the catalog lacks) is told apart."""
CLIP = 5.0
"""A star this many of its (scaled) uncertainties from its exposure's mean is left out."""


def _weighted(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """An exposure's finite ratios and their uncertainties (1 where the table has none:
    an older table, or data without ERR)."""
    ratios = group["ratio"].to_numpy(float)
    errors = (
        group["ratio_error"].to_numpy(float) if "ratio_error" in group else np.ones(len(ratios))
    )
    good = np.isfinite(ratios) & np.isfinite(errors) & (errors > 0)
    return ratios[good], errors[good]


def _mean(ratios: np.ndarray, errors: np.ndarray) -> float:
    weights = errors**-2.0
    return float(np.sum(weights * ratios) / np.sum(weights))


def _pooled_chi2(groups: list[tuple[np.ndarray, np.ndarray]], floor: float) -> tuple[float, int]:
    """The summed squared residuals about each exposure's weighted mean, in their
    uncertainties with ``floor`` added in quadrature, and their degrees of freedom."""
    total, dof = 0.0, 0
    for ratios, errors in groups:
        scaled = np.hypot(errors, floor)
        total += float(np.sum(((ratios - _mean(ratios, scaled)) / scaled) ** 2))
        dof += len(ratios) - 1
    return total, dof


def noise_floor(stars: pd.DataFrame) -> float:
    """The scatter per star that each exposure's noise does not predict (the excess
    variance): the floor that, added in quadrature to every star's uncertainty, brings
    the pooled chi-square per degree of freedom to 1; 0 where the noise explains the
    scatter. It holds what varies from star to star alike at every brightness: the
    aperture's sampling of an undersampled PSF at each star's phase, in the exposure and
    in the mosaic. Stars beyond `CLIP` robust sigmas of their exposure (at least `CLIP`
    predicted uncertainties) are left out. NaN with no exposure of two stars."""
    groups = []
    for _name, group in stars.groupby("rootname", sort=False):
        ratios, errors = _weighted(group)
        if len(ratios) < 2:
            continue
        # About the median: one star on a hit (a weight of its own) pulls a mean.
        deviation = np.abs(ratios - np.median(ratios)) / errors
        keep = deviation <= CLIP * max(1.4826 * float(np.median(deviation)), 1.0)
        if keep.sum() >= 2:
            groups.append((ratios[keep], errors[keep]))
    if not groups:
        return math.nan
    chi2, dof = _pooled_chi2(groups, 0.0)
    if chi2 <= dof:
        return 0.0
    low, high = 0.0, float(np.ptp(np.concatenate([r for r, _ in groups]))) + 1e-9
    for _ in range(60):  # bisection: chi-square falls as the floor grows
        middle = (low + high) / 2
        low, high = (middle, high) if _pooled_chi2(groups, middle)[0] > dof else (low, middle)
    return (low + high) / 2


def kernel_loss(stars: pd.DataFrame, broadening_arcsec2: float, radius_arcsec: float) -> float:
    """The fraction of a star's aperture flux that drizzling moves out of the aperture
    (negative: a loss), to first order: widening a profile ``I`` by a variance ``s^2``
    along each axis changes the flux within radius ``r`` by ``pi r s^2 I'(r)`` (the
    diffusion equation integrated over the disk); ``I'(r)/flux`` is the median of the
    stars' measured ``edge_slope``. 0 where either is unknown (NaN)."""
    slopes = stars["edge_slope"].to_numpy(float) if "edge_slope" in stars else np.empty(0)
    slopes = slopes[np.isfinite(slopes)]
    if not slopes.size or not is_finite(broadening_arcsec2):
        return 0.0
    return math.pi * radius_arcsec * broadening_arcsec2 * float(np.median(slopes))


def check_product_photometry(stars: pd.DataFrame, method: str, loss: float = 0.0) -> list[Verdict]:
    """Per exposure, the isolated catalog stars' aperture fluxes in the mosaic over those
    in the exposure (pixel-area corrected, `skyqa.products.product_photometry`). Their
    mean, weighted by each star's uncertainty (the exposure's noise and the product's
    `noise_floor` in quadrature), is expected at ``1 + loss`` (`kernel_loss`: what
    drizzle's widening moves out of the aperture) and may lie from it by the loss itself
    (the first-order model's own uncertainty, taken as its size) plus
    `CONSISTENCY_SIGMAS` standard errors of the weighted mean; a star `CLIP` uncertainties
    from their median is left out. An exposure with fewer than `MIN_STARS` stars is a
    warning, not judged; one with none measured (no star whole, isolated and catalogued
    in it) has no verdict."""
    floor = noise_floor(stars)
    verdicts = []
    for rootname, group in stars.groupby("rootname", sort=True):
        ratios, errors = _weighted(group)
        subject = f"exposure {rootname} in the {method} mosaic ({len(ratios)} stars)"
        if len(ratios) < MIN_STARS:
            verdicts.append(
                Verdict(
                    "Product holds each exposure's flux", subject, False,
                    f"not judged: {len(ratios)} isolated catalog stars measured in both",
                    f">= {MIN_STARS} stars (the fewest of which one bad star is told apart)",
                    "too few stars to judge this exposure's flux: its visit partner's "
                    "ratio, if judged, speaks for the visit; a denser catalog would judge it.",
                    item=rootname, value=float(len(ratios)), limit=float(MIN_STARS),
                    upper=False, warning=True,
                )
            )  # fmt: skip
            continue
        errors = np.hypot(errors, floor)
        keep = np.abs(ratios - np.median(ratios)) <= CLIP * errors
        if keep.sum() >= MIN_STARS:
            ratios, errors = ratios[keep], errors[keep]
        mean = _mean(ratios, errors)
        error = math.sqrt(1.0 / float(np.sum(errors**-2.0)))
        allowed = abs(loss) + CONSISTENCY_SIGMAS * error
        offset = mean - (1.0 + loss)
        finite = is_finite(mean) and is_finite(error)
        verdicts.append(
            Verdict(
                "Product holds each exposure's flux",
                subject,
                finite and abs(offset) <= allowed,
                f"mosaic / exposure flux: weighted mean {mean:.4f} +- {error:.4f} of "
                f"{len(ratios)} stars, {offset:+.4f} from the {1 + loss:.4f} drizzle's "
                "widening leaves"
                + ("" if finite else "; not a number (no scatter: no exposure of two stars)"),
                f"|mean - {1 + loss:.4f}| <= {allowed:.4f} (the widening's loss "
                f"{abs(loss):.4f} + {CONSISTENCY_SIGMAS:g} standard errors)",
                "",
                item=rootname,
                value=offset if finite else math.nan,
                limit=allowed,
            )
        )
    return _photometry_advice(verdicts)


def _photometry_advice(verdicts: list[Verdict]) -> list[Verdict]:
    """Each failed flux verdict's advice, from the pattern of all: most judged exposures
    low says the product lost flux; one exposure off, with its partners off the other
    way (the mosaic averages it with them), says its own counts are."""
    judged = [v for v in verdicts if not v.warning and v.value is not None]
    low = [v for v in judged if not v.passed and is_finite(v.value) and float(v.value or 0) < 0]
    product_lost = len(low) > len(judged) / 2
    advised = []
    for verdict in verdicts:
        if verdict.passed or verdict.warning:
            advised.append(verdict)
            continue
        if not is_finite(verdict.value):
            advice = "the ratios could not be judged: read the products stage's star table."
        elif product_lost:
            advice = (
                f"the product holds less than {len(low)} of {len(judged)} exposures measured: "
                "drizzling lost flux (compare final_kernel, final_pixfrac, final_units and "
                "the weights in the AstroDrizzle log with what was asked)."
            )
        elif float(verdict.value or 0) < 0:
            advice = (
                "this exposure's stars are brighter than the mosaic, which averages it with "
                "its partners: its counts are high against theirs (its flat, gain, BUNIT or "
                "EXPTIME); the exposures that overlap it then read high."
            )
        else:
            advice = (
                "this exposure's stars are fainter than the mosaic: either its own counts "
                "are low (its flat, gain, BUNIT or EXPTIME), or an exposure that overlaps it "
                "is high: look for one that reads low."
            )
        advised.append(dataclasses.replace(verdict, advice=advice))
    return advised


def check_product_keywords(row: pd.Series, method: str) -> list[Verdict]:
    """The product carries its inputs' PHOTMODE, PHOTFLAM and PHOTPLAM: one value among
    the inputs, and the product's equal to it (`KEYWORD_RTOL` for the numbers)."""
    verdicts = []
    for key in ("PHOTMODE", "PHOTFLAM", "PHOTPLAM"):
        product, inputs = str(row[key]), str(row[f"inputs_{key}"])
        values = [value for value in inputs.split(";") if value]
        same = len(values) == 1 and bool(product) and _same(product, values[0], key)
        verdicts.append(
            Verdict(
                "Product carries its inputs' photometric keywords",
                f"{key} of the {method} mosaic",
                same,
                f"product {product or '(missing)'}; inputs {inputs or '(missing)'}",
                "the inputs' one value, in the product"
                + ("" if key == "PHOTMODE" else f" (relative {KEYWORD_RTOL:g})"),
                "a product without its inputs' photometric keywords cannot be calibrated: "
                + (
                    "its inputs disagree (mixed filters or detectors drizzled together): "
                    "drizzle each photometric mode apart."
                    if len(values) > 1
                    else "read the AstroDrizzle log and the product's primary header; "
                    "the inputs' headers hold the values it should carry."
                ),
                item=key,
            )
        )
    return verdicts


def _same(product: str, value: str, key: str) -> bool:
    if key == "PHOTMODE":
        return product.strip() == value.strip()
    try:
        return math.isclose(float(product), float(value), rel_tol=KEYWORD_RTOL)
    except ValueError:
        return False


def geometry_limits(row: pd.Series, max_mas: float) -> tuple[float, float]:
    """The largest orientation error (deg) and relative scale error that move the
    product's farthest footprint pixel (``radius_arcsec`` from its centre) by at most
    ``max_mas``."""
    radius_mas = float(row["radius_arcsec"]) * 1000.0
    return math.degrees(max_mas / radius_mas), max_mas / radius_mas


def check_product_geometry(
    row: pd.Series, method: str, final_rot: float, scale_arcsec: float, max_mas: float
) -> list[Verdict]:
    """The product's grid is the one asked for: its orientation ``final_rot`` (deg) and
    pixel scale ``scale_arcsec``, each within what moves its farthest pixel by
    ``max_mas`` (HAP's good limit: `geometry_limits`)."""
    rotation_limit, scale_limit = geometry_limits(row, max_mas)
    turn = (float(row["orientation_deg"]) - final_rot + 180.0) % 360.0 - 180.0
    stretch = float(row["scale_arcsec"]) / scale_arcsec - 1.0
    radius = float(row["radius_arcsec"])
    verdicts = []
    for name, value, limit, measured, asked in (
        ("orientation", turn, rotation_limit, f"{row['orientation_deg']:.5f} deg",
         f"final_rot {final_rot:g} deg"),
        ("pixel scale", stretch, scale_limit, f"{row['scale_arcsec']:.6f}\"",
         f"{scale_arcsec:.6f}\""),
    ):  # fmt: skip
        finite = is_finite(value) and is_finite(limit)
        moved = abs(value) * (math.radians(1) if name == "orientation" else 1) * radius * 1e3
        verdicts.append(
            Verdict(
                f"Product has the {name} asked",
                f'the {method} mosaic ({radius:.0f}" from its centre to its farthest pixel)',
                finite and abs(value) <= limit,
                f"{measured} against {asked}: moves its farthest pixel {moved:.1f} mas"
                + ("" if finite else " (not a number)"),
                f"<= {limit:.3g} {'deg' if name == 'orientation' else '(relative)'}, what "
                f"moves it {max_mas:g} mas (HAP good)",
                "the product was drizzled onto another grid than the spec's: compare "
                "final_rot and final_scale in the AstroDrizzle log with the spec, and look "
                "for a later step that rewrote the WCS.",
                item=method,
                value=float(value),
                limit=limit,
            )
        )
    return verdicts


def check_product_holes(row: pd.Series, method: str, max_pixels: float) -> Verdict:
    """No zero-weight hole inside the union of the inputs' footprints is larger than
    ``max_pixels`` (the photometric aperture's area: a hole that size can swallow a star)."""
    largest = float(row["largest_hole_pixels"])
    finite = is_finite(largest)
    return Verdict(
        "Product has no hole inside its footprint",
        f"the {method} mosaic ({int(row['union_pixels'])} pixels inside the inputs' footprints)",
        finite and largest <= max_pixels,
        f"largest zero-weight hole {largest:.0f} pixels ({int(row['holes'])} holes)",
        f"<= {max_pixels:.0f} pixels (the photometric aperture's area)",
        "no input drizzled data there: read the inputs' DQ over the hole (a region flagged "
        "in every exposure that covers it, outside final_bits), and whether the dither "
        "pattern covers it at all.",
        item=method,
        value=largest,
        limit=max_pixels,
    )
