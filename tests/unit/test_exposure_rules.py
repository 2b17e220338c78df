"""The per-exposure rules of issue 31 at their edges: an exposure's pairs judged together
(`check_exposure_seams`) and an exposure's own recorded-sky error (`check_exposure_sky`)."""

import math

import pandas as pd
import pytest

from skyqa.checks.mosaics import check_exposure_sky, exposure_sky_errors
from skyqa.checks.seams import SCATTER_P, check_exposure_seams, exposure_seam_statistics
from skyqa.pixels import REGION_COLUMNS
from skyqa.verdict import failures

NAN = math.nan


def _seams(*pairs, uncertainty=0.001):
    """Pairs (a, b, seam x noise) of exposures with a pixel noise of 1 e-/s."""
    return pd.DataFrame(
        [
            {"exposure_a": a, "exposure_b": b, "n_pixels": 4000, "uncertainty_e_s": uncertainty,
             "pixel_noise_e_s": 1.0, "match": seam}
            for a, b, seam in pairs
        ]
    )  # fmt: skip


def _about(verdicts, exposure, check):
    return [
        v for v in verdicts if v.subject.startswith(f"exposure {exposure} ") and v.check == check
    ]


SCATTER = "Exposure's overlaps agree with each other"
MEAN = "Exposure's overlaps agree on average"


def test_a_step_is_its_pairs_scatter_judged_at_the_threshold_and_just_past_it():
    """Pairs on the two sides of exposure a lean +h and -h: their mean is 0, their excess
    scatter sqrt(h^2 - u^2/2), which is the threshold at h = sqrt(0.01 + u^2/2)."""
    at = math.sqrt(0.01 + 0.001**2 / 2)
    (passed,) = _about(
        check_exposure_seams(_seams(("a", "b", at), ("a", "c", -at)), "match", 0.1), "a", SCATTER
    )
    assert passed.passed
    assert passed.value == pytest.approx(0.1)
    (failed,) = _about(
        check_exposure_seams(_seams(("a", "b", at + 1e-4), ("a", "c", -at - 1e-4)), "match", 0.1),
        "a",
        SCATTER,
    )
    assert not failed.passed
    assert failed.subject == "exposure a (match, 2 overlapping pairs)"
    assert "its pairs: a-b +0.100, a-c -0.100" in failed.measured
    assert "a sky step or gradient across this exposure" in failed.advice
    (mean,) = _about(
        check_exposure_seams(_seams(("a", "b", at), ("a", "c", -at)), "match", 0.1), "a", MEAN
    )
    assert mean.passed
    assert mean.value == pytest.approx(0.0)


def test_a_scatter_that_noise_explains_is_not_judged():
    """The same +-0.15 with an uncertainty of 0.2 per pair: chi-square 1.1 on 1 degree of
    freedom (p = 0.29): not significant, so not a step."""
    verdicts = check_exposure_seams(
        _seams(("a", "b", 0.15), ("a", "c", -0.15), uncertainty=0.2), "match", 0.1
    )
    (scatter,) = _about(verdicts, "a", SCATTER)
    stats = exposure_seam_statistics(
        _seams(("a", "b", 0.15), ("a", "c", -0.15), uncertainty=0.2), "match"
    )
    assert stats.set_index("rootname").loc["a", "p_scatter"] > SCATTER_P
    assert scatter.passed
    assert scatter.value == 0.0  # its excess scatter, 0.05, is not judged
    assert "not significant at 0.023" in scatter.measured


def test_a_pedestal_is_its_pairs_mean_judged_beyond_twice_its_uncertainty():
    """Both pairs of a lean +m; the mean's uncertainty is u / sqrt(2)."""
    margin = 2 * 0.001 / math.sqrt(2)
    (passed,) = _about(
        check_exposure_seams(
            _seams(("a", "b", 0.1 + margin), ("c", "a", -0.1 - margin)), "match", 0.1
        ),
        "a",
        MEAN,
    )
    assert passed.passed
    (failed,) = _about(
        check_exposure_seams(
            _seams(("a", "b", 0.1 + margin + 1e-4), ("c", "a", -0.1 - margin - 1e-4)), "match", 0.1
        ),
        "a",
        MEAN,
    )
    assert not failed.passed
    assert failed.measured.startswith("mean seam +0.102 x pixel noise (uncertainty 0.001)")


