"""The step rule of issue 31: a sky step across an exposure's middle row or column,
measured in each pair within parts where the other exposure's sky is one level
(`skyqa.measure.STEP_COLUMNS`), combined over the exposure's pairs
(`skyqa.checks.seams.exposure_steps`) and judged as a seam within it."""

import math

import numpy as np
import pandas as pd
import pytest
from astropy.wcs import WCS

from skyqa.checks.seams import check_exposure_seams, exposure_steps
from skyqa.measure import SMALL_OVERLAP_PIXELS, ExposurePixels, pair_statistics
from skyqa.steps import MIN_HALF_SAMPLES, STEP_COLUMNS, half_steps, halves_of, weighted_mean
from skyqa.verdict import failures

SCALE = 0.13 / 3600
NOISE = 0.01
SIZE = 160
LEVEL = "Exposure's sky is level across its detector"


def _exposure(name, shift, level, rng, upper=0.0, right=0.0):
    """A TAN exposure moved by ``shift`` pixels (x, y) on the sky, its sky ``level`` plus
    ``upper`` on its upper rows and ``right`` on its right columns (e-/s)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25 - shift[0] * SCALE, -2.45 + shift[1] * SCALE]
    wcs.wcs.crpix = [SIZE / 2, SIZE / 2]
    wcs.wcs.cd = [[-SCALE, 0.0], [0.0, SCALE]]
    sci = level + rng.normal(0, NOISE, (SIZE, SIZE))
    sci[SIZE // 2 :, :] += upper
    sci[:, SIZE // 2 :] += right
    usable = np.ones(sci.shape, dtype=bool)
    return ExposurePixels(name, sci, np.full(sci.shape, NOISE), usable, wcs)


def test_each_sides_step_is_measured_and_the_others_cancel():
    """a has a step on its upper rows, b on its right columns and another level: each is
    measured on its own side, the other side's step and the levels cancel."""
    rng = np.random.default_rng(3)
    a = _exposure("a", (0, 0), 0.80, rng, upper=0.004)
    b = _exposure("b", (40, 40), 0.83, rng, right=-0.003)
    row = pair_statistics(a, b, step=1, min_pixels=500)
    expected = {"ya": 0.004, "xa": 0.0, "xb": -0.003, "yb": 0.0}
    for split, step in expected.items():
        uncertainty = row[f"{split}_step_uncertainty_e_s"]
        assert 0 < uncertainty < 0.001
        assert row[f"{split}_step_e_s"] == pytest.approx(step, abs=3 * uncertainty), split
    assert set(STEP_COLUMNS) <= set(row)
    assert "chip_a" not in row  # one-chip exposures: no chip columns


def test_half_lines_that_coincide_measure_no_step_across_them():
    """Exposures moved along x only share their middle rows: which of the two holds a step
    there cannot be told from their pair, so it measures none (the neighbours do)."""
    rng = np.random.default_rng(4)
    a = _exposure("a", (0, 0), 0.80, rng, upper=0.004)
    b = _exposure("b", (40, 0), 0.80, rng)
    row = pair_statistics(a, b, step=1, min_pixels=500)
    assert math.isnan(row["ya_step_e_s"])
    assert math.isnan(row["yb_step_e_s"])
    assert math.isnan(row["ya_step_uncertainty_e_s"])
    assert row["xa_step_e_s"] == pytest.approx(0.0, abs=3 * row["xa_step_uncertainty_e_s"])


def _pairs(*rows, noise=1.0):
    """Pairs (a, b, {split: (step, uncertainty)}) in e-/s, a pixel noise of ``noise``."""
    table = []
    for a, b, steps in rows:
        row = {"exposure_a": a, "exposure_b": b, "n_pixels": 4000, "raw_median_e_s": 0.0,
               "uncertainty_e_s": 0.001, "pixel_noise_e_s": noise, "match": 0.0}  # fmt: skip
        for split in ("xa", "ya", "xb", "yb"):
            step, uncertainty = steps.get(split, (math.nan, math.nan))
            row[f"{split}_step_e_s"], row[f"{split}_step_uncertainty_e_s"] = step, uncertainty
        table.append(row)
    return pd.DataFrame(table)


def _level(verdicts, exposure):
    return [
        v for v in verdicts if v.check == LEVEL and v.subject.startswith(f"exposure {exposure} ")
    ]


