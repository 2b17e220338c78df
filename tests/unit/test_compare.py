"""skyqa compare on recorded summaries."""

from pathlib import Path

import pytest

from skyqa.compare import (
    checks_table,
    compare,
    load_runs,
    metrics_table,
    verdicts_table,
    versions_table,
)
from skyqa.summary import read_summary

SUMMARIES = Path(__file__).parents[2] / "fixtures" / "summaries"


@pytest.fixture
def runs(tmp_path):
    return load_runs(
        [SUMMARIES / "qa-pinned.json", SUMMARIES / "qa-latest.json", tmp_path / "qa-dp3711.json"]
    )


def test_crashed_environment_is_a_column_that_says_so(runs):
    assert [run.label for run in runs] == ["qa-pinned", "qa-latest", "qa-dp3711"]
    assert runs[2].summary is None
    assert "crashed before writing one" in runs[2].problem
    table = checks_table(runs)
    assert set(table["qa-dp3711"]) == {"crashed"}


def test_checks_show_fallback_missing_and_new_checks(runs):
    table = checks_table(runs)
    row = table.loc["test_no_sky_fallback[horsehead-sim-match]"]
    assert (row["qa-pinned"], row["qa-latest"]) == ("pass", "FAIL (match fell back)")
    assert table.loc["test_seam_free[horsehead-sim-match]", "qa-latest"] == "FAIL (match fell back)"
    assert table.loc["test_removed_later[horsehead-sim]", "qa-latest"] == "—"
    assert table.loc["test_added_later[horsehead-sim]", "qa-pinned"] == "—"
    assert table.loc["test_added_later[horsehead-sim]", "qa-latest"] == "pass"


def test_versions_side_by_side(runs):
    table = versions_table(runs)
    assert table.loc["spherical_geometry", "qa-pinned"] == "1.3.5"
    assert table.loc["spherical_geometry", "qa-latest"] == "1.4.0"
    assert table.loc["drizzlepac", "qa-dp3711"] == "—"


def test_metrics_differences_from_reference_and_stored_baseline(runs):
    table = metrics_table(runs, reference="qa-pinned")
    row = table.loc["MDRIZSKY match ibxl50clq (e-/s)"]
    assert row["baseline from"] == "qa-pinned"
    assert row["Δ qa-latest"] == pytest.approx(1.4985 - 0.0145)
    assert table.loc["seam score match", "Δ qa-latest"] == pytest.approx(1.70 - 0.012)
    stored = metrics_table(runs, "qa-pinned", {"MDRIZSKY match ibxl50clq (e-/s)": 0.0163})
    assert stored.loc["MDRIZSKY match ibxl50clq (e-/s)", "baseline from"] == "stored"
    assert stored.loc["MDRIZSKY match ibxl50clq (e-/s)", "Δ qa-pinned"] == pytest.approx(-0.0018)


def test_compare_writes_markdown_and_html(tmp_path):
    markdown, page = compare(
        [SUMMARIES / "qa-pinned.json", SUMMARIES / "qa-latest.json", tmp_path / "gone.json"],
        tmp_path / "out",
        reference="qa-pinned",
        baseline_dir=Path(__file__).parents[2] / "baselines",
    )
    text = markdown.read_text()
    assert text.startswith("# skyqa comparison: horsehead-sim")
    assert (
        "| test_no_sky_fallback[horsehead-sim-match] | pass | FAIL (match fell back) | crashed |"
        in text
    )
    assert "- gone: no summary: the run crashed before writing one" in text
    assert '<td class="failed">FAIL (match fell back)</td>' in page.read_text()


def test_summary_of_another_schema_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"schema": "something-else", "schema_version": 2}')
    with pytest.raises(ValueError, match="is not a skyqa summary of schema version 2"):
        read_summary(path)


def test_version_1_summary_is_refused_it_called_empty_runs_passed(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"schema": "skyqa-summary", "schema_version": 1, "verdict": "passed"}')
    with pytest.raises(ValueError, match="version 1"):
        read_summary(path)


def test_verdicts_row_shows_each_runs_verdict_and_a_run_that_checked_nothing(runs, tmp_path):
    import json

    empty = json.loads((SUMMARIES / "qa-pinned.json").read_text())
    for check in empty["checks"]:
        check["status"] = "deselected"
    from skyqa.summary import run_verdict

    empty["verdict"], empty["headline"] = run_verdict(empty["checks"])
    empty["environment"]["label"] = "qa-empty"
    (tmp_path / "qa-empty.json").write_text(json.dumps(empty))
    runs = [*runs, *load_runs([tmp_path / "qa-empty.json"])]
    table = verdicts_table(runs)
    assert table.loc["verdict"].tolist() == ["pass", "FAILED", "crashed", "PARTIAL"]
    assert table.loc["headline", "qa-empty"].startswith("0 of 3 checks selected")
    markdown, page = compare(
        [SUMMARIES / "qa-pinned.json", tmp_path / "qa-empty.json"], tmp_path / "out"
    )
    assert "| verdict | pass | PARTIAL |" in markdown.read_text()
    assert '<td class="partial">PARTIAL</td>' in page.read_text()


def test_recorded_summaries_follow_the_schema():
    import json

    import jsonschema

    from skyqa.summary import schema_path

    schema = json.loads(schema_path().read_text())
    for path in SUMMARIES.glob("*.json"):
        jsonschema.validate(json.loads(path.read_text()), schema)


def test_the_recommendation_is_side_by_side_and_absent_where_a_run_made_none(runs, tmp_path):
    import json

    from skyqa.compare import recommendation_table

    with_one = json.loads((SUMMARIES / "qa-pinned.json").read_text())
    with_one["environment"]["label"] = "qa-new"
    with_one["recommendation"] = {
        "recommended": ["match", "globalmin+match"],
        "emission": {"fraction": 0.88, "exposures": 18, "over_half": 18, "says": "match"},
        "agrees": True,
        "sentence": "...",
        "methods": [
            {"method": "match", "fit": True, "failed": [], "worst_seam": 0.094, "rms_seam": 0.013},
            {
                "method": "localmin",
                "fit": False,
                "failed": ["seams"],
                "worst_seam": 6.366,
                "rms_seam": 1.706,
            },
        ],
    }
    (tmp_path / "qa-new.json").write_text(json.dumps(with_one))
    table = recommendation_table([*runs[:1], *load_runs([tmp_path / "qa-new.json"])])
    assert table.loc["recommended"].tolist() == ["—", "match, globalmin+match"]
    assert table.loc["rule of thumb", "qa-new"] == "match (88 % emission, agrees)"
    assert table.loc["localmin", "qa-new"] == "unfit: worst seam 6.366, RMS 1.706"
    markdown, _ = compare([SUMMARIES / "qa-pinned.json", tmp_path / "qa-new.json"], tmp_path / "o")
    assert "## Which sky method suits this field" in markdown.read_text()