def test_a_nan_seam_fails_and_one_pair_has_no_scatter_to_judge():
    verdicts = check_exposure_seams(_seams(("a", "b", NAN), ("a", "c", 0.0)), "match", 0.1)
    assert {
        v.check for v in failures(_about(verdicts, "a", MEAN) + _about(verdicts, "a", SCATTER))
    } == {MEAN, SCATTER}
    assert _about(verdicts, "b", SCATTER) == []  # b has one pair


def _regions(*rows):
    """Regions (members, weights, pixels, excess x noise) of the match mosaic against
    localmin, with a pixel noise of 1 e-/s."""
    return pd.DataFrame(
        [
            {"method_a": "localmin", "method_b": "match", "region": "+".join(members),
             "n_pixels": pixels, "measured_e_s": 1.0 + excess, "predicted_e_s": 1.0,
             "noise_e_s": 1.0, "weights": ";".join(str(w) for w in weights)}
            for members, weights, pixels, excess in rows
        ],
        columns=REGION_COLUMNS,
    )  # fmt: skip


def test_an_exposures_own_error_is_recovered_from_regions_that_hold_it_with_others():
    """a is off by 0.3; it is always with b (weight 1/2) and once with c too (1/3)."""
    errors = exposure_sky_errors(
        _regions((("a", "b"), (0.5, 0.5), 4000, 0.15), (("a", "b", "c"), (1 / 3,) * 3, 1000, 0.1)),
        "match",
    ).set_index("rootname")
    assert errors.loc["a", "error"] == pytest.approx(0.3)
    assert errors.loc["a", "alike"] == ["b"]  # the same regions: no region tells a from b
    assert errors.loc["c", "alike"] == []


def test_the_recorded_sky_per_exposure_at_the_threshold_and_just_past_it():
    # A threshold of 0.125 and an excess of 0.0625, exact in binary: at it, not past it.
    at = check_exposure_sky(_regions((("a", "b"), (0.5, 0.5), 4000, 0.0625)), "match", 0.125)
    assert failures(at) == []
    assert at[0].value == 0.125
    past = failures(
        check_exposure_sky(_regions((("a", "b"), (0.5, 0.5), 4000, 0.0626)), "match", 0.125)
    )
    assert [v.subject for v in past] == [
        "exposure a (match mosaic, 1 regions, 4000 pixels)",
        "exposure b (match mosaic, 1 regions, 4000 pixels)",
    ]
    assert past[0].measured.startswith(
        "+0.125 x pixel noise left in its pixels beyond its recorded MDRIZSKY"
    )
    assert "b always drizzled with it: no region tells them apart" in past[0].measured
    assert "(or from b)" in past[0].advice


def test_a_nan_region_fails_its_exposures_and_no_region_fails_the_check():
    (nan, _) = failures(
        check_exposure_sky(_regions((("a", "b"), (0.5, 0.5), 4000, NAN)), "match", 0.1)
    )
    assert "not a number" in nan.measured
    (none,) = check_exposure_sky(_regions(), "match", 0.1)
    assert not none.passed
    assert none.measured == "no region covered by one known set of exposures with enough pixels"


def test_the_chi_square_tail_without_scipy_is_scipys():
    from scipy import stats

    from skyqa.checks.seams import chi2_sf

    for dof in (1, 2, 3, 4, 7, 12, 31):
        for value in (0.01, 0.7, 2.0, 5.5, 19.0, 80.0):
            assert chi2_sf(value, dof) == pytest.approx(stats.chi2.sf(value, dof), rel=1e-10)
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0


