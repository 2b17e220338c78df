"""skyqa's own overlap measurement, on tiny synthetic exposures with a plain TAN WCS."""

import numpy as np
import pandas as pd
import pytest
from astropy.wcs import WCS

from skyqa.checks.seams import (
    check_oracle_agreement,
    check_overlaps_connected,
    check_score_below,
    check_seam_free,
)
from skyqa.measure import ExposurePixels, measure_pairs, pair_statistics, parse_bits
from skyqa.oracle import overlap_groups, seam_score, seam_table, solve_offsets
from skyqa.verdict import failures

SCALE = 0.13 / 3600
MIN_PIXELS = 500


def _exposure(name, ra_offset_pix, level, rng, size=120):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25 + ra_offset_pix * SCALE, -2.45]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cd = [[-SCALE, 0.0], [0.0, SCALE]]
    sci = level + rng.normal(0, 0.01, (size, size))
    usable = np.ones(sci.shape, dtype=bool)
    usable[5, :] = False  # a bad row
    return ExposurePixels(name, sci, np.full(sci.shape, 0.01), usable, wcs)


@pytest.fixture
def strip():
    """Three exposures in a row, each overlapping the next by half; levels 0.80, 0.83, 0.79."""
    rng = np.random.default_rng(1)
    return [
        _exposure("a", 0, 0.80, rng),
        _exposure("b", -60, 0.83, rng),
        _exposure("c", -120, 0.79, rng),
    ]


def _pairs(exposures):
    return measure_pairs(exposures, step=1, min_pixels=MIN_PIXELS)


def test_pair_difference_recovers_the_level_difference(strip):
    row = pair_statistics(strip[0], strip[1], step=1, min_pixels=500)
    assert row["raw_median_e_s"] == pytest.approx(-0.03, abs=3 * row["uncertainty_e_s"])
    assert row["pixel_noise_e_s"] == pytest.approx(0.01)
    assert row["uncertainty_e_s"] < 0.0005
    assert pair_statistics(strip[0], strip[2], step=1, min_pixels=500) is None  # no overlap


def test_adding_one_constant_everywhere_changes_no_difference(strip):
    shifted = [ExposurePixels(e.rootname, e.sci + 5.0, e.err, e.usable, e.wcs) for e in strip]
    before, after = _pairs(strip), _pairs(shifted)
    np.testing.assert_allclose(after["raw_median_e_s"], before["raw_median_e_s"], atol=1e-9)


def test_oracle_recovers_the_offsets_and_matches_a_correct_match(strip):
    pairs = _pairs(strip)
    offsets = solve_offsets(pairs, ["a", "b", "c"])
    np.testing.assert_allclose(offsets.to_numpy(), [0.01, 0.04, 0.0], atol=0.001)
    match = pd.DataFrame({"rootname": ["a", "b", "c"], "mdrizsky_e_s": [0.01, 0.04, 0.0]})
    assert failures(check_oracle_agreement(pairs, match, "match", 0.005)) == []
    wrong = match.assign(mdrizsky_e_s=[0.01, 0.0, 0.0])
    (failed,) = failures(check_oracle_agreement(pairs, wrong, "match", 0.005))
    assert failed.subject == "exposure b (match)"


