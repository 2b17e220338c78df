"""The report's display helpers."""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skyqa.report import _block_average, _display_factor


def _nanmean_blocks(image, factor):
    ny, nx = (size // factor * factor for size in image.shape)
    blocks = image[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: NaN
        return np.nanmean(blocks, axis=(1, 3), dtype=np.float64)


@settings(max_examples=60, deadline=None)
@given(
    ny=st.integers(1, 60),
    nx=st.integers(1, 60),
    limit=st.integers(1, 20),
    blank=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_block_average_is_the_mean_of_each_blocks_finite_pixels(ny, nx, limit, blank, seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 30.0, (ny, nx)).astype(np.float32)
    image[rng.random((ny, nx)) < blank] = np.nan
    image[rng.random((ny, nx)) < blank / 4] = np.inf
    shown = _block_average(image, limit)
    factor = _display_factor(image.shape, limit)
    if factor == 1:
        assert shown is image
        return
    expected = _nanmean_blocks(np.where(np.isfinite(image), image, np.nan), factor)
    assert shown.shape == expected.shape
    assert max(shown.shape) <= limit
    np.testing.assert_allclose(shown, expected, rtol=1e-12, equal_nan=True)
