"""QA: the final mosaics exist, hold data, and hold the sky their headers record."""

import pytest

from skyqa.checks.chips import check_cosmic_ray_rejection
from skyqa.checks.mosaics import check_exposure_sky, check_mosaic_exists
from skyqa.plugin.verdicts import require


def test_mosaic_exists(mosaic, skyqa_field):
    """The sky method's mosaic has a science and a weight image with data (on the CCDs,
    made with a sane cosmic-ray rejection)."""
    limits = skyqa_field.thresholds
    require(
        [
            *check_mosaic_exists(mosaic),
            *check_cosmic_ray_rejection(
                mosaic.cosmic_rays,
                mosaic.skymethod,
                limits.cosmic_ray_fraction_min,
                limits.cosmic_ray_fraction_max,
            ),
        ]
    )


def test_mosaic_holds_recorded_sky(mosaic, mosaic_skies, skyqa_field):
    """Where one set of exposures covers the mosaic, its pixels less another method's
    equal the difference of their recorded MDRIZSKY (no log is read); judged per
    exposure, from all the regions it covers."""
    if len(skyqa_field.astrodrizzle.skymethods) < 2:
        pytest.skip(
            f"field {skyqa_field.name} drizzles with one sky method: no second mosaic to "
            "compare its pixels with"
        )
    require(
        check_exposure_sky(
            mosaic_skies, mosaic.skymethod, skyqa_field.thresholds.seam_max_noise_fraction
        )
    )
