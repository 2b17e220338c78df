"""QA: each mosaic as the product a user releases: its astrometry, photometry, geometry
and keywords (measured by `skyqa.products`, judged by `skyqa.checks.products`)."""

import math

import pytest

from skyqa.checks.limits import grades_of
from skyqa.checks.products import (
    check_product_astrometry,
    check_product_geometry,
    check_product_holes,
    check_product_keywords,
    check_product_photometry,
    kernel_loss,
)
from skyqa.photometry import APERTURE_ARCSEC
from skyqa.plugin.verdicts import require


def _measured(product_measures, mosaic):
    """The mosaic's row and photometry; a mosaic the stage did not measure is an error."""
    row, stars = product_measures.of(mosaic.skymethod)
    if row is None:
        raise RuntimeError(
            f"skyqa bug: the products stage measured no {mosaic.skymethod} mosaic; read the "
            "stage's progress lines."
        )
    return row, stars


def test_product_astrometry(mosaic, product_measures, skyqa_field):
    """The mosaic's own stars, found by photutils and placed by its WCS, sit on the
    reference catalog (HAP's grades)."""
    row, _ = _measured(product_measures, mosaic)
    limits = skyqa_field.thresholds
    require(
        [check_product_astrometry(row, mosaic.skymethod, grades_of(limits), limits.min_matches)]
    )


def test_product_stars_at_true_positions(mosaic, product_measures, skyqa_field):
    """Synthetic fields: the mosaic's stars sit at their true positions (HAP's grades)."""
    if skyqa_field.kind != "synthetic":
        pytest.skip(f"field {skyqa_field.name} is real data: no true star positions")
    row, _ = _measured(product_measures, mosaic)
    limits = skyqa_field.thresholds
    require(
        [
            check_product_astrometry(
                row, mosaic.skymethod, grades_of(limits), limits.min_matches, truth=True
            )
        ]
    )


def test_product_photometry(mosaic, product_measures):
    """Each exposure's isolated stars hold the same flux in the mosaic as in the exposure
    (pixel-area corrected), within what drizzle's widening moves out of the aperture and
    the ratios' own noise."""
    row, stars = _measured(product_measures, mosaic)
    loss = kernel_loss(stars, float(row["broadening_arcsec2"]), APERTURE_ARCSEC)
    require(check_product_photometry(stars, mosaic.skymethod, loss))


def test_product_keywords(mosaic, product_measures, skyqa_field):
    """The mosaic carries its inputs' PHOTMODE, PHOTFLAM and PHOTPLAM."""
    row, _ = _measured(product_measures, mosaic)
    keys = ("PHOTMODE", "PHOTFLAM", "PHOTPLAM")
    if not any(str(row[f"inputs_{key}"]) for key in keys):
        pytest.skip(
            f"field {skyqa_field.name}: no input carries PHOTMODE, PHOTFLAM or PHOTPLAM (the "
            "CCD replicas write none: their calibration values are not available offline)"
        )
    require(check_product_keywords(row, mosaic.skymethod))


def test_product_geometry(mosaic, product_measures, skyqa_field):
    """The mosaic has the orientation and pixel scale asked (final_rot; final_scale, or
    the inputs' own scale), each within what moves its farthest pixel by HAP's good
    limit."""
    row, _ = _measured(product_measures, mosaic)
    spec = skyqa_field.astrodrizzle
    scale = spec.final_scale if spec.final_scale is not None else float(row["inputs_scale_arcsec"])
    require(
        check_product_geometry(
            row,
            mosaic.skymethod,
            spec.final_rot,
            scale,
            skyqa_field.thresholds.astrometry_good_mas,
        )
    )


def test_product_has_no_holes(mosaic, product_measures):
    """No zero-weight hole inside the inputs' footprints is as large as the photometric
    aperture."""
    row, _ = _measured(product_measures, mosaic)
    aperture_pixels = math.pi * (APERTURE_ARCSEC / float(row["scale_arcsec"])) ** 2
    require([check_product_holes(row, mosaic.skymethod, aperture_pixels)])
