"""Each exposure's sky is flat across its detector: no gradient left that one constant per
exposure (what every sky method subtracts) cannot remove (`skyqa.planes`)."""

from __future__ import annotations

import math

import pandas as pd

from skyqa.verdict import Verdict, is_finite

UNCERTAINTIES = 2.0
"""How many of its uncertainties a half-gradient must pass the seam threshold by: as a
seam's (`skyqa.checks.seams`)."""


def check_residual_planes(planes: pd.DataFrame, max_noise_fraction: float) -> list[Verdict]:
    """Per exposure (chip) and detector axis: its gradient (`skyqa.planes
    .residual_planes`, against the others') over two, the sky error at its edges once a
    constant has set its mean, x its pixel noise, less `UNCERTAINTIES` of its
    uncertainty, within ``max_noise_fraction`` (the seam threshold: an edge off by more is
    a seam against a right neighbour). No exposure measured fails."""
    if planes.empty:
        return [
            Verdict(
                "Sky is flat across each exposure",
                "the field's overlaps",
                False,
                "no exposure's plane could be fitted (no overlap with plane sums)",
                "a plane for every exposure that overlaps another",
                "check that the overlaps stage ran with this skyqa (its table has the "
                "plane_* columns) and that the exposures overlap.",
            )
        ]
    verdicts = []
    for row in planes.itertuples(index=False):
        for axis, name in (("u", "x (columns)"), ("v", "y (rows)")):
            gradient = float(getattr(row, f"gradient_{axis}")) / row.noise_e_s
            uncertainty = float(getattr(row, f"uncertainty_{axis}")) / row.noise_e_s
            half, half_error = gradient / 2, uncertainty / 2
            excess = abs(half) - UNCERTAINTIES * half_error
            finite = is_finite(excess)
            verdicts.append(
                Verdict(
                    "Sky is flat across each exposure",
                    f"exposure {row.unit} along its {name} ({row.pairs} pairs)",
                    finite and excess <= max_noise_fraction,
                    f"{half:+.3f} +- {half_error:.3f} x pixel noise at its edges against its "
                    f"middle (a gradient of {gradient:+.3f} across the detector, against "
                    "the other exposures')"
                    + ("" if finite else "; not a number (no pixel noise, or no constraint)"),
                    f"|half-gradient| - {UNCERTAINTIES:g} x its uncertainty <= "
                    f"{max_noise_fraction} x pixel noise",
                    "the exposure's sky changes across its detector, and one sky value per "
                    "exposure cannot level it: its overlaps' seams then lean opposite ways "
                    "at its opposite edges. Look at the exposure for scattered light, a "
                    "persistence or flat-field ramp, or an amplifier's offset "
                    "(test_seam_free's step verdicts).",
                    item=row.unit,
                    value=max(excess, 0.0) if finite else math.nan,
                    limit=max_noise_fraction,
                )
            )
    return verdicts
