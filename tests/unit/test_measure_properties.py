"""Properties of skyqa's overlap statistics and least-squares oracle (hypothesis)."""

import numpy as np
from astropy.wcs import WCS, Sip
from hypothesis import given, settings
from hypothesis import strategies as st

from skyqa.columns import column_medians
from skyqa.measure import NEAR_MARGIN, ExposurePixels, _candidates, grid_samples, measure_pairs
from skyqa.oracle import overlap_groups, solve_offsets

SCALE = 0.13 / 3600
SIZE = 40
MIN_PIXELS = 50


def _exposure(name, column, row, level, noise, seed):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25 - column * SCALE, -2.45 + row * SCALE]
    wcs.wcs.crpix = [SIZE / 2, SIZE / 2]
    wcs.wcs.cd = [[-SCALE, 0.0], [0.0, SCALE]]
    rng = np.random.default_rng(seed)
    sci = level + (rng.normal(0, noise, (SIZE, SIZE)) if noise else np.zeros((SIZE, SIZE)))
    err = np.full((SIZE, SIZE), max(noise, 0.01))
    return ExposurePixels(name, sci, err, np.ones((SIZE, SIZE), dtype=bool), wcs)


def _pairs(exposures):
    return measure_pairs(exposures, step=1, min_pixels=MIN_PIXELS)


# A random tiling: each exposure is shifted from the previous one by less than its size,
# so consecutive exposures always overlap; levels are random sky pedestals.
tilings = st.lists(
    st.tuples(
        st.integers(-25, 25),  # column step from the previous exposure (pixels)
        st.integers(-25, 25),  # row step
        st.floats(0.5, 1.5),  # sky level (e-/s)
    ),
    min_size=2,
    max_size=5,
)


def _build(tiling, noise=0.0, offset=0.0):
    exposures, column, row = [], 0, 0
    for index, (step_column, step_row, level) in enumerate(tiling):
        if index:
            column, row = column + step_column, row + step_row
        exposures.append(_exposure(f"e{index}", column, row, level + offset, noise, index))
    return exposures


@settings(max_examples=25, deadline=None)
@given(tilings)
def test_noise_free_inputs_give_exact_offsets(tiling):
    exposures = _build(tiling)
    pairs = _pairs(exposures)
    names = [e.rootname for e in exposures]
    assert overlap_groups(pairs, names) == [sorted(names, key=names.index)]
    offsets = solve_offsets(pairs, names)
    levels = np.array([level for _, _, level in tiling])
    np.testing.assert_allclose(offsets.to_numpy(), levels - levels.min(), atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(tilings, st.floats(-5, 5))
def test_one_constant_added_everywhere_changes_no_difference(tiling, constant):
    before = _pairs(_build(tiling, noise=0.02))
    after = _pairs(_build(tiling, noise=0.02, offset=constant))
    np.testing.assert_allclose(after["raw_median_e_s"], before["raw_median_e_s"], atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(tilings, st.randoms(use_true_random=False))
def test_the_order_of_the_exposures_does_not_matter(tiling, shuffle):
    exposures = _build(tiling, noise=0.02)
    names = [e.rootname for e in exposures]
    reordered = list(exposures)
    shuffle.shuffle(reordered)
    first = solve_offsets(_pairs(exposures), names)
    second = solve_offsets(_pairs(reordered), [e.rootname for e in reordered])
    np.testing.assert_allclose(second[names].to_numpy(), first[names].to_numpy(), atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(tilings)
def test_random_offsets_are_recovered_under_noise(tiling):
    exposures = _build(tiling, noise=0.01)
    names = [e.rootname for e in exposures]
    offsets = solve_offsets(_pairs(exposures), names)
    levels = np.array([level for _, _, level in tiling])
    # 0.01 e-/s noise, hundreds of overlapping pixels a pair: a few 1e-3 at worst.
    np.testing.assert_allclose(offsets.to_numpy(), levels - levels.min(), atol=5e-3)


def _distorted_exposure(column, row, rotation_deg, sip_a20, size=200):
    """A WFC3/IR-like detector with a rotation and a SIP term, at (column, row) pixels."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crval = [85.25 - column * SCALE, -2.45 + row * SCALE]
    wcs.wcs.crpix = [size / 2, size / 2]
    angle = np.radians(rotation_deg)
    wcs.wcs.cd = SCALE * np.array([[-np.cos(angle), np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a = np.zeros((3, 3))
    a[2, 0] = sip_a20
    wcs.sip = Sip(a, np.zeros((3, 3)), None, None, wcs.wcs.crpix)
    sci = np.zeros((size, size))
    return ExposurePixels("x", sci, sci + 0.01, np.ones(sci.shape, dtype=bool), wcs)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(-400, 400),
    st.integers(-400, 400),
    st.floats(-180, 180),
    st.floats(-2e-4, 2e-4),
)
def test_candidate_samples_hold_every_sample_near_the_other_exposure(column, row, rotation, sip):
    """The shortcut never drops a sample that the exact pre-selection would keep."""
    a = _distorted_exposure(0, 0, 0.0, 1e-4)
    b = _distorted_exposure(column, row, rotation, sip)
    samples = grid_samples(a, step=2)
    x, y = b.wcs.wcs_world2pix(samples.ra, samples.dec, 0)
    size = b.sci.shape[0]
    near = np.flatnonzero(
        (x > -NEAR_MARGIN)
        & (x < size + NEAR_MARGIN)
        & (y > -NEAR_MARGIN)
        & (y < size + NEAR_MARGIN)
    )
    assert set(near) <= set(_candidates(a, b, samples))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 12), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_column_medians_equal_numpys_nanmedian(rows, columns, bad_fraction, seed):
    rng = np.random.default_rng(seed)
    sci = rng.normal(0.5, 0.03, (rows, columns)).astype(np.float32)
    good = rng.random((rows, columns)) >= bad_fraction
    expected = np.full(columns, np.nan)
    for column in range(columns):  # NaN (not a warning) where a column has no good pixel
        if good[:, column].any():
            expected[column] = np.median(sci[good[:, column], column].astype(float))
    np.testing.assert_array_equal(column_medians(sci, good), expected)
