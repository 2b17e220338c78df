"""QA: seams between overlapping exposures, measured by skyqa independently of drizzlepac."""

import pytest

from skyqa.checks.planes import check_residual_planes
from skyqa.checks.seams import (
    check_exposure_seams,
    check_oracle_agreement,
    check_overlaps_connected,
    check_score_below,
    check_seam_free,
)
from skyqa.checks.sky import fallback_note, pedestal_tolerances
from skyqa.planes import residual_planes
from skyqa.plugin.verdicts import require
from skyqa.verdict import annotate


def test_overlaps_connected(overlap_pairs, aligned_flts):
    """Every exposure overlaps another, in one group: all relative sky levels are tied."""
    rootnames = [path.name[:9] for path in aligned_flts]
    require(check_overlaps_connected(overlap_pairs, rootnames))


def test_sky_flat_across_each_exposure(overlap_pairs, skyqa_field):
    """Each exposure's sky is flat across its detector: its residual plane, fitted from
    all overlaps together (as Montage's mBgModel), leaves no gradient one constant per
    exposure cannot remove."""
    fraction = skyqa_field.thresholds.seam_max_noise_fraction
    require(check_residual_planes(residual_planes(overlap_pairs), fraction))


@pytest.mark.skyqa_matching
def test_seam_free(mosaic, seam_table, skyqa_field):
    """Every overlap agrees within the field's fraction of the per-pixel noise, and each
    exposure's overlaps, judged together, agree on average and with each other."""
    fraction = skyqa_field.thresholds.seam_max_noise_fraction
    verdicts = [
        *check_seam_free(seam_table, mosaic.skymethod, fraction),
        *check_exposure_seams(seam_table, mosaic.skymethod, fraction),
    ]
    require(annotate(verdicts, fallback_note(mosaic.log_text, mosaic.skymethod)))


@pytest.mark.skyqa_matching
def test_seam_score_below_localmin(mosaic, seam_table, mosaics):
    """Sky matching leaves smaller seams than per-exposure (localmin) skies."""
    if "localmin" not in mosaics:
        pytest.skip("the field does not drizzle with localmin: nothing to compare with")
    verdicts = check_score_below(seam_table, mosaic.skymethod, "localmin")
    require(annotate(verdicts, fallback_note(mosaic.log_text, mosaic.skymethod)))


@pytest.mark.skyqa_matching
def test_match_agrees_with_oracle(mosaic, overlap_pairs, skyqa_field):
    """drizzlepac's matched skies agree with skyqa's least-squares solution of the pairs,
    each exposure within half the seam threshold of its pixel noise."""
    fraction = skyqa_field.thresholds.seam_max_noise_fraction
    verdicts = check_oracle_agreement(
        overlap_pairs,
        mosaic.mdrizsky,
        mosaic.skymethod,
        pedestal_tolerances(overlap_pairs, fraction),
    )
    require(annotate(verdicts, fallback_note(mosaic.log_text, mosaic.skymethod)))
