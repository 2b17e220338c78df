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
