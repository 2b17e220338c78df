"""The alignment's claim about itself (skyqa.accuracy): the fit covariance carried to the
detector, against what a Monte Carlo of the same fit gives."""

import math

import numpy as np
import pytest

from skyqa.accuracy import fit_claim, fit_error_mas, small_sample_factor

SCALE_MAS = 128.3  # mas per fit-frame pixel
CENTRE = (85.25, -2.45)


def _rows(x_pix, y_pix, dx_pix, dy_pix):
    """TweakReg .match rows: residuals in columns 7-8, the original reference position in
    9-10, RA and Dec in 16-17 (a tangent plane of SCALE_MAS per pixel about CENTRE)."""
    rows = []
    for x, y, dx, dy in zip(x_pix, y_pix, dx_pix, dy_pix, strict=True):
        ra = CENTRE[0] + x * SCALE_MAS / 3.6e6 / math.cos(math.radians(CENTRE[1]))
        dec = CENTRE[1] + y * SCALE_MAS / 3.6e6
        fields = ["0"] * 18
        fields[6], fields[7], fields[8], fields[9] = map(str, (dx, dy, x, y))
        fields[15], fields[16] = repr(float(ra)), repr(float(dec))
        rows.append(fields)
    return rows


def _sky(x_pix, y_pix):
    ra = CENTRE[0] + np.asarray(x_pix) * SCALE_MAS / 3.6e6 / math.cos(math.radians(CENTRE[1]))
    return ra, CENTRE[1] + np.asarray(y_pix) * SCALE_MAS / 3.6e6


def test_a_shift_fit_claims_its_scatter_over_the_square_root_of_its_stars():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-500, 500, (2, 9))
    dx, dy = rng.normal(0, 0.04, (2, 9))
    claim = fit_claim(_rows(x, y, dx, dy), "shift")
    sigma = math.sqrt(np.sum(dx**2 + dy**2) / (2 * 9 - 2)) * SCALE_MAS
    assert (claim.n_stars, claim.dof) == (9, 16)
    assert claim.rms_mas == pytest.approx(sigma, rel=1e-3)
    # A shift is the same everywhere: sqrt(2 sigma^2 / N), times the small-sample bound.
    error = fit_error_mas(claim, *_sky([-400, 0, 400], [300, 0, -300]))
    assert error == pytest.approx(sigma * math.sqrt(2 / 9) * small_sample_factor(16), rel=1e-3)


def test_the_rscale_claim_matches_the_scatter_of_refits():
    """Many noisy rscale fits of the same 6 stars: the RMS error over a detector grid,
    averaged over the fits, is what the covariance predicts (without the bound)."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-600, 600, (2, 6))
    grid_x, grid_y = (
        g.ravel() for g in np.meshgrid(np.linspace(-500, 500, 5), np.linspace(-500, 500, 5))
    )
    sigma_pix = 0.05
    design = np.zeros((12, 4))
    design[:6] = np.stack([np.ones(6), np.zeros(6), x, -y], 1)
    design[6:] = np.stack([np.zeros(6), np.ones(6), y, x], 1)
    squared = []
    for _ in range(4000):
        noise = rng.normal(0, sigma_pix, 12)
        params = np.linalg.lstsq(design, noise, rcond=None)[0]
        ex = params[0] + params[2] * grid_x - params[3] * grid_y
        ey = params[1] + params[3] * grid_x + params[2] * grid_y
        squared.append(np.mean(ex**2 + ey**2))
    measured = math.sqrt(np.mean(squared)) * SCALE_MAS
    # The claim from residuals that have exactly the true scatter (per axis).
    residual = np.full(6, sigma_pix * math.sqrt((12 - 4) / 12))
    claim = fit_claim(_rows(x, y, residual, residual), "rscale")
    predicted = fit_error_mas(claim, *_sky(grid_x, grid_y)) / claim.small_sample_factor
    assert claim.rms_mas == pytest.approx(sigma_pix * SCALE_MAS, rel=1e-6)
    assert predicted == pytest.approx(measured, rel=0.05)


def test_a_three_star_rscale_fit_claims_with_a_wide_bound_and_two_stars_claim_nothing():
    three = fit_claim(
        _rows([0, 300, -200], [0, 100, 400], [0.01, -0.02, 0.01], [0.0, 0.01, -0.01]), "rscale"
    )
    assert three.dof == 2
    # chi-square with 2 degrees of freedom: its p-quantile is -2 ln(1 - p).
    quantile = -2 * math.log(1 - 0.5 * math.erfc(1 / math.sqrt(2)))
    assert three.small_sample_factor == pytest.approx(math.sqrt(2 / quantile), rel=1e-9)
    assert math.isfinite(fit_error_mas(three, *_sky([0], [0])))
    two = fit_claim(_rows([0, 300], [0, 100], [0.0, 0.0], [0.0, 0.0]), "rscale")
    assert two.dof == 0
    assert fit_error_mas(two, *_sky([0], [0])) == math.inf
    none = fit_claim([], "rscale")
    assert none.n_stars == 0
    assert fit_error_mas(none, *_sky([0], [0])) == math.inf


def test_the_small_sample_bound_shrinks_toward_one_with_many_stars():
    assert small_sample_factor(0) == math.inf
    assert small_sample_factor(2) > small_sample_factor(6) > small_sample_factor(100) > 1.0
    assert small_sample_factor(100_000) == pytest.approx(1.0, abs=0.01)


def test_an_unknown_fit_geometry_is_refused():
    with pytest.raises(ValueError, match="fitgeometry 'affine'"):
        fit_claim([], "affine")