def test_a_step_is_judged_as_a_seam_at_the_threshold_and_just_past_it():
    """Two pairs measure a's upper rows 0.12 brighter, each to 0.02: combined 0.12 +-
    0.01414; judged 0.12 - 2 x 0.01414 against 0.1."""
    u = 0.02
    combined = u / math.sqrt(2)
    at = 0.1 + 2 * combined
    (passed,) = _level(
        check_exposure_seams(
            _pairs(("a", "b", {"ya": (at, u)}), ("a", "c", {"ya": (at, u)})), "match", 0.1
        ),
        "a",
    )
    assert passed.passed
    assert passed.value == pytest.approx(0.1)
    (failed,) = _level(
        check_exposure_seams(
            _pairs(("a", "b", {"ya": (at + 1e-4, u)}), ("c", "a", {"yb": (at + 1e-4, u)})),
            "match",
            0.1,
        ),
        "a",
    )
    assert not failed.passed
    assert failed.subject == "exposure a (match, 2 pairs spanning its halves)"
    assert f"across its middle row +{at + 1e-4:.3f} (uncertainty {combined:.3f})" in failed.measured
    assert "across its middle column: not measured (no overlap spans it)" in failed.measured
    assert "|step| - 2 x its uncertainty <= 0.1 x pixel noise" in failed.threshold
    assert "two halves hold different skies" in failed.advice
    assert failed.value == pytest.approx(0.1 + 1e-4)


def test_a_step_down_and_a_step_in_noise_units():
    """A negative step fails as a positive one does, and a step in e-/s is judged in units
    of the pair's pixel noise."""
    verdicts = check_exposure_seams(
        _pairs(("a", "b", {"xa": (-0.0015, 0.0001), "yb": (0.0005, 0.0001)}), noise=0.01),
        "match",
        0.1,
    )
    (a,) = _level(verdicts, "a")
    assert not a.passed
    assert a.value == pytest.approx(-0.13)
    (b,) = _level(verdicts, "b")
    assert b.passed
    assert b.value == pytest.approx(0.03)


def test_no_step_verdict_where_no_overlap_spans_a_half_line():
    """Nothing measured, nothing judged: no verdict, rather than a pass."""
    verdicts = check_exposure_seams(_pairs(("a", "b", {})), "match", 0.1)
    assert _level(verdicts, "a") == []
    assert _level(verdicts, "b") == []
    table = exposure_steps(_pairs(("a", "b", {"xa": (0.0, 0.01)})))
    row = table.set_index("rootname").loc["a"]
    assert row.x_step == 0.0
    assert math.isnan(row.y_step)
    assert (
        failures(check_exposure_seams(_pairs(("a", "b", {"xa": (0.0, 0.01)})), "match", 0.1)) == []
    )


def test_a_table_without_step_columns_has_no_steps():
    table = _pairs(("a", "b", {})).drop(columns=STEP_COLUMNS)
    assert exposure_steps(table).empty


def test_the_reported_uncertainty_is_the_scatter_of_the_steps():
    """400 noise realisations of one pair, half a pixel apart: each half-line's measured
    step scatters as its reported uncertainty says, within 10 % (3 sigma of 400 draws;
    over 2,400 draws of three such pairs the scatter is 1.03 of the reported uncertainty,
    the medians of the smaller parts being a little less efficient than their large-sample
    1.2533); sampled every second pixel, no sample shares another's pixels."""
    rng = np.random.default_rng(5)
    rows = [
        pair_statistics(
            _exposure("a", (0, 0), 0.80, rng), _exposure("b", (40.5, 40.5), 0.80, rng), step=2
        )
        for _ in range(400)
    ]
    for split in ("xa", "ya", "xb", "yb"):
        steps = np.array([row[f"{split}_step_e_s"] for row in rows])
        reported = np.mean([row[f"{split}_step_uncertainty_e_s"] for row in rows])
        assert np.std(steps) == pytest.approx(reported, rel=0.1), split
        assert abs(np.mean(steps)) < 3 * reported / np.sqrt(len(rows)), split


def test_a_step_exactly_at_the_threshold_passes_and_the_verdict_carries_its_numbers():
    """Numbers exact in binary: a step of 0.1875 +- 0.03125 is 0.125 beyond its margin."""
    at = _pairs(("a", "b", {"ya": (0.1875, 0.03125)}))
    (passed,) = _level(check_exposure_seams(at, "match", 0.125), "a")
    assert passed.passed
    assert passed.value == 0.125
    assert passed.limit == 0.125
    assert passed.item == "match"
    past = _pairs(("a", "b", {"ya": (0.1876, 0.03125)}))
    (failed,) = _level(check_exposure_seams(past, "match", 0.125), "a")
    assert not failed.passed


