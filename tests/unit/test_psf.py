"""The replicas' PSFs (`skyqa.simulate.psf`): drizzlepac's library models, read from the
installed package, placed at a star's sub-pixel phase with its flux conserved."""

import numpy as np
import pytest

from skyqa.simulate.psf import LIBRARY, library_model, library_stamp


def _core_centroid(stamp: np.ndarray) -> tuple[float, float]:
    middle = stamp.shape[0] // 2
    core = stamp[middle - 2 : middle + 3, middle - 2 : middle + 3]
    y, x = np.indices(core.shape)
    return float((core * x).sum() / core.sum() - 2), float((core * y).sum() / core.sum() - 2)


@pytest.mark.parametrize("detector", sorted(LIBRARY))
def test_the_library_model_is_drizzlepacs_and_sums_to_one(detector):
    model = library_model(detector)
    assert model.ndim == 2
    assert model.shape[0] == model.shape[1] >= 92
    assert model.sum() == pytest.approx(1.0)
    assert np.unravel_index(model.argmax(), model.shape) == (model.shape[0] // 2,) * 2


@pytest.mark.parametrize("detector", sorted(LIBRARY))
def test_a_star_lands_at_its_phase_with_the_same_flux_at_every_phase(detector):
    sums = []
    for phase in ((0.0, 0.0), (0.3, -0.2), (-0.45, 0.1)):
        stamp = library_stamp(detector, *phase, 12)
        assert stamp.shape == (25, 25)
        assert stamp.min() >= 0.0
        # A 5-pixel core's centroid is pulled toward its middle pixel on an undersampled
        # PSF (the pixel-phase error real centroids have): within 0.12 pixel of the phase.
        assert _core_centroid(stamp) == pytest.approx(phase, abs=0.12)
        sums.append(stamp.sum())
    assert sums == pytest.approx([sums[0]] * 3, rel=1e-9)
    assert 0.9 < sums[0] < 1.0  # the wings beyond 12 pixels are left out


def test_the_ir_model_is_undersampled_as_wfc3_ir_is():
    stamp = library_stamp("WFC3/IR", 0.0, 0.0, 12)
    middle = stamp[12, 12] / stamp.sum()
    assert 0.25 < middle < 0.4  # the central pixel holds 28 % of the light (sampled
    # at Nyquist it would hold under 10 %)
