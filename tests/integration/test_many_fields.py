"""Several fields in one session: their stages built together, one combined report."""

from __future__ import annotations

import json
import re

import pytest

from skyqa.field import resolve_field
from skyqa.report.page import STATUS_ORDER
from skyqa.report.session import generic_id, schema_path, session_summary
from skyqa.testing import seed_variant

pytestmark = pytest.mark.integration


def test_two_fields_are_built_together_and_reported_together(pytester, tmp_path):
    import jsonschema

    mini = resolve_field("mini-sim")
    specs = [seed_variant(mini, seed, tmp_path) for seed in (7, 11)]
    result = pytester.runpytest(
        *[argument for spec in specs for argument in ("--field", str(spec))],
        "--skyqa-cache-dir", str(tmp_path / "cache"), "--skyqa-workers", "2",
        "-k", "not test_matches_baseline",
    )  # fmt: skip
    output = result.stdout.str()
    names = [f"mini-sim-seed{seed}" for seed in (7, 11)]
    # Both fields' batches were handed to the one pool before either's mosaics were done:
    # the fields' jobs were in flight together, not field after field.
    first_mosaic_done = min(
        output.index(f"{name}: drizzling the match mosaic: done") for name in names
    )
    for name in names:
        batch = re.search(rf"{name}: building \d+ independent stages", output)
        assert batch is not None
        assert batch.start() < first_mosaic_done
        result.stdout.fnmatch_lines([f"skyqa verdict for {name}: PARTIAL*"])
    result.stdout.fnmatch_lines(["skyqa verdict for the session: PARTIAL. 2 fields: 2 partial.*"])
    report = pytester.path / "skyqa-report"
    session = json.loads((report / "session-summary.json").read_text())
    jsonschema.validate(session, json.loads(schema_path().read_text()))
    assert [entry["field"] for entry in session["fields"]] == names
    page = (report / "index.html").read_text()
    table = page[
        page.index('id="fields-checks"') : page.index("</table>", page.index('id="fields-checks"'))
    ]
    # Fields x checks, the rows that need a look first on top: here every row passed but
    # the deselected baseline comparisons, which come last.
    rows = table.split("<tr>")[2:]
    order = [
        min(STATUS_ORDER[status] for status in re.findall(r'class="([a-z ]+)"', row))
        for row in rows
    ]
    assert order == sorted(order)
    checks = {
        generic_id(check["id"], name)
        for name in names
        for check in json.loads((report / name / "summary.json").read_text())["checks"]
    }
    assert len(rows) == len(checks)
    assert all(row.startswith("<td>test_matches_baseline[") for row in rows[-3:])
    assert all(f'<a href="{name}/index.html">' in page for name in names)


def test_a_check_id_without_its_field():
    assert generic_id("test_seam_free[mini-sim-match]", "mini-sim") == "test_seam_free[match]"
    assert generic_id("test_overlaps_connected[mini-sim]", "mini-sim") == "test_overlaps_connected"
    assert generic_id("test_x[other-match]", "mini-sim") == "test_x[other-match]"


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["passed", "passed"], "passed"),
        (["passed", "partial"], "partial"),
        (["incomplete", "failed", "passed"], "failed"),
        (["failed", "error"], "error"),
        (["error", "interrupted"], "interrupted"),
    ],
)
def test_the_session_verdict_is_its_worst_fields(verdicts, expected):
    summaries = {
        f"f{index}": {"verdict": verdict, "headline": "h", "counts": {}, "checks": []}
        for index, verdict in enumerate(verdicts)
    }
    session = session_summary(summaries)
    assert session["verdict"] == expected
    if expected != "passed":
        assert "Look first at" in session["headline"]


def _spec_folder(folder, seeds):
    """A folder of mini-sim seed variants' specs."""
    folder.mkdir()
    for seed in seeds:
        seed_variant(resolve_field("mini-sim"), seed, folder)
    return folder


def test_a_folder_of_specs_is_every_spec_in_it(tmp_path, monkeypatch):
    from skyqa.errors import FieldSpecError
    from skyqa.field import resolve_fields

    folder = _spec_folder(tmp_path / "fields", (11, 7))
    (tmp_path / "mini-sim").mkdir()  # a report folder named like the field
    monkeypatch.chdir(tmp_path)
    names = [spec.name for spec in resolve_fields([str(folder), "mini-sim"])]
    assert names == ["mini-sim-seed11", "mini-sim-seed7", "mini-sim"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FieldSpecError, match="holds no field spec"):
        resolve_fields([str(tmp_path / "empty")])
    seed_variant(resolve_field("mini-sim"), 7, tmp_path)
    with pytest.raises(FieldSpecError, match="Two specs name the field 'mini-sim-seed7'"):
        resolve_fields([str(folder), str(tmp_path / "mini-sim-seed7.toml")])


def test_pytest_field_folder_names_every_field(pytester, tmp_path):
    """Collection only: a folder given to --field runs the checks of each spec in it."""
    folder = _spec_folder(tmp_path / "fields", (7, 11))
    result = pytester.runpytest("--field", str(folder), "--collect-only", "-q")
    output = result.stdout.str()
    assert "mini-sim-seed7-match" in output
    assert "mini-sim-seed11-match" in output