def test_shifted_pedestal_leaves_a_seam_that_fails(strip):
    pairs = _pairs(strip)
    good = pd.DataFrame({"rootname": ["a", "b", "c"], "mdrizsky_e_s": [0.01, 0.04, 0.0]})
    shifted = good.assign(mdrizsky_e_s=[0.01, 0.042, 0.0])  # b off by 0.2 x pixel noise
    seams = seam_table(pairs, {"match": good, "localmin": shifted})
    assert failures(check_seam_free(seams, "match", 0.1)) == []
    failed = failures(check_seam_free(seams, "localmin", 0.1))
    assert [v.subject.split(" (")[0] for v in failed] == ["pair a-b", "pair b-c"]
    pair = seams.iloc[0]
    uncertainty = pair["uncertainty_e_s"] / pair["pixel_noise_e_s"]
    # Judged: the seam less 2 of its uncertainties (what is beyond its own noise).
    assert pair["localmin"] == pytest.approx(0.2, abs=3 * uncertainty)
    assert failed[0].value == pytest.approx(pair["localmin"] - 2 * uncertainty)
    assert f"{pair['localmin']:+.3f} x pixel noise (" in failed[0].message()
    assert (
        "required |difference| - 2 x its uncertainty <= 0.1 x pixel noise (0.0100 e-/s)"
        in failed[0].message()
    )
    assert seam_score(seams, "match") < seam_score(seams, "localmin")
    assert failures(check_score_below(seams, "match", "localmin")) == []
    assert not check_score_below(seams, "localmin", "match")[0].passed


def test_imprecise_small_overlap_is_not_called_a_seam():
    seams = pd.DataFrame(
        {
            "exposure_a": ["a", "a"],
            "exposure_b": ["b", "c"],
            "n_pixels": [900, 900],
            "raw_median_e_s": [0.0, 0.0],
            "uncertainty_e_s": [0.0025, 0.0025],  # 0.05 x noise: too coarse to judge 0.1
            "pixel_noise_e_s": [0.05, 0.05],
            "match": [0.12, 0.5],  # 0.12 is within its noise; 0.5 is not
        }
    )
    failed = failures(check_seam_free(seams, "match", 0.1))
    assert [v.subject.split(" (")[0] for v in failed] == ["pair a-c"]


def test_exposure_that_overlaps_nothing_is_reported(strip):
    rng = np.random.default_rng(2)
    far = _exposure("d", 5000, 0.8, rng)
    pairs = _pairs([*strip, far])
    assert overlap_groups(pairs, ["a", "b", "c", "d"]) == [["a", "b", "c"], ["d"]]
    (verdict,) = check_overlaps_connected(pairs, ["a", "b", "c", "d"])
    assert not verdict.passed
    assert "2 group(s): {a, b, c}; d alone" in verdict.message()
    assert "exposures overlapping nothing: d" in verdict.message()
    assert check_overlaps_connected(_pairs(strip), ["a", "b", "c"])[0].passed


def test_final_bits_are_parsed():
    assert parse_bits("16") == 16
    assert parse_bits("16,64") == 80
    assert parse_bits(512) == 512


def _noise_exposure(name, ra_offset_pix, dec_offset_pix, rng, size=60):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25 + ra_offset_pix * SCALE, -2.45 + dec_offset_pix * SCALE]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cd = [[-SCALE, 0.0], [0.0, SCALE]]
    sci = rng.normal(0, 0.01, (size, size))
    return ExposurePixels(name, sci, np.full(sci.shape, 0.01), np.ones(sci.shape, bool), wcs)


def test_a_small_overlap_is_measured_at_every_pixel_with_an_honest_uncertainty():
    """A 60 x 60 pair overlapping by about 2,400 pixels, at a fractional offset: measured
    at every pixel (four times the samples of every second pixel), its reported
    uncertainty matches the scatter of 300 noise realisations (the interpolation's shared
    pixels accounted for)."""
    from skyqa.measure import SMALL_OVERLAP_PIXELS, pair_statistics

    medians, reported, sampled = [], [], []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        a = _noise_exposure("a", 0.0, 0.0, rng)
        b = _noise_exposure("b", 19.63, 0.41, rng)
        row = pair_statistics(a, b, 2, 100)
        medians.append(row["raw_median_e_s"])
        reported.append(row["uncertainty_e_s"])
        sampled.append(row["n_pixels"])
    assert np.median(sampled) > SMALL_OVERLAP_PIXELS / 4  # more samples than every 2nd pixel
    scatter = float(np.std(medians))
    assert np.mean(reported) == pytest.approx(scatter, rel=0.12)
