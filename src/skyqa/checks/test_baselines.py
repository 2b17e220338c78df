"""QA: the field's metric tables agree with its stored baselines (pytest-regressions)."""

import pytest

from skyqa.baseline import (
    alignment_metrics,
    check_table_against_baseline,
    mdrizsky_metrics,
    seam_metrics,
    tolerances_for,
)
from skyqa.verdict import require


@pytest.fixture
def metric_table(request, alignment, mosaics, seam_table):
    builders = {
        "alignment": lambda: alignment_metrics(alignment),
        "mdrizsky": lambda: mdrizsky_metrics(mosaics),
        "seams": lambda: seam_metrics(seam_table),
    }
    return request.param, builders[request.param]()


@pytest.mark.parametrize("metric_table", ["alignment", "mdrizsky", "seams"], indirect=True)
def test_matches_baseline(metric_table, skyqa_field, baseline_dir, dataframe_regression):
    """The table equals baselines/<field>/<table>.csv within the spec's tolerances."""
    name, table = metric_table
    path = baseline_dir / f"{name}.csv"
    require(check_table_against_baseline(table, name, path))
    dataframe_regression.check(
        table,
        fullpath=path,
        default_tolerance={"atol": skyqa_field.baseline.default_atol, "rtol": 0.0},
        tolerances=tolerances_for(skyqa_field.baseline, name, list(table.columns)),
    )
