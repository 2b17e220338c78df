"""skyqa.review: a clean field's failed checks held against its truth, on small tables."""

from types import SimpleNamespace

import pandas as pd
import pytest

from skyqa.field import resolve_field
from skyqa.oracle import seam_table
from skyqa.review import Review, review_failures
from skyqa.steps import STEP_COLUMNS

PEDESTALS = {"a": 0.80, "b": 0.82, "c": 0.81}
NOISE = 0.05


class FakePipeline:
    """What review_failures reads of a pipeline: the field and cached results."""

    def __init__(self, match_sky, raw_medians, uncertainty=0.001, truth_rms=(4.0, 5.0)):
        self.field = resolve_field("mini-sim")
        names = list(PEDESTALS)
        self._mosaics = {
            "match": SimpleNamespace(
                mdrizsky=pd.DataFrame({"rootname": names, "mdrizsky_e_s": match_sky})
            )
        }
        self._pairs = pd.DataFrame(
            {
                "exposure_a": ["a", "b"],
                "exposure_b": ["b", "c"],
                "n_pixels": [4000, 4000],
                "raw_median_e_s": raw_medians,
                "uncertainty_e_s": [uncertainty, uncertainty],
                "pixel_noise_e_s": [NOISE, NOISE],
            }
        )
        self._placement = SimpleNamespace(
            truth=pd.DataFrame(
                {
                    "visit": ["v1", "v1"],
                    "rootname": ["a", "b"],
                    "rms_mas": list(truth_rms),
                    # mini-sim's budget: hypot(1, 5, 0.02 x 128.3, 2) = 6.05 mas predicted.
                    "fit_claim_mas": [1.0, 1.0],
                    "n_stars": [6, 6],
                    "dof": [8, 8],
                    "pixel_scale_mas": [128.3, 128.3],
                }
            )
        )

    def mosaics(self):
        return self._mosaics

    def overlaps(self):
        return self._pairs

    def seams(self):
        mdrizsky = {method: mosaic.mdrizsky for method, mosaic in self._mosaics.items()}
        return seam_table(self._pairs, mdrizsky)

    def placement(self):
        return self._placement


TRUTH = SimpleNamespace(
    pedestals_e_s=PEDESTALS,
    exposures=(
        SimpleNamespace(rootname="a", jitter_mas=(3.0, 4.0)),
        SimpleNamespace(rootname="b", jitter_mas=(0.0, 1.0)),
    ),
)


def _raw(pedestals):
    return [pedestals["a"] - pedestals["b"], pedestals["b"] - pedestals["c"]]


def test_a_seam_the_truth_shows_is_real():
    # match left b 0.01 e-/s (0.2 x noise) off its pedestal; skyqa measured the truth.
    sky = [0.0, 0.03, 0.01]
    pipeline = FakePipeline(sky, _raw(PEDESTALS))
    (review,) = review_failures(pipeline, ["test_seam_free[mini-sim-match]"], TRUTH)
    assert review.confirmed is True
    assert "a-b: true seam +0.200" in review.text
    assert review.line().startswith("`test_seam_free[mini-sim-match]`: REAL: ")


def _seam_review(sky, mismeasured_pair):
    """The review of a failed match seam check, skyqa's measurement of one pair (0 for
    a-b, 1 for b-c) 0.2 x noise off the truth."""
    raw = _raw(PEDESTALS)
    raw[mismeasured_pair] += 0.2 * NOISE
    (review,) = review_failures(FakePipeline(sky, raw), ["test_seam_free[mini-sim-match]"], TRUTH)
    return review


def test_a_seam_only_the_measurement_sees_is_not_shown():
    # match is right; skyqa's measurement of pair a-b is 0.2 x noise off the truth.
    review = _seam_review([0.0, 0.02, 0.01], mismeasured_pair=0)
    assert review.confirmed is False
    assert "a-b: true seam +0.000 (skyqa measured +0.200" in review.text
    assert "NOT SHOWN BY THE TRUTH" in review.line()


