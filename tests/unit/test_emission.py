"""The extended-emission fraction behind the rule of thumb (skyqa.emission)."""

import numpy as np
import pytest

from skyqa.emission import BLOCK, emission_fraction


def _chip(rng, emission=None, noise=1.0, size=256):
    science = 5.0 + rng.normal(0.0, noise, (size, size))
    if emission is not None:
        science += emission
    return science, np.ones_like(science, dtype=bool)


def test_blank_sky_has_almost_no_emission_with_stars_and_hits():
    rng = np.random.default_rng(3)
    science, good = _chip(rng)
    science[rng.integers(0, 256, 300), rng.integers(0, 256, 300)] += 500.0  # hits and stars
    blocks, fraction = emission_fraction(science, good, 1.0)
    assert blocks == (256 // BLOCK) ** 2
    assert fraction < 0.01


@pytest.mark.parametrize("covered", [0.25, 0.5, 0.75])
def test_a_chip_covered_in_part_by_faint_emission_measures_that_part(covered):
    """Emission of 1 x the pixel noise (twice the block threshold) over a part of the chip."""
    rng = np.random.default_rng(4)
    emission = np.zeros((256, 256))
    emission[:, : int(256 * covered)] = 1.0
    science, good = _chip(rng, emission)
    _, fraction = emission_fraction(science, good, 1.0)
    assert fraction == pytest.approx(covered, abs=0.02)


def test_flagged_pixels_are_left_out_and_a_chip_without_data_has_no_fraction():
    rng = np.random.default_rng(5)
    science, good = _chip(rng)
    science[:, :128] += 50.0
    good[:, :128] = False  # flagged: not emission
    _, fraction = emission_fraction(science, good, 1.0)
    assert fraction < 0.01
    blocks, none = emission_fraction(science, np.zeros_like(good), 1.0)
    assert blocks == 0
    assert np.isnan(none)
