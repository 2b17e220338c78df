"""Checks that exist only for the two-chip CCDs (ACS/WFC, WFC3/UVIS): one sky per exposure
on both chips, and cosmic-ray rejection that found about as much as cosmic rays make.

Each returns no verdict for a one-chip detector's tables (they lack the columns), so the
QA tests of WFC3/IR fields are what they were.
"""

from __future__ import annotations

import pandas as pd

from skyqa.verdict import Verdict, is_finite


def chip_label(rootname: str, chip: int) -> str:
    """How a verdict names an exposure: ``<rootname>``, or ``<rootname> chip N`` for chip
    N (CCDCHIP) of a two-chip exposure (chip 0: one chip)."""
    return f"{rootname} chip {chip}" if chip else str(rootname)


def check_one_sky_per_exposure(
    mdrizsky: pd.DataFrame, skymethod: str, tolerance_e_s: float
) -> list[Verdict]:
    """Both chips of an exposure carry the same MDRIZSKY (AstroDrizzle applies one sky per
    exposure: `match` fits one value for all its chips, `localmin` takes the minimum over
    them); ``chip_spread_e_s`` is the largest difference between its chips, in e-/s."""
    if "chip_spread_e_s" not in mdrizsky:
        return []
    verdicts = []
    for row in mdrizsky.itertuples(index=False):
        spread = float(row.chip_spread_e_s)
        verdicts.append(
            Verdict(
                "Both chips carry the exposure's one sky",
                f"exposure {row.rootname} ({skymethod})",
                is_finite(spread) and spread <= tolerance_e_s,
                f"chips differ by {spread:.2e} e-/s",
                f"<= {tolerance_e_s} e-/s",
                "AstroDrizzle writes one sky to every chip of an exposure: different values "
                "mean the headers were edited after it ran, or a chip lacks MDRIZSKY; "
                "compare the SCI headers of the exposure's copy with the log's 'Applying sky "
                "value' lines.",
                item=skymethod,
                value=spread,
                limit=tolerance_e_s,
            )
        )
    return verdicts


def check_cosmic_ray_rejection(
    cosmic_rays: pd.DataFrame | None, skymethod: str, low: float, high: float
) -> list[Verdict]:
    """Per chip of every exposure, the fraction of pixels AstroDrizzle flagged as cosmic
    rays (DQ 4096) making this mosaic lies in [``low``, ``high``]: none means rejection did
    not run; many means the exposures disagree for another reason (a wrong sky, a
    misalignment), which the rejection then takes for cosmic rays and throws away."""
    if cosmic_rays is None:
        return []
    verdicts = []
    for row in cosmic_rays.itertuples(index=False):
        fraction = float(row.flagged_fraction)
        inside = is_finite(fraction) and low <= fraction <= high
        verdicts.append(
            Verdict(
                "Cosmic-ray rejection flags a sane fraction",
                f"exposure {chip_label(row.rootname, row.chip)} ({skymethod})",
                inside,
                f"{100 * fraction:.2f} % of the chip's pixels flagged 4096",
                f"{100 * low:g} % to {100 * high:g} %",
                "too few: the cosmic-ray steps did not run (driz_cr) or flagged nothing; too "
                "many: the exposures differ where they overlap for another reason, such as "
                "each exposure's own localmin sky on a nebula, or a misaligned exposure; "
                "look at this exposure's DQ 4096 pixels in the mosaic's working copy.",
                item=skymethod,
                value=fraction,
                limit=high if fraction > high else low,
                upper=fraction > high,
            )
        )
    return verdicts
