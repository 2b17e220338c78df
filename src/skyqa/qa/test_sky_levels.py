"""QA: sky levels (MDRIZSKY) per sky method."""

import pytest

from skyqa.checks.chips import check_one_sky_per_exposure
from skyqa.checks.sky import (
    check_globalmin,
    check_globalmin_plus_match,
    check_match_levels,
    check_mdrizsky_finite,
    check_no_sky_fallback,
    check_pedestals_recovered,
    fallback_note,
    pedestal_tolerances,
)
from skyqa.plugin.verdicts import require
from skyqa.verdict import annotate


def test_mdrizsky_finite(mosaic, skyqa_field):
    """Every exposure has one finite MDRIZSKY under this sky method (on the two-chip CCDs,
    the same on both chips)."""
    tolerance = skyqa_field.thresholds.sky_relation_tolerance_e_s
    require(
        [
            *check_mdrizsky_finite(mosaic.mdrizsky, mosaic.skymethod),
            *check_one_sky_per_exposure(mosaic.mdrizsky, mosaic.skymethod, tolerance),
        ]
    )


def test_no_sky_fallback(mosaic, skyqa_field):
    """The method ran as asked, and the sky logged as subtracted is the header's."""
    require(
        check_no_sky_fallback(
            mosaic.log_text,
            mosaic.mdrizsky,
            mosaic.skymethod,
            skyqa_field.thresholds.logged_sky_tolerance_e_s,
            log_name=str(mosaic.log_path),
        )
    )


@pytest.mark.parametrize("skymethod", ["match"], indirect=True)
def test_match_sky_levels(mosaic, skyqa_field):
    """match: the lowest exposure is 0, none negative, the largest below the limit."""
    limits = skyqa_field.thresholds
    verdicts = check_match_levels(
        mosaic.mdrizsky, mosaic.skymethod, limits.match_max_e_s, limits.sky_relation_tolerance_e_s
    )
    require(annotate(verdicts, fallback_note(mosaic.log_text, mosaic.skymethod)))


def test_globalmin_is_the_smallest_localmin(mosaics, skyqa_field):
    """globalmin: one value for all exposures, the minimum of the per-exposure skies."""
    require(
        check_globalmin(
            mosaics["globalmin"].mdrizsky,
            mosaics["localmin"].mdrizsky,
            skyqa_field.thresholds.sky_relation_tolerance_e_s,
        )
    )


def test_globalmin_match_is_match_plus_constant(mosaics, skyqa_field):
    """(globalmin+match) - match is the same constant for every exposure."""
    verdicts = check_globalmin_plus_match(
        mosaics["globalmin+match"].mdrizsky,
        mosaics["match"].mdrizsky,
        skyqa_field.thresholds.sky_relation_tolerance_e_s,
    )
    notes = [fallback_note(mosaics[m].log_text, m) for m in ("globalmin+match", "match")]
    require(annotate(verdicts, " ".join(note for note in notes if note)))


@pytest.mark.skyqa_matching
def test_match_recovers_injected_pedestals(mosaic, mosaics, truth, overlap_pairs, skyqa_field):
    """Synthetic fields: the matched sky reproduces the injected pedestals within half the
    seam threshold of each exposure's pixel noise (each verdict also reports how far
    localmin is from the truth on that exposure)."""
    if truth is None:
        pytest.skip(f"field {skyqa_field.name} is real data: no injected truth to compare with")
    verdicts = check_pedestals_recovered(
        mosaic.mdrizsky,
        truth.pedestals_e_s,
        pedestal_tolerances(overlap_pairs, skyqa_field.thresholds.seam_max_noise_fraction),
        mosaic.skymethod,
        compare_with=mosaics["localmin"].mdrizsky,
    )
    require(annotate(verdicts, fallback_note(mosaic.log_text, mosaic.skymethod)))
