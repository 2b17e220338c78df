"""Each exposure's residual sky plane (`skyqa.planes`) and its check
(`skyqa.checks.planes`)."""

import math

import numpy as np
import pandas as pd
import pytest

from skyqa.checks.planes import UNCERTAINTIES, check_residual_planes
from skyqa.planes import PLANE_TABLE_COLUMNS, plane_sums, residual_planes

# Four exposures on a 2 x 2 grid of detectors of unit length, each overlapping its
# neighbours over a tenth of a detector (as horsehead-sim's visits do) and its diagonal
# neighbour in a corner; positions in a common frame of detector lengths.
CENTRES = {"a": (0.0, 0.0), "b": (0.9, 0.0), "c": (0.0, 0.9), "d": (0.9, 0.9)}
GRADIENTS = {"a": (0.3, -0.1), "b": (0.0, 0.0), "c": (-0.1, 0.2), "d": (0.1, 0.0)}


def _pairs(noise: float = 0.0, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    names = sorted(CENTRES)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            (xa, ya), (xb, yb) = CENTRES[first], CENTRES[second]
            low = (max(xa, xb) - 0.5, max(ya, yb) - 0.5)
            high = (min(xa, xb) + 0.5, min(ya, yb) + 0.5)
            if high[0] <= low[0] or high[1] <= low[1]:
                continue
            x = rng.uniform(low[0], high[0], 4000)
            y = rng.uniform(low[1], high[1], 4000)
            wa, wb = (x - xa, y - ya), (x - xb, y - yb)
            ga, gb = GRADIENTS[first], GRADIENTS[second]
            sky = 0.7 + ga[0] * wa[0] + ga[1] * wa[1] - gb[0] * wb[0] - gb[1] * wb[1]
            difference = sky + rng.normal(0, noise, x.size) if noise else sky
            rows.append(
                {
                    "exposure_a": first,
                    "exposure_b": second,
                    "pixel_noise_e_s": 1.0,
                    **plane_sums(difference, wa, wb, max(noise, 1e-3) ** 2),
                }
            )
    return pd.DataFrame(rows)


def test_residual_planes_recover_each_exposures_gradient_against_the_others():
    planes = residual_planes(_pairs()).set_index("unit")
    mean = np.mean(list(GRADIENTS.values()), axis=0)
    for name, gradient in GRADIENTS.items():
        assert planes.loc[name, "gradient_u"] == pytest.approx(gradient[0] - mean[0], abs=1e-6)
        assert planes.loc[name, "gradient_v"] == pytest.approx(gradient[1] - mean[1], abs=1e-6)
    assert list(planes.reset_index().columns) == PLANE_TABLE_COLUMNS


def test_residual_planes_uncertainties_describe_their_scatter():
    pulls = []
    for seed in range(30):
        planes = residual_planes(_pairs(noise=0.5, seed=seed)).set_index("unit")
        mean = np.mean(list(GRADIENTS.values()), axis=0)
        for name, gradient in GRADIENTS.items():
            pulls.append((planes.loc[name, "gradient_u"] - gradient[0] + mean[0])
                         / planes.loc[name, "uncertainty_u"])  # fmt: skip
    assert 0.7 < float(np.std(pulls)) < 1.3


def test_residual_planes_without_plane_sums_is_empty():
    assert residual_planes(pd.DataFrame({"exposure_a": ["a"], "exposure_b": ["b"]})).empty


def _plane(gradient: float, uncertainty: float = 0.02) -> pd.DataFrame:
    return pd.DataFrame(
        [{"unit": "a", "gradient_u": gradient, "gradient_v": 0.0, "uncertainty_u": uncertainty,
          "uncertainty_v": uncertainty, "noise_e_s": 1.0, "pairs": 3}]
    )  # fmt: skip


def test_check_passes_at_the_seam_threshold_and_fails_just_past():
    at = 2 * (0.1 + UNCERTAINTIES * 0.01)  # half of it, less 2 x 0.01, is 0.1
    assert all(v.passed for v in check_residual_planes(_plane(at * 0.999), 0.1))
    past = check_residual_planes(_plane(-at * 1.001), 0.1)
    assert [v.passed for v in past] == [False, True]
    assert "one sky value per exposure cannot level it" in past[0].advice


def test_check_fails_on_no_number_and_on_no_plane():
    assert not check_residual_planes(_plane(math.nan), 0.1)[0].passed
    empty = check_residual_planes(pd.DataFrame(columns=PLANE_TABLE_COLUMNS), 0.1)
    assert [v.passed for v in empty] == [False]


def test_the_planes_figure_draws_each_exposure_on_its_footprint(tmp_path):
    from skyqa.report.drawing_planes import figure_planes

    corners = {
        name: np.array(
            [[85.0 - x / 3600, y / 3600], [85.0 - x / 3600, (y + 100) / 3600],
             [85.0 - (x + 100) / 3600, (y + 100) / 3600], [85.0 - (x + 100) / 3600, y / 3600]]
        )
        for name, (x, y) in ((n, (c[0] * 100, c[1] * 100)) for n, c in CENTRES.items())
    }  # fmt: skip
    path = figure_planes(_pairs(), corners, tmp_path / "planes.png")
    assert path is not None
    assert path.stat().st_size > 10_000
    assert figure_planes(_pairs(), {}, tmp_path / "none.png") is None
