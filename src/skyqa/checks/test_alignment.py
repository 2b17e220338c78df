"""QA: alignment of the visit DRZs to the reference catalog, and tweakback into the FLTs."""

import pytest

from skyqa.align import drz_members
from skyqa.checks.alignment import (
    check_fit_quality,
    check_residuals,
    check_shift_file,
    check_tweakback,
    check_wcs_against_truth,
    visit_of,
)
from skyqa.verdict import about, require


def test_shift_file(alignment):
    """The shift file has one finite line per visit DRZ."""
    images = [path.name for path in alignment.visit_drz_paths]
    require(check_shift_file(alignment.shift_file, images))


def test_alignment_fit(alignment, visit, skyqa_field):
    """The visit's fit RMS is within the threshold, with enough matched sources."""
    limits = skyqa_field.thresholds
    verdicts = check_fit_quality(alignment.fit_table, limits.fit_rms_max_pix, limits.min_matches)
    require(about(verdicts, visit))


def test_alignment_residuals(alignment_residuals, visit, skyqa_field):
    """After the header update, a new fit finds no shift, rotation or scale left."""
    limits = skyqa_field.thresholds
    verdicts = check_residuals(
        alignment_residuals,
        limits.residual_shift_max_pix,
        limits.residual_rotation_max_deg,
        limits.residual_scale_max,
    )
    require(about(verdicts, visit))


def test_tweakback_moved_flts(alignment, visit, skyqa_field):
    """Every FLT of the visit moved on the sky with its DRZ (no silent no-op)."""
    from astropy.io import fits

    verdicts = []
    for drz in alignment.visit_drz_paths:
        if visit not in ("all", visit_of(drz.name)):
            continue
        members = drz_members(drz)
        verdicts += check_tweakback(
            visit_of(drz.name),
            alignment.headers_before_update(drz.name),
            fits.getheader(drz, ("SCI", 1)),
            {name: alignment.headers_before_update(name) for name in members},
            {name: fits.getheader(drz.parent / name, ("SCI", 1)) for name in members},
            skyqa_field.thresholds.tweakback_agreement_max_mas,
        )
    require(verdicts)


def test_wcs_matches_truth(alignment, visit, truth, skyqa_field):
    """Synthetic fields: each aligned FLT WCS is within the limit of the true WCS."""
    from astropy.io import fits

    if truth is None:
        pytest.skip(f"field {skyqa_field.name} is real data: no true WCS to compare with")
    aligned = {path.name[:9]: path for path in alignment.aligned_flt_paths}
    verdicts = []
    for geometry in truth.exposures:
        if visit in ("all", geometry.asn_id.lower()):
            verdicts += check_wcs_against_truth(
                geometry.asn_id.lower(),
                geometry.rootname,
                fits.getheader(aligned[geometry.rootname], ("SCI", 1)),
                geometry.wcs_header("true"),
                skyqa_field.thresholds.wcs_truth_max_rms_mas,
            )
    require(verdicts)
