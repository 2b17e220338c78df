"""The limits an alignment is held to: HAP's grades and the error its fit claims.

`AstrometryGrades` grades an astrometric value (the WCS against the truth, the mean offset
of an FLT's own stars from the catalog, the archive's delivered RMS) with drizzlepac's HAP
limits; `ErrorBudget` adds, to what a visit's fit claims of its own error
(`skyqa.accuracy`), the terms that fit cannot see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skyqa.verdict import Verdict, is_finite

CONSISTENCY_SIGMAS = 3.0
"""How many predicted uncertainties a WCS may be from the truth before its fit's claim is
false: the issue-31 decision ("beyond 3 of those predicted uncertainties")."""


@dataclass(frozen=True)
class AstrometryGrades:
    """HAP's two alignment limits (mas): up to ``good_mas`` a verdict passes; up to
    ``accepted_mas`` it is a warning naming the category; beyond it, a failure."""

    good_mas: float
    accepted_mas: float

    def threshold(self) -> str:
        """The grades as a threshold text."""
        return (
            f"<= {self.good_mas} mas (HAP good, category 1); a warning up to "
            f"{self.accepted_mas} mas (HAP accepted), a failure beyond"
        )

    def grade(
        self,
        check: str,
        subject: str,
        value_mas: float,
        measured: str,
        advice: str,
        item: str,
    ) -> Verdict:
        """One astrometric value graded: passed, a warning, or failed (NaN fails)."""
        finite = is_finite(value_mas)
        warning = finite and self.good_mas < value_mas <= self.accepted_mas
        if warning:
            measured += (
                f"; HAP category 3 (valid, RMS >= {self.good_mas} mas), within its accepted "
                f"{self.accepted_mas} mas"
            )
        elif finite and value_mas > self.accepted_mas:
            measured += f"; beyond HAP's accepted {self.accepted_mas} mas"
        return Verdict(
            check,
            subject,
            finite and value_mas <= self.good_mas,
            measured,
            self.threshold(),
            advice,
            item=item,
            value=float(value_mas),
            limit=self.good_mas,
            warning=warning,
        )


@dataclass(frozen=True)
class ErrorBudget:
    """The error terms (mas, 2-D RMS) that a visit's fit cannot see, added in quadrature
    to what it claims (`skyqa.accuracy`): an exposure's pointing against its visit, the
    distortion solution's residual (in the exposure's pixels) and the catalog's epoch
    propagation."""

    exposure_pointing_mas: float
    distortion_residual_pix: float
    catalog_epoch_error_mas: float

    def predicted_mas(self, fit_claim_mas: float, pixel_scale_mas: float) -> float:
        """The predicted 2-D RMS error over the detector (inf where the fit claims none)."""
        return math.hypot(
            fit_claim_mas,
            self.exposure_pointing_mas,
            self.distortion_residual_pix * pixel_scale_mas,
            self.catalog_epoch_error_mas,
        )

    def describe(self, pixel_scale_mas: float) -> str:
        """The budget's terms as text."""
        return (
            f"exposure pointing {self.exposure_pointing_mas:g}, distortion "
            f"{self.distortion_residual_pix * pixel_scale_mas:.1f}, catalog epoch "
            f"{self.catalog_epoch_error_mas:g} mas"
        )


def grades_of(thresholds) -> AstrometryGrades:
    """HAP's grades from a field's `~skyqa.field.Thresholds`."""
    return AstrometryGrades(thresholds.astrometry_good_mas, thresholds.astrometry_accepted_mas)


def budget_of(thresholds) -> ErrorBudget:
    """The error budget from a field's `~skyqa.field.Thresholds`."""
    return ErrorBudget(
        thresholds.exposure_pointing_mas,
        thresholds.distortion_residual_pix,
        thresholds.catalog_epoch_error_mas,
    )
