"""Images reduced for display: block averages of the finite pixels, read from the
files a strip of rows at a time, so that drawing a mosaic does not hold it whole."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

MAX_DISPLAY_PIXELS = 900
"""Mosaics are block-averaged to at most this many pixels a side for display."""


ALIGNMENT_DISPLAY_PIXELS = 500
"""Visit DRZs likewise (their panel is about 450 pixels wide)."""

STRIP_BLOCKS = 64
"""Rows of blocks read at a time by `reduced_image`."""


def _display_factor(shape: tuple[int, ...], limit: int) -> int:
    return max(1, int(np.ceil(max(shape) / limit)))


def _block_sums(image: np.ndarray, factor: int, dtype) -> np.ndarray:
    """Sums over ``factor`` x ``factor`` blocks, as ``factor`` strided additions per axis
    (several times faster than summing a reshaped array over its short axes)."""
    columns = image[:, 0::factor].astype(dtype)
    for offset in range(1, factor):
        columns += image[:, offset::factor]
    sums = columns[0::factor].copy()
    for offset in range(1, factor):
        sums += columns[offset::factor]
    return sums


def _block_average(image: np.ndarray, limit: int = MAX_DISPLAY_PIXELS) -> np.ndarray:
    """Mean of the finite pixels in blocks, to at most ``limit`` pixels a side.

    Blocks with no finite pixel (wholly outside the footprint) are NaN: blank on purpose.
    """
    return _block_mean(image, _display_factor(image.shape, limit))


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """`_block_average` in ``factor`` x ``factor`` blocks (a partial block at the end of
    a row or column is left out)."""
    if factor == 1:
        return image
    ny, nx = (size // factor * factor for size in image.shape)
    trimmed = image[:ny, :nx]
    finite = np.isfinite(trimmed)
    sums = _block_sums(np.where(finite, trimmed, 0), factor, np.float64)
    counts = _block_sums(finite.view(np.uint8), factor, np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.where(counts > 0, sums / counts, np.nan)


def _read_mosaic(path: Path, extension=0) -> np.ndarray:
    """An image as native-order float32 (drizzled images are float32 already)."""
    from astropy.io import fits

    return fits.getdata(path, extension).astype(np.float32)


def reduced_image(
    paths: Sequence[Path],
    combine: Callable[..., np.ndarray] | None = None,
    extension=0,
    limit: int = MAX_DISPLAY_PIXELS,
) -> tuple[int, np.ndarray]:
    """(block size, `_block_average` of ``combine`` of the images at ``paths``), read
    `STRIP_BLOCKS` rows of blocks at a time (files opened without memory mapping, so that
    no page read stays resident): the same numbers as reducing the whole images, holding
    a strip of each. ``combine`` defaults to the first image as float32.
    """
    from astropy.io import fits

    combine = combine or (lambda first, *others: first)
    files = [fits.open(path, memmap=False) for path in paths]
    try:
        shape = files[0][extension].shape
        factor = _display_factor(shape, limit)
        rows = factor * STRIP_BLOCKS
        strips = []
        for start in range(0, shape[0], rows):
            parts = [
                np.asarray(hdul[extension].section[start : start + rows, :], dtype=np.float32)
                for hdul in files
            ]
            strips.append(_block_mean(np.asarray(combine(*parts), dtype=np.float32), factor))
        return factor, np.concatenate(strips)
    finally:
        for hdul in files:
            hdul.close()
