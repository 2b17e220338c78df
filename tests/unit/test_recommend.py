"""The sky-method recommendation's ranking and rule of thumb (skyqa.recommend), on
evidence tables whose answer is known."""

import math

import pandas as pd

from skyqa.recommend import recommend, rule_of_thumb


def _evidence(**failed):
    rows = [
        ("localmin", 6.4, 1.7, ["seams", "oracle"]),
        ("match", 0.094, 0.013, []),
        ("globalmin+match", 0.094, 0.013, []),
        ("globalmin", 0.73, 0.22, ["seams"]),
    ]
    return pd.DataFrame(
        [
            {
                "method": method, "worst_seam": worst, "rms_seam": rms, "oracle": 0.1,
                "recorded_sky": math.nan, "truth": math.nan, "cosmic_ray_max": math.nan,
                "failed": failed.get(method.replace("+", "_"), fails),
            }
            for method, worst, rms, fails in rows
        ]
    )  # fmt: skip


def _emission(*fractions):
    return pd.DataFrame(
        {
            "rootname": [f"e{i}" for i in range(len(fractions))],
            "chip": 0,
            "n_blocks": 100,
            "emission_fraction": fractions,
            "noise_e_s": 0.05,
        }
    )


def test_the_match_family_ranks_together_and_the_unfit_last():
    result = recommend(_evidence(), _emission(0.9, 0.8))
    assert result["recommended"] == ["match", "globalmin+match"]
    assert [m["method"] for m in result["methods"]] == [
        "match", "globalmin+match", "globalmin", "localmin",
    ]  # fmt: skip
    assert result["emission"]["says"] == "match"
    assert result["agrees"] is True
    assert result["sentence"].startswith(
        "Recommended: match and globalmin+match (the same seams: their skies differ by one "
        "constant): worst seam 0.094, RMS 0.013 x noise"
    )
    assert "localmin: worst seam 6.400, RMS 1.700 x noise" in result["sentence"]
    assert "unfit: fails seams, oracle" in result["sentence"]


def test_a_product_that_failed_its_checks_is_not_recommended():
    result = recommend(_evidence(), None, {"match": "failed"})
    assert result["recommended"] == ["globalmin+match"]
    (match,) = [m for m in result["methods"] if m["method"] == "match"]
    assert match["failed"] == ["its product's checks (failed)"]


def test_when_localmin_is_fit_and_the_sky_is_blank_the_rule_agrees():
    result = recommend(_evidence(localmin=[]), _emission(0.1, 0.3))
    assert result["emission"] == {
        "fraction": 0.2,
        "exposures": 2,
        "over_half": 0,
        "says": "localmin",
    }
    assert result["agrees"] is True
    assert "Also fit: localmin" in result["sentence"]


def test_the_rule_and_the_evidence_can_disagree_and_it_is_said():
    result = recommend(_evidence(localmin=[]), _emission(0.6, 0.1))
    assert result["emission"]["says"] == "match"
    assert result["agrees"] is False
    assert result["sentence"].endswith(
        "the rule of thumb says match, and the evidence does not agree."
    )


def test_no_fit_method_is_said_and_a_field_without_emission_has_no_rule():
    result = recommend(_evidence(match=["seams"], globalmin_match=["seams"]))
    assert result["recommended"] == []
    assert result["sentence"].startswith("No drizzled sky method passes the evidence")
    assert result["emission"] is None
    assert result["agrees"] is None


def test_rule_of_thumb_weights_by_blocks_and_ignores_chips_without_data():
    emission = _emission(0.9, math.nan, 0.1)
    emission.loc[2, "n_blocks"] = 300
    thumb = rule_of_thumb(emission)
    assert thumb["fraction"] == (0.9 * 100 + 0.1 * 300) / 400
    assert thumb["over_half"] == 1
