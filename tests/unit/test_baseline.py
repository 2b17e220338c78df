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
