"""Checks of the final mosaics: they exist, hold data, and hold the sky their headers record."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from skyqa.drizzle import Mosaic
from skyqa.verdict import Verdict, is_finite


def check_mosaic_exists(mosaic: Mosaic) -> list[Verdict]:
    """The mosaic's science and weight images exist and have positive weight somewhere.

    Returns one verdict per image (science, weight). What the images hold is the
    mosaic's `Mosaic.coverage` (measured once, when its cache entry was made).
    """
    verdicts = []
    coverage = mosaic.coverage
    for kind, path in (("science", mosaic.sci_path), ("weight", mosaic.wht_path)):
        subject = f"the {mosaic.skymethod} mosaic's {kind} image {path.name}"
        if not path.is_file() or kind not in coverage:
            verdicts.append(
                Verdict(
                    "Mosaic image exists",
                    subject,
                    False,
                    "file missing",
                    "a FITS image",
                    f"read the AstroDrizzle log {mosaic.log_path}.",
                )
            )
            continue
        pixels, fraction = coverage[kind]["pixels"], coverage[kind]["fraction"]
        verdicts.append(
            Verdict(
                "Mosaic image holds data",
                subject,
                fraction > 0,
                f"{fraction:.1%} of {pixels} pixels "
                + ("with positive weight" if kind == "weight" else "finite"),
                "> 0%",
                f"an empty mosaic means no input pixel was drizzled: read {mosaic.log_path} "
                "and check the inputs' DQ arrays against final_bits.",
            )
        )
    return verdicts


def check_mosaic_sky(
    regions: pd.DataFrame, method: str, max_noise_fraction: float
) -> list[Verdict]:
    """The method's mosaic holds the sky its headers record, judged on its pixels.

    ``regions`` is `skyqa.pixels.sky_regions`. For each region, the method's mosaic
    less each other method's differs from what their MDRIZSKY predict by some amount;
    the verdict takes the median over the other methods (with three or more, a method
    whose pixels are wrong stands out against all the others, and each of them against it
    alone), in units of the region's per-pixel noise, and passes within
    ``max_noise_fraction`` (the seam threshold: a sky off by more is a seam against a
    correct neighbour). A region whose numbers are not finite fails.
    """
    rows = regions[(regions.method_a == method) | (regions.method_b == method)]
    verdicts = []
    for region, group in rows.groupby("region", sort=False):
        # Orient every row as (this method - other method).
        sign = np.where(group.method_a == method, -1.0, 1.0)
        excess = sign * (group.measured_e_s.to_numpy(float) - group.predicted_e_s.to_numpy(float))
        noise = float(group.noise_e_s.iloc[0])
        value = float(np.median(excess)) / noise if noise > 0 else math.nan
        others = np.where(group.method_a == method, group.method_b, group.method_a)
        detail = ", ".join(
            f"{other} {difference:+.5f}" for other, difference in zip(others, excess, strict=True)
        )
        finite = is_finite(value)
        verdicts.append(
            Verdict(
                "Mosaic pixels hold the recorded sky",
                f"region covered by {region} ({method} mosaic, {int(group.n_pixels.iloc[0])} "
                "pixels)",
                finite and abs(value) <= max_noise_fraction,
                f"{value:+.3f} x pixel noise: the pixels less the other methods' differ from "
                f"their MDRIZSKY differences by {detail} e-/s"
                + ("" if finite else "; not a number (no pixel noise, or a NaN MDRIZSKY)"),
                f"|median difference| <= {max_noise_fraction} x pixel noise ({noise:.4f} e-/s)",
                "the mosaic's pixels had another sky subtracted than its FLT headers record: "
                "compare the log's 'Applying sky value' lines with MDRIZSKY, read the log for "
                "'Reverting sky computation', and check that the FLTs drizzled are the ones "
                "whose headers were read.",
                item=method,
                value=value,
                limit=max_noise_fraction,
            )
        )
    if not verdicts:
        verdicts.append(
            Verdict(
                "Mosaic pixels hold the recorded sky",
                f"the {method} mosaic",
                False,
                "no region covered by one known set of exposures with enough pixels",
                "at least one region to compare",
                "check that the mosaics share one output grid and that the aligned FLTs "
                "overlap the mosaic; lower min_overlap_pixels for a very small field.",
                item=method,
            )
        )
    return verdicts


def exposure_sky_errors(regions: pd.DataFrame, method: str) -> pd.DataFrame:
    """Each exposure's own sky error in the method's mosaic, from the regions it covers.

    A region's value (`check_mosaic_sky`: the median over the other methods of the
    mosaic's excess over its recorded skies, x pixel noise) is the weighted sum of its
    members' errors; each exposure's error, the others taken as right, is the
    least-squares ``sum(n w v) / sum(n w^2)`` over its regions (``w`` its weight there,
    ``n`` the region's pixels). An exposure always drizzled with the same partners (a
    dither pair) shows its whole error this way, where a region shows a share of it.

    Returns
    -------
    pandas.DataFrame
        ``rootname``, ``error`` (x pixel noise; NaN where a region's value or weights are
        not finite), ``regions``, ``n_pixels`` and ``alike`` (the exposures with the same
        regions, which no region can tell apart from it).
    """
    values: dict[str, list[tuple[float, float, int]]] = {}
    sets: dict[str, set[str]] = {}
    for verdict, (region, group) in zip(
        check_mosaic_sky(regions, method, 1.0),
        regions[(regions.method_a == method) | (regions.method_b == method)].groupby(
            "region", sort=False
        ),
        strict=False,
    ):
        members = region.split("+")
        weights = [float(w) for w in str(group["weights"].iloc[0]).split(";")]
        count = int(group.n_pixels.iloc[0])
        value = math.nan if verdict.value is None else float(verdict.value)
        for name, weight in zip(members, weights, strict=True):
            values.setdefault(name, []).append((value, weight, count))
            sets.setdefault(name, set()).add(region)
    rows = []
    for name, entries in values.items():
        table = np.array(entries, dtype=float)  # value, weight, pixels per region
        denominator = float(np.sum(table[:, 2] * table[:, 1] ** 2))
        numerator = float(np.sum(table[:, 2] * table[:, 1] * table[:, 0]))
        error = numerator / denominator if denominator > 0 else math.nan
        alike = sorted(other for other in sets if other != name and sets[other] == sets[name])
        rows.append(
            {
                "rootname": name,
                "error": error,
                "regions": len(entries),
                "n_pixels": int(table[:, 2].sum()),
                "alike": alike,
            }
        )
    return pd.DataFrame(rows, columns=["rootname", "error", "regions", "n_pixels", "alike"])


def check_exposure_sky(
    regions: pd.DataFrame, method: str, max_noise_fraction: float
) -> list[Verdict]:
    """Each exposure's pixels in the method's mosaic hold the sky its header records:
    its own error (`exposure_sky_errors`, x its regions' pixel noise) within
    ``max_noise_fraction`` (the seam threshold). The measurement has no noise of its own
    (one set of pixels, two bookkeepings), so no margin is added. No region at all fails."""
    errors = exposure_sky_errors(regions, method)
    if errors.empty:
        return check_mosaic_sky(regions.iloc[0:0], method, max_noise_fraction)
    verdicts = []
    for row in errors.itertuples(index=False):
        finite = is_finite(row.error)
        alike = (
            f"; {', '.join(row.alike)} always drizzled with it: no region tells them apart"
            if row.alike
            else ""
        )
        verdicts.append(
            Verdict(
                "Mosaic pixels hold each exposure's recorded sky",
                f"exposure {row.rootname} ({method} mosaic, {row.regions} regions, "
                f"{row.n_pixels} pixels)",
                finite and abs(row.error) <= max_noise_fraction,
                f"{row.error:+.3f} x pixel noise left in its pixels beyond its recorded MDRIZSKY "
                f"(+: less sky subtracted than recorded), from the regions it covers{alike}"
                + ("" if finite else "; not a number (no pixel noise, or a NaN MDRIZSKY)"),
                f"|error| <= {max_noise_fraction} x pixel noise",
                "the mosaic's pixels had another sky subtracted from this exposure"
                + (f" (or from {', '.join(row.alike)})" if row.alike else "")
                + " than its header records: compare the log's 'Applying sky value' lines with "
                "MDRIZSKY, read the log for 'Reverting sky computation', and check that the "
                "FLTs drizzled are the ones whose headers were read.",
                item=method,
                value=float(row.error),
                limit=max_noise_fraction,
            )
        )
    return verdicts
