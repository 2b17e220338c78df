import numpy as np
import pandas as pd
import pytest

from skyqa.baseline import check_table_against_baseline, tolerances_for
from skyqa.errors import FieldSpecError
from skyqa.field import BaselineSpec
from skyqa.verdict import failures


@pytest.fixture
def table():
    return pd.DataFrame({"rootname": ["a", "b"], "match": [0.0, 0.02], "localmin": [0.8, 0.9]})


def test_nan_is_caught_although_pytest_regressions_would_accept_it(table, tmp_path):
    table.loc[1, "match"] = np.nan
    (failed,) = failures(check_table_against_baseline(table, "mdrizsky", tmp_path / "none.csv"))
    assert "1 non-finite value(s): ['b']:match" in failed.message()


def test_columns_are_compared_both_ways(table, tmp_path):
    path = tmp_path / "mdrizsky.csv"
    table.assign(globalmin=0.8).to_csv(path)
    (failed,) = failures(check_table_against_baseline(table, "mdrizsky", path))
    assert failed.measured == "missing now: ['globalmin']; new: none"
    assert "--force-regen" in failed.message()


def test_rows_are_compared_both_ways(table, tmp_path):
    path = tmp_path / "mdrizsky.csv"
    table.assign(rootname=["a", "c"]).to_csv(path)
    (failed,) = failures(check_table_against_baseline(table, "mdrizsky", path))
    assert failed.measured == "missing now: [('c',)]; new: [('b',)]"


def test_tolerances_come_from_the_spec_and_unknown_columns_are_refused():
    spec = BaselineSpec(mdrizsky={"match": 0.001})
    assert tolerances_for(spec, "mdrizsky", ["rootname", "match"]) == {
        "match": {"atol": 0.001, "rtol": 0.0}
    }
    with pytest.raises(FieldSpecError, match=r"\[baseline\]\.mdrizsky names column\(s\) match"):
        tolerances_for(spec, "mdrizsky", ["rootname", "localmin"])


def test_largest_distance_per_column_against_its_tolerance(table, tmp_path):
    from skyqa.baseline import DISTANCE_CHECK

    path = tmp_path / "mdrizsky.csv"
    table.assign(match=[0.0, 0.0205], localmin=[0.8, 0.9]).to_csv(path)
    verdicts = check_table_against_baseline(table, "mdrizsky", path, {"match": 0.001}, 1e-6)
    distances = {v.subject: v for v in verdicts if v.check == DISTANCE_CHECK}
    match = distances["column match of the mdrizsky table"]
    assert match.passed
    assert match.value == pytest.approx(0.0005)
    assert match.limit == 0.001
    assert match.measured == "0.0005 at b (now 0.02, baseline 0.0205)"
    assert match.threshold == "<= 0.001"
    localmin = distances["column localmin of the mdrizsky table"]
    assert (localmin.passed, localmin.value, localmin.limit) == (True, 0.0, 1e-6)
    far = check_table_against_baseline(table, "mdrizsky", path, {"match": 0.0004}, 1e-6)
    (failed,) = failures(far)
    assert failed.check == DISTANCE_CHECK
    assert failed.ratio() == pytest.approx(1.25)


def test_integer_columns_must_equal_their_baseline(tmp_path):
    from skyqa.baseline import DISTANCE_CHECK

    current = pd.DataFrame({"visit": ["v1"], "n_matches": [12]})
    path = tmp_path / "alignment.csv"
    current.assign(n_matches=[13]).to_csv(path)
    (failed,) = failures(check_table_against_baseline(current, "alignment", path, {}, 1.0))
    assert failed.check == DISTANCE_CHECK
    assert failed.threshold == "<= 0 (integers compare exactly)"


def test_a_nan_distance_names_the_row_the_nan_is_in(table, tmp_path):
    """Visit a holds the NaN; b, whose values are finite, is further from its baseline:
    the failed distance names a (the issue-31 report named the finite row)."""
    from skyqa.baseline import DISTANCE_CHECK

    path = tmp_path / "mdrizsky.csv"
    table.assign(match=[0.0, 0.5]).to_csv(path)
    table.loc[0, "match"] = np.nan
    verdicts = check_table_against_baseline(table, "mdrizsky", path, {"match": 0.001}, 1e-6)
    (distance,) = [v for v in failures(verdicts) if v.check == DISTANCE_CHECK]
    assert distance.measured == "nan at a (now nan, baseline 0)"


def test_a_baseline_failure_counts_the_verdicts_its_report_row_counts(table, tmp_path):
    """The failure block and the check's row in the report count one set of verdicts: the
    structural ones `require` judges and the distances pytest-regressions judges."""
    from skyqa.baseline import DISTANCE_CHECK
    from skyqa.plugin.verdicts import require, use_recorder
    from skyqa.summary import rank_check

    path = tmp_path / "mdrizsky.csv"
    table.assign(match=[0.0, 0.5]).to_csv(path)
    table.loc[0, "match"] = np.nan
    verdicts = check_table_against_baseline(table, "mdrizsky", path, {"match": 0.001}, 1e-6)
    recorded = []
    with use_recorder(recorded.extend), pytest.raises(pytest.fail.Exception) as failed:
        require(
            (v for v in verdicts if v.check != DISTANCE_CHECK),
            judged_elsewhere=(v for v in verdicts if v.check == DISTANCE_CHECK),
        )
    row = {}
    rank_check(row, recorded)
    header = str(failed.value).splitlines()[0]
    not_within = len(recorded) - row["within"]
    assert header == f"{not_within} of {len(recorded)} verdicts failed:"
    assert "nan at a (now nan, baseline 0)" in str(failed.value)