def test_an_exposures_statistics_at_their_edges():
    """No noise, large uncertainties, one pair, and a scatter that noise explains."""
    zero_noise = _seams(("a", "b", 0.0), ("a", "c", 0.0)).assign(pixel_noise_e_s=0.0)
    (mean,) = _about(check_exposure_seams(zero_noise, "match", 0.1), "a", MEAN)
    assert not mean.passed  # not measured: an uncertainty in units of no noise
    coarse = exposure_seam_statistics(
        _seams(("a", "b", 0.1), ("a", "c", -0.1), uncertainty=2.0), "match"
    ).set_index("rootname")
    assert coarse.loc["a", "mean_uncertainty"] == pytest.approx(2.0 / math.sqrt(2))
    assert coarse.loc["a", "scatter"] == 0.0  # chi-square 0.005 on 1 degree of freedom
    assert coarse.loc["b", "p_scatter"] == 1.0  # one pair: nothing to scatter
    (scatter,) = _about(
        check_exposure_seams(
            _seams(("a", "b", 0.1), ("a", "c", -0.1), uncertainty=0.2), "match", 0.1
        ),
        "a",
        SCATTER,
    )
    assert scatter.value == 0.0  # not significant: nothing judged


def test_an_exposures_pairs_are_listed_largest_first_six_of_them():
    seams = _seams(*(("a", f"n{i}", 0.01 * i) for i in range(1, 9)))
    (mean,) = _about(check_exposure_seams(seams, "match", 0.1), "a", MEAN)
    assert mean.measured.endswith(
        "over its pairs: a-n8 +0.080, a-n7 +0.070, a-n6 +0.060, a-n5 +0.050, a-n4 +0.040, "
        "a-n3 +0.030 and 2 more"
    )
    seven = _seams(*(("a", f"n{i}", 0.01 * i) for i in range(1, 8)))
    (mean,) = _about(check_exposure_seams(seven, "match", 0.1), "a", MEAN)
    assert mean.measured.endswith("a-n2 +0.020 and 1 more")
    six = _seams(*(("a", f"n{i}", 0.01 * i) for i in range(1, 7)))
    (mean,) = _about(check_exposure_seams(six, "match", 0.1), "a", MEAN)
    assert mean.measured.endswith("a-n1 +0.010")


def test_a_mean_without_an_uncertainty_fails():
    seams = _seams(("a", "b", 0.0), ("a", "c", 0.0)).assign(uncertainty_e_s=[NAN, NAN])
    (mean,) = _about(check_exposure_seams(seams, "match", 0.1), "a", MEAN)
    assert not mean.passed


def test_exposures_always_drizzled_together_are_named_in_each_others_verdicts():
    verdicts = check_exposure_sky(
        _regions((("a", "b", "c"), (1 / 3,) * 3, 4000, 0.2)), "match", 0.1
    )
    by_name = {v.subject.split(" ")[1]: v for v in verdicts}
    assert "; b, c always drizzled with it: no region tells them apart" in by_name["a"].measured
    assert "this exposure (or from b, c) than its header" in by_name["a"].advice


def test_regions_in_any_order_give_each_exposure_its_own_error():
    """The regions' verdicts and their rows are paired in the table's order, not sorted."""
    errors = exposure_sky_errors(
        _regions((("c", "d"), (0.5, 0.5), 4000, 0.1), (("a", "b"), (0.5, 0.5), 4000, -0.2)),
        "match",
    ).set_index("rootname")
    assert errors.loc["c", "error"] == pytest.approx(0.2)
    assert errors.loc["a", "error"] == pytest.approx(-0.4)


def test_an_exposure_with_no_weight_in_its_regions_has_no_error():
    errors = exposure_sky_errors(_regions((("a", "b"), (1.0, 0.0), 4000, 0.1)), "match")
    assert math.isnan(errors.set_index("rootname").loc["b", "error"])


def test_no_region_at_all_fails_about_the_method():
    (none,) = check_exposure_sky(_regions(), "match", 0.1)
    assert not none.passed
    assert none.item == "match"
    assert none.subject == "the match mosaic"
