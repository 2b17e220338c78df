"""The published M16 WFC3/UVIS `match` skies (baselines/m16-uvis) as real data through
skyqa's own sky checks: in e-/s, as the checks judge every detector."""

from __future__ import annotations

import pandas as pd
import pytest

from skyqa.baseline import packaged_baselines
from skyqa.checks.sky import check_match_levels, check_mdrizsky_finite
from skyqa.field import resolve_field


@pytest.fixture(scope="module")
def published():
    return pd.read_csv(
        packaged_baselines() / "m16-uvis" / "published_match.csv", dtype={"rootname": str}
    )


@pytest.fixture(scope="module")
def field():
    return resolve_field("m16-uvis")


def _as_rates(published, detector) -> pd.DataFrame:
    """The sky file's electrons as the checks' table: e-/s, one row per exposure."""
    rates = [
        detector.rate(value, exptime)
        for value, exptime in zip(published["match_electrons"], published["exptime_s"], strict=True)
    ]
    return pd.DataFrame({"rootname": published["rootname"], "mdrizsky_e_s": rates})


def test_the_published_table_is_the_fields_twelve_exposures(published, field):
    assert list(published["rootname"]) == list(field.mast.expected_rootnames)
    assert sorted(set(published["asn_id"])) == list(field.mast.expected_associations)
    assert set(published["exptime_s"]) == {600.0}


def test_published_match_skies_pass_the_sky_checks_in_rates(published, field):
    table = _as_rates(published, field.detector_model)
    thresholds = field.thresholds
    finite = check_mdrizsky_finite(table, "match")
    levels = check_match_levels(
        table, "match", thresholds.match_max_e_s, thresholds.sky_relation_tolerance_e_s
    )
    assert len(finite) == 12
    assert [v.check for v in levels] == [
        "Lowest matched sky is zero",
        "No matched sky is negative",
        "Largest matched sky is below the field's limit",
    ]
    assert [v for v in [*finite, *levels] if not v.passed] == []
    assert levels[0].subject == "exposure ick906kwq (match)"
    assert levels[2].subject == "exposure ick907nkq (match)"
    assert levels[2].value == pytest.approx(5.216696190655276 / 600.0)


def test_the_same_numbers_read_as_rates_without_exptime_fail_the_limit(published, field):
    """The units matter: electrons taken for e-/s are 600 times too large."""
    table = pd.DataFrame(
        {"rootname": published["rootname"], "mdrizsky_e_s": published["match_electrons"]}
    )
    thresholds = field.thresholds
    levels = check_match_levels(
        table, "match", thresholds.match_max_e_s, thresholds.sky_relation_tolerance_e_s
    )
    (failed,) = [v for v in levels if not v.passed]
    assert failed.message().startswith(
        "Largest matched sky is below the field's limit FAILED for exposure ick907nkq (match): "
        "measured 5.216696 e-/s"
    )
