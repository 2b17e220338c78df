"""QA: the field's metric tables agree with its stored baselines (pytest-regressions)."""

import pytest

from skyqa.baseline import (
    DISTANCE_CHECK,
    check_table_against_baseline,
    missing_baseline_sentence,
    tolerances_for,
)
from skyqa.metrics import alignment_metrics, mdrizsky_metrics, seam_metrics
from skyqa.plugin.keys import SETTINGS_KEY
from skyqa.plugin.verdicts import not_checked, require
from skyqa.settings import in_installed_package


@pytest.fixture
def metric_table(request, alignment, mosaics, seam_table):
    builders = {
        "alignment": lambda: alignment_metrics(alignment),
        "mdrizsky": lambda: mdrizsky_metrics(mosaics),
        "seams": lambda: seam_metrics(seam_table),
    }
    return request.param, builders[request.param]()


@pytest.mark.parametrize("metric_table", ["alignment", "mdrizsky", "seams"], indirect=True)
def test_matches_baseline(metric_table, skyqa_field, baseline_dir, dataframe_regression, request):
    """The table equals baselines/<field>/<table>.csv within the spec's tolerances.

    With no stored table there is nothing to compare: the table is written from this run
    (never inside the installed package, never by a session with an injected fault) and
    the check reports "not run", so the field's verdict is incomplete, not passed.
    """
    name, table = metric_table
    path = baseline_dir / f"{name}.csv"
    tolerances = tolerances_for(skyqa_field.baseline, name, list(table.columns))
    default_atol = skyqa_field.baseline.default_atol
    fault = request.config.stash[SETTINGS_KEY].fault
    if not path.is_file():
        writable = not in_installed_package(path) and not fault
        if writable:
            with pytest.raises(pytest.fail.Exception):  # pytest-regressions writes, then fails
                dataframe_regression.check(table, fullpath=path)
        not_checked(missing_baseline_sentence(skyqa_field.name, name, path, writable, fault))
    verdicts = check_table_against_baseline(
        table,
        name,
        path,
        {column: tolerance["atol"] for column, tolerance in tolerances.items()},
        default_atol,
    )
    # How near each column is to its tolerance goes to the report; pytest-regressions
    # judges the values (and rewrites them with --force-regen).
    require(
        (v for v in verdicts if v.check != DISTANCE_CHECK),
        judged_elsewhere=(v for v in verdicts if v.check == DISTANCE_CHECK),
    )
    if fault:  # the verdicts above judged it; --force-regen must not store a fault's table
        return
    dataframe_regression.check(
        table,
        fullpath=path,
        default_tolerance={"atol": default_atol, "rtol": 0.0},
        tolerances=tolerances,
    )
