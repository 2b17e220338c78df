"""The replicas' PSFs: drizzlepac's own library models of each detector and filter.

The drizzlepac wheel ships a PSF model for each detector and filter
(``drizzlepac/pars/psfs/<instrument>/<detector>/<instrument>_<detector>_<filter>.fits``),
at the detector's own pixel scale (the ``PIXSCALE`` in its header; WFC3/IR F160W 92 x 92
pixels of 0.13"), with the aberrations of its focus, coma and astigmatism in the header.
drizzlepac's own deconvolution (``haputils.deconvolve_utils``) puts a model into an FLT's
pixels as it is, without the charge-diffusion kernel its header mentions; the replicas do
the same. A star is drawn at its sub-pixel phase by shifting the model (a cubic spline:
the model is already integrated over its pixels) and cutting a stamp around it.

A replica whose pixel is not the detector's (m16-uvis-sim's 0.1584", four UVIS pixels)
draws the model one model pixel to one replica pixel: the sampling, which is what
TweakReg's centroids, drizzle and the cosmic-ray step see, stays the detector's, and the
stars are wider on the sky by the ratio of the scales.
"""

from __future__ import annotations

import functools
from importlib import util
from pathlib import Path

import numpy as np

LIBRARY = {
    "WFC3/IR": ("wfc3", "ir", "f160w"),
    "WFC3/UVIS": ("wfc3", "uvis", "f657n"),
    "ACS/WFC": ("acs", "wfc", "f658n"),
}
"""Each replica detector's model: (instrument, detector, filter) as the library names
them; the filters are the replicas' own (horsehead-sim's F160W, m16-uvis-sim's F657N,
acs-mini-sim's F658N)."""
MARGIN = 4
"""Pixels kept around a stamp while the model is shifted (the spline's reach)."""
CORE = 5
"""Pixels on a side of the core whose centroid places a model's star (`model_centre`)."""


@functools.cache
def library_model(detector: str) -> np.ndarray:
    """The detector's library PSF (`LIBRARY`), normalised to a sum of 1, read from the
    installed drizzlepac (never written to).

    Raises
    ------
    FileNotFoundError
        If the installed drizzlepac has no model for it (the message names the path).
    """
    from astropy.io import fits

    instrument, name, filter_name = LIBRARY[detector]
    spec = util.find_spec("drizzlepac")  # found, not imported: its import is slow and loud
    if spec is None or spec.origin is None:
        raise FileNotFoundError("drizzlepac is not installed: its PSF library is not there")
    path = Path(spec.origin).parent.joinpath(
        "pars", "psfs", instrument, name, f"{instrument}_{name}_{filter_name}.fits"
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"drizzlepac's PSF library has no {detector} {filter_name.upper()} model at "
            f"{path}: the replica cannot draw its stars with it (psf_model = 'moffat' "
            "draws a Moffat profile instead)."
        )
    model = fits.getdata(path).astype(float)
    return model / model.sum()


@functools.cache
def model_centre(detector: str) -> tuple[float, float]:
    """Where the detector's model puts its star (x, y) against its pixel n // 2: where a
    2-D Gaussian fit to a `CORE`-pixel box centres it, on average over sub-pixel phases.
    An asymmetric PSF (coma) has no one centre: its first moment and a Gaussian's centre
    differ by up to 0.1 pixel on WFC3/IR. The distortion solutions were calibrated with
    fitted centres, so a star's true position is taken as where such a fit puts it; what
    is left is the centroid's pixel-phase error, which real undersampled data have."""
    from photutils.centroids import centroid_2dg

    model = library_model(detector)
    centre, reach = model.shape[0] // 2, CORE // 2
    core = model[centre - reach : centre + reach + 1, centre - reach : centre + reach + 1]
    y, x = np.indices(core.shape)
    moment = ((core * x).sum() / core.sum() - reach, (core * y).sum() / core.sum() - reach)
    phases = np.linspace(-0.375, 0.375, 4)
    bias = []
    for x_phase in phases:
        for y_phase in phases:
            stamp = _shifted(model, x_phase - moment[0], y_phase - moment[1], reach)
            fitted = centroid_2dg(stamp)
            bias.append((fitted[0] - reach - x_phase, fitted[1] - reach - y_phase))
    mean = np.mean(bias, axis=0)
    return float(moment[0] + mean[0]), float(moment[1] + mean[1])


def _shifted(model: np.ndarray, x_shift: float, y_shift: float, half: int) -> np.ndarray:
    """The model moved by (x_shift, y_shift) pixels, cut to ``2 half + 1`` a side around
    its pixel n // 2 (a cubic spline on a part `MARGIN` pixels wider)."""
    from scipy import ndimage

    centre = model.shape[0] // 2
    reach = min(half + MARGIN, centre)
    part = model[centre - reach : centre + reach + 1, centre - reach : centre + reach + 1]
    shifted = ndimage.shift(part, (y_shift, x_shift), order=3, mode="constant", cval=0.0)
    cut = reach - min(half, reach)
    stamp = shifted[cut : shifted.shape[0] - cut, cut : shifted.shape[1] - cut]
    if stamp.shape[0] < 2 * half + 1:
        stamp = np.pad(stamp, (2 * half + 1 - stamp.shape[0]) // 2)
    return stamp


def library_stamp(detector: str, x_frac: float, y_frac: float, half: int) -> np.ndarray:
    """The detector's model with its star (`model_centre`) moved to a sub-pixel phase
    (``x_frac``, ``y_frac`` in [-0.5, 0.5]) from the stamp's middle pixel, cut to
    ``2 half + 1`` pixels a side: a star of unit flux whose wings beyond the stamp are left
    out. The cubic spline rings a little on an undersampled core; what it makes negative
    (at most 0.8 % of the peak on WFC3/IR) is set to none, a detector records no negative
    light, and the stamp holds the model's flux within it at every phase."""
    model = library_model(detector)
    offset_x, offset_y = model_centre(detector)
    stamp = _shifted(model, x_frac - offset_x, y_frac - offset_y, half)
    centre = model.shape[0] // 2
    stamp = np.clip(stamp, 0.0, None)
    # The flux the stamp holds is the model's within it, at every phase (the spline and the
    # clipping move up to 1 % of it with the phase, which no detector does).
    inside = model[
        max(centre - half, 0) : centre + half + 1, max(centre - half, 0) : centre + half + 1
    ]
    return stamp * (inside.sum() / stamp.sum())