def test_pedestal_and_oracle_failures_are_recomputed_from_the_truth():
    pipeline = FakePipeline([0.0, 0.03, 0.01], _raw(PEDESTALS))
    pedestal, oracle = review_failures(
        pipeline,
        [
            "test_match_recovers_injected_pedestals[mini-sim-match]",
            "test_match_agrees_with_oracle[mini-sim-match]",
        ],
        TRUTH,
    )
    assert pedestal.confirmed is True
    assert "past half the seam threshold of the exposure's noise: a, b" in pedestal.text
    assert oracle.confirmed is True  # match off 0.01; skyqa's solution is the truth
    assert "skyqa's least-squares solution by up to 0.00000 e-/s" in oracle.text


@pytest.mark.parametrize(
    ("rms", "confirmed"),
    [
        ((4.0, 20.5), {"wcs": True, "sources": True}),  # beyond HAP's accepted 20 mas
        ((4.0, 18.5), {"wcs": True, "sources": False}),  # beyond 3 x 6.05 mas predicted
        ((4.0, 17.5), {"wcs": False, "sources": False}),
    ],
)
def test_an_alignment_failure_is_real_when_the_true_wcs_is_past_what_fails_it(
    monkeypatch, rms, confirmed
):
    from skyqa import review

    def offsets(pipeline, truth, visit):
        assert visit == "v1"
        return [
            {"rootname": name, "rms_mas": value, "shift_mas": 3.0, "rest_mas": 2.0,
             "jitter_mas": 5.0}
            for name, value in zip("ab", rms, strict=True)
        ]  # fmt: skip

    monkeypatch.setattr(review, "true_offsets", offsets)
    pipeline = FakePipeline([0.0, 0.02, 0.01], _raw(PEDESTALS))
    for name in ("wcs", "sources"):
        check = {"wcs": "test_wcs_matches_truth", "sources": "test_sources_on_catalog"}[name]
        (verdict,) = review_failures(pipeline, [f"{check}[mini-sim-v1]"], TRUTH)
        assert verdict.confirmed is confirmed[name]
        assert "a 4.0 mas RMS from its true mapping (a shift of 3.0 mas, 2.0 mas RMS" in (
            verdict.text
        )


def test_a_check_without_a_truth_comparison_says_so():
    (review,) = review_failures(FakePipeline([0, 0, 0], [0, 0]), ["test_x[mini-sim]"], TRUTH)
    assert review == Review("test_x[mini-sim]", None, "read its verdicts")
    assert "NO TRUTH COMPARISON" in review.line()


def test_a_seam_check_is_real_when_one_of_its_failed_pairs_is_and_names_the_others():
    # b is 0.01 e-/s off (pair a-b truly 0.2), c too (b-c truly 0, measured 0.2 too high).
    review = _seam_review([0.0, 0.03, 0.02], mismeasured_pair=1)
    assert review.confirmed is True
    assert (
        "2 of the 5 failed pairs or exposures are within the threshold by the truth" in review.text
    )


def test_a_two_chip_fields_seams_are_reviewed_by_chip_pair():
    # The same as the first test, on chips: the check names pairs "a chip 1-b chip 2".
    pipeline = FakePipeline([0.0, 0.03, 0.01], _raw(PEDESTALS))
    pipeline._pairs.insert(2, "chip_a", [1, 2])
    pipeline._pairs.insert(3, "chip_b", [2, 1])
    (review,) = review_failures(pipeline, ["test_seam_free[mini-sim-match]"], TRUTH)
    assert review.confirmed is True
    assert "a chip 1-b chip 2: true seam +0.200" in review.text


def test_a_step_is_not_shown_by_a_replica_whose_skies_are_one_pedestal_each():
    # match is right; skyqa measured a's upper rows 0.3 x noise brighter than its lower.
    pipeline = FakePipeline([0.0, 0.02, 0.01], _raw(PEDESTALS))
    steps = {column: [float("nan")] * 2 for column in STEP_COLUMNS}
    steps["ya_step_e_s"] = [0.3 * NOISE, float("nan")]
    steps["ya_step_uncertainty_e_s"] = [0.01 * NOISE, float("nan")]
    pipeline._pairs = pipeline._pairs.assign(**steps)
    (review,) = review_failures(pipeline, ["test_seam_free[mini-sim-match]"], TRUTH)
    assert review.confirmed is False
    assert (
        "exposure a: by the truth its sky is one pedestal across the detector, no step "
        "(skyqa measured +0.300 across its middle row)"
    ) in review.text