def test_the_larger_step_of_the_two_axes_is_judged_whatever_its_sign():
    table = _pairs(("a", "b", {"xa": (-0.3, 0.01), "ya": (0.05, 0.01)}))
    (verdict,) = _level(check_exposure_seams(table, "match", 0.1), "a")
    assert verdict.value == pytest.approx(-0.28)
    assert not verdict.passed


def test_an_exposure_with_nothing_measured_does_not_stop_the_others_being_judged():
    table = _pairs(("a", "b", {}), ("c", "d", {"xa": (0.5, 0.01)}))
    verdicts = check_exposure_seams(table, "match", 0.1)
    (c,) = _level(verdicts, "c")
    assert not c.passed


def test_a_table_without_steps_has_the_columns_of_one_with_them():
    empty = exposure_steps(_pairs(("a", "b", {})).drop(columns=STEP_COLUMNS))
    full = exposure_steps(_pairs(("a", "b", {"xa": (0.0, 0.01)})))
    no_pairs = exposure_steps(_pairs(("a", "b", {})).iloc[0:0])
    assert list(empty.columns) == list(full.columns)
    assert list(no_pairs.columns) == list(full.columns)
    assert list(full.columns)[:3] == ["rootname", "chip", "n_pairs"]


def test_values_known_exactly_are_averaged_alone():
    assert weighted_mean([1.0, 3.0, 5.0], [0.0, 0.0, 1.0]) == (2.0, 0.0)
    assert weighted_mean([1.0, 3.0], [1.0, 1.0]) == (2.0, pytest.approx(math.sqrt(0.5)))
    assert all(math.isnan(v) for v in weighted_mean([], []))


def test_the_middle_pixel_is_beyond_the_half_line_on_a_detector_of_any_shape():
    halves = halves_of(np.array([79.0, 80.0]), np.array([49.0, 50.0]), (100, 160), "a")
    assert halves["xa"].tolist() == [False, True]
    assert halves["ya"].tolist() == [False, True]


def test_a_part_with_the_least_samples_on_each_side_counts():
    """50 samples each side of a's middle column (`MIN_HALF_SAMPLES`) measure its step;
    49 do not."""
    for n, measured in ((MIN_HALF_SAMPLES, True), (MIN_HALF_SAMPLES - 1, False)):
        beyond = np.arange(2 * n) >= n
        differences = np.where(beyond, 0.5, 0.0) + np.resize([-0.01, 0.01], 2 * n)
        halves = {"xa": beyond, **{split: np.zeros(2 * n, bool) for split in ("ya", "xb", "yb")}}
        row = half_steps(differences, np.ones(2 * n, bool), halves, 0.1)
        assert math.isfinite(row["xa_step_e_s"]) is measured
        if measured:
            assert row["xa_step_e_s"] == pytest.approx(0.5)
            assert row["xa_step_uncertainty_e_s"] == pytest.approx(0.1 * math.sqrt(2 / n))


def test_a_step_without_an_uncertainty_is_left_out_not_averaged_in():
    table = _pairs(("a", "b", {"xa": (0.02, 0.01)}), ("a", "c", {"xa": (0.5, math.nan)}))
    row = exposure_steps(table).set_index("rootname").loc["a"]
    assert row.x_step == pytest.approx(0.02)
    assert row.n_pairs == 1


def test_every_pixel_of_a_small_overlap_gives_steps_as_uncertain_as_reported():
    """A small overlap is measured at every pixel, where neighbouring samples share the
    other exposure's pixels through the interpolation (half a pixel apart here): 200
    noise realisations scatter as the reported uncertainty says."""
    rng = np.random.default_rng(6)
    rows = [
        pair_statistics(
            _exposure("a", (0, 0), 0.80, rng), _exposure("b", (140.5, 40.5), 0.80, rng), step=2
        )
        for _ in range(200)
    ]
    assert rows[0]["n_pixels"] < SMALL_OVERLAP_PIXELS
    for split in ("ya", "yb"):
        steps = np.array([row[f"{split}_step_e_s"] for row in rows])
        reported = np.mean([row[f"{split}_step_uncertainty_e_s"] for row in rows])
        assert np.std(steps) == pytest.approx(reported, rel=0.12), split
