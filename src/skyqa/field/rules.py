"""The rules a field spec's values obey beyond their types and ranges (which each key
declares: `skyqa.field.model.Range`): retired and refused keys, and values that must agree
with each other."""

from __future__ import annotations

from typing import Any

from skyqa.errors import FieldSpecError
from skyqa.field.model import SKY_METHODS

RETIRED_KEYS = {
    "match_truth_tolerance_e_s": "the pedestal-truth tolerance is now half the seam threshold "
    "(seam_max_noise_fraction) of each exposure's pixel noise, so that the two checks agree "
    "on what a seam is (docs/checks.md, test_match_recovers_injected_pedestals); delete the line.",
    **{
        key: "an alignment is now graded with drizzlepac's HAP limits, astrometry_good_mas "
        "(10 mas: pass) and astrometry_accepted_mas (20 mas: a warning up to it, a failure "
        "beyond), the same for every detector, and a WCS is held against the truth by its "
        "own fit's predicted error (docs/checks.md, Alignment); delete the line."
        for key in ("wcs_truth_max_rms_mas", "source_offset_max_mas", "delivered_wcs_rms_max_pix")
    },
    "oracle_tolerance_e_s": "the oracle tolerance is now half the seam threshold "
    "(seam_max_noise_fraction) of each exposure's pixel noise, as the pedestal-truth "
    "tolerance is: a fixed e-/s value was 0.1 x the WFC3/IR replica's noise and 0.04 x the "
    "WFC3/UVIS replica's (docs/checks.md, test_match_agrees_with_oracle); delete the line.",
}
"""Keys of earlier skyqa versions, with what replaced them."""


REFUSED_KEYS = {
    "updatewcs": "skyqa never runs updatewcs: it would rebuild the archive's WCS from the "
    "reference files (IDCTAB, NPOLFILE, D2IMFILE under $iref, or from CRDS) and drop the "
    "alignment the checks judge; the headers' SIP and OCX/OCY keywords are what drizzlepac "
    "uses (docs/real-data.md). Delete the line.",
    "driz_cr": "skyqa sets cosmic-ray rejection by the field's detector: off for WFC3/IR "
    "(calwf3's ramp fit rejected the hits; as the tutorial does), on with its median and "
    "blot steps for the CCDs (README, Detectors). Delete the line.",
}
"""Keys skyqa refuses on purpose (they would need reference files, or change what is
checked), with the reason."""


def check_rules(sections: dict[str, Any], source: str) -> None:
    """Refuse what the keys' own ranges (`skyqa.field.model.Range`, checked as each key is
    read) cannot say: values that must agree with each other, no sky method, an exposure
    that lasts no time.

    Raises
    ------
    FieldSpecError
        Naming the key, its value and what is allowed.
    """
    limits = sections["thresholds"]
    if limits.astrometry_accepted_mas < limits.astrometry_good_mas:
        raise FieldSpecError(
            f"{source}: [thresholds].astrometry_accepted_mas ({limits.astrometry_accepted_mas!r}) "
            f"is below astrometry_good_mas ({limits.astrometry_good_mas!r}); allowed: "
            ">= astrometry_good_mas (HAP's grades: good, then accepted)."
        )
    if not sections["astrodrizzle"].skymethods:
        raise FieldSpecError(
            f"{source}: [astrodrizzle].skymethods is empty; name at least one of "
            f"{', '.join(SKY_METHODS)}."
        )
    synthetic = sections.get("synthetic")
    for exposure in synthetic.exposures if synthetic else ():
        if exposure.exptime <= 0:
            raise FieldSpecError(
                f"{source}: exposure {exposure.rootname} has exptime {exposure.exptime!r}; "
                "allowed: > 0 s."
            )
