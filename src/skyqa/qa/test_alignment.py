"""QA: alignment of the visit DRZs to the reference catalog, and tweakback into the FLTs."""

import pytest

from skyqa.checks.alignment import (
    check_fit_quality,
    check_residuals,
    check_shift_file,
    check_sources_on_catalog,
    check_tweakback,
    check_wcs_against_truth,
)
from skyqa.checks.limits import budget_of, grades_of
from skyqa.plugin.verdicts import require
from skyqa.verdict import about


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


def test_tweakback_moved_flts(alignment_placement, visit, skyqa_field):
    """Every FLT of the visit moved on the sky with its DRZ (no silent no-op)."""
    limit = skyqa_field.thresholds.tweakback_agreement_max_mas
    require(about(check_tweakback(alignment_placement.tweakback, limit), visit))


def test_wcs_matches_truth(alignment_placement, visit, skyqa_field):
    """Synthetic fields: each aligned FLT WCS is as close to the true WCS as its fit
    claims, and graded with HAP's limits."""
    if alignment_placement.truth is None:
        pytest.skip(f"field {skyqa_field.name} is real data: no true WCS to compare with")
    limits = skyqa_field.thresholds
    verdicts = check_wcs_against_truth(
        alignment_placement.truth, budget_of(limits), grades_of(limits)
    )
    require(about(verdicts, visit))


def test_sources_on_catalog(source_offsets, visit, skyqa_field):
    """Each aligned FLT's own stars, found by photutils and placed by its WCS, sit on
    the reference catalog (the alignment verified without TweakReg)."""
    limits = skyqa_field.thresholds
    verdicts = check_sources_on_catalog(source_offsets, grades_of(limits), limits.min_matches)
    require(about(verdicts, visit))
