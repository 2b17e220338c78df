"""The rules a field spec's values obey beyond their types: retired and refused keys, and
each number's physical range."""

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

_POSITIVE = "> 0"
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    # "[section].key": (low, high, low is excluded); None: unbounded
    **{
        f"[thresholds].{name}": (0.0, None, True)
        for name in (
            "fit_rms_max_pix",
            "residual_shift_max_pix",
            "residual_rotation_max_deg",
            "residual_scale_max",
            "tweakback_agreement_max_mas",
            "astrometry_good_mas",
            "astrometry_accepted_mas",
            "match_max_e_s",
            "sky_relation_tolerance_e_s",
            "logged_sky_tolerance_e_s",
            "seam_max_noise_fraction",
            "unflagged_column_max_sigma",
        )
    },
    **{
        f"[thresholds].{name}": (0.0, None, False)
        for name in ("exposure_pointing_mas", "distortion_residual_pix", "catalog_epoch_error_mas")
    },
    "[thresholds].cosmic_ray_fraction_min": (0.0, 1.0, False),
    "[thresholds].cosmic_ray_fraction_max": (0.0, 1.0, True),
    "[thresholds].min_matches": (1, None, False),
    "[thresholds].min_overlap_pixels": (1, None, False),
    "[tweakreg].threshold": (0.0, None, True),
    "[tweakreg].conv_width": (0.0, None, True),
    "[tweakreg].minobj": (1, None, False),
    "[tweakreg].searchrad": (0.0, None, True),
    "[tweakreg].ylimit": (0.0, None, True),
    "[tweakreg].nclip": (0, None, False),
    "[astrodrizzle].final_rot": (-360.0, 360.0, False),
    "[astrodrizzle].final_scale": (0.0, None, True),
    "[catalog].radius_arcmin": (0.0, 60.0, True),
    "[catalog].min_separation_arcsec": (0.0, None, False),
    "[target].ra_deg": (0.0, 360.0, False),
    "[target].dec_deg": (-90.0, 90.0, False),
    "[baseline].default_atol": (0.0, None, False),
    "[synthetic].n_stars": (1, None, False),
    "[synthetic].psf_fwhm_pix": (0.0, None, True),
    "[synthetic].hot_pixel_fraction": (0.0, 1.0, False),
    "[synthetic].dead_pixel_fraction": (0.0, 1.0, False),
    "[synthetic].catalog_radius_arcmin": (0.0, 60.0, True),
}
"""The physical range of numeric spec values: a negative threshold, a zero search
radius or a fraction above 1 is refused with the range in the message."""
_NOT_NEGATIVE_SYNTHETIC = (
    "sky_base_e_s",
    "visit_pedestal_range_e_s",
    "exposure_pedestal_jitter_e_s",
    "nebula_blobs",
    "nebula_peak_e_s",
    "read_noise_e",
    "dark_e_s",
    "pointing_shift_max_arcsec",
    "pointing_rotation_max_deg",
    "pointing_scale_max",
    "proper_motion_dispersion_mas_yr",
    "catalog_error_scale",
    "distortion_residual_pix",
    "exposure_jitter_mas",
    "unflagged_cosmic_rays",
    "unflagged_snowballs",
)
RANGES.update({f"[synthetic].{name}": (0.0, None, False) for name in _NOT_NEGATIVE_SYNTHETIC})
FIT_GEOMETRIES = ("shift", "rscale", "general")


def _range_text(low: float | None, high: float | None, open_low: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if open_low else '>='} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    return " and ".join(parts)


def _check_ranges(sections: dict[str, Any], source: str) -> None:
    """Refuse numeric values outside their physical range (`RANGES`), a fit geometry
    TweakReg does not know, no sky method, and negative baseline tolerances.

    Raises
    ------
    FieldSpecError
        Naming the key, its value and the allowed range.
    """
    for where, (low, high, open_low) in RANGES.items():
        section, key = where[1:].split("].")
        value = getattr(sections.get(section), key, None)
        if value is None:
            continue
        below = low is not None and (value <= low if open_low else value < low)
        if below or (high is not None and value > high):
            raise FieldSpecError(
                f"{source}: {where} is {value!r}; allowed: {_range_text(low, high, open_low)}."
            )
    for table in ("alignment", "mdrizsky", "seams"):
        for column, tolerance in getattr(sections["baseline"], table).items():
            if tolerance < 0:
                raise FieldSpecError(
                    f"{source}: [baseline].{table}.{column} is {tolerance!r}; allowed: >= 0."
                )
    if sections["tweakreg"].fitgeometry not in FIT_GEOMETRIES:
        raise FieldSpecError(
            f"{source}: [tweakreg].fitgeometry is {sections['tweakreg'].fitgeometry!r}; "
            f"allowed: {', '.join(FIT_GEOMETRIES)}."
        )
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
