"""The replayed service answers in fixtures/ have the shape of the real services' answers.

The fixtures are constructed (no machine here reaches MAST or Gaia). Their shape is
checked against the responses astroquery records from the live services and ships in its
own test data, read from the installed package (nothing is copied): the JSON envelope,
every column the recorded answer has (name and declared type), values of the declared
types, and for Gaia the VOTable envelope and each column's datatype and unit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[2] / "fixtures"
ASTROQUERY = Path(__import__("astroquery").__file__).parent
JSON_TYPES = {"string": (str,), "float": (float, int), "int": (int,), "boolean": (bool,)}

PORTAL_PAIRS = [
    ("mast/caom_filtered_horsehead.json", "mast/tests/data/caom.json"),
    ("mast/caom_filtered_empty.json", "mast/tests/data/caom.json"),
    ("mast/caom_products_horsehead.json", "mast/tests/data/products.json"),
    ("mast/caom_filtered_m16-uvis.json", "mast/tests/data/caom.json"),
    ("mast/caom_products_m16-uvis.json", "mast/tests/data/products.json"),
]


def _recorded(relative: str) -> Path:
    path = ASTROQUERY / relative
    if not path.is_file():  # a newer astroquery may move its test data: say so, loudly
        pytest.fail(f"astroquery {ASTROQUERY} no longer ships {relative}; update this test.")
    return path


@pytest.mark.parametrize(("fixture", "recorded"), PORTAL_PAIRS)
def test_portal_answers_have_the_recorded_envelope_columns_and_types(fixture, recorded):
    ours = json.loads((FIXTURES / fixture).read_text())
    theirs = json.loads(_recorded(recorded).read_text())
    assert set(ours) == set(theirs), "envelope keys"
    assert ours["status"] == theirs["status"] == "COMPLETE"
    assert set(ours["paging"]) == set(theirs["paging"])
    assert ours["paging"]["rows"] == ours["paging"]["rowsTotal"] == len(ours["data"])
    our_types = {f["name"]: f["type"] for f in ours["fields"]}
    their_types = {f["name"]: f["type"] for f in theirs["fields"]}
    missing = sorted(set(their_types) - set(our_types))
    assert not missing, f"{fixture} lacks the recorded columns {missing}"
    differ = {n: (our_types[n], t) for n, t in their_types.items() if our_types[n] != t}
    assert not differ, f"{fixture}: declared types differ from the recorded ones: {differ}"
    for row in ours["data"]:
        assert set(row) == set(our_types), "every row has exactly the declared fields"
        wrong = {
            name: value
            for name, value in row.items()
            if value is not None
            and our_types[name] in JSON_TYPES
            and (
                not isinstance(value, JSON_TYPES[our_types[name]])
                or (our_types[name] != "boolean" and isinstance(value, bool))
            )
        }
        assert not wrong, f"{fixture}: values not of their declared type: {wrong}"


def test_the_column_configuration_has_the_recorded_shape():
    ours = json.loads((FIXTURES / "mast" / "columnsconfig_caom.json").read_text())
    theirs = json.loads(_recorded("mast/tests/data/columnsconfig.json").read_text())
    common = set.intersection(*(set(entry) for entry in theirs.values()))
    for column, entry in ours.items():
        assert common <= set(entry), f"{column} lacks {sorted(common - set(entry))}"
    shared = set(ours) & set(theirs)
    assert shared, "no column in common with the recorded configuration"
    for column in shared:
        assert ours[column]["vot.datatype"] == theirs[column]["vot.datatype"], column


def test_the_gaia_cone_search_has_the_recorded_votable_columns():
    from astropy.io.votable import parse

    ours = parse(FIXTURES / "gaia" / "cone_search_horsehead_dr3.vot")
    theirs = parse(_recorded("gaia/tests/data/1710099405832VAL-result.vot"))
    their_fields = {f.name: f for f in theirs.get_first_table().fields}
    assert [r.type for r in ours.resources] == ["results"]
    status = [info.value for info in ours.resources[0].infos if info.name == "QUERY_STATUS"]
    assert status == ["OK"], "a Gaia TAP answer says QUERY_STATUS OK"
    for field in ours.get_first_table().fields:
        if field.name == "dist":  # the cone search's computed distance: not a table column
            assert field.datatype == "double"
            continue
        recorded = their_fields.get(field.name)
        assert recorded is not None, f"gaia_source has no column {field.name}"
        assert field.datatype == recorded.datatype, field.name
        assert str(field.unit or "") == str(recorded.unit or ""), field.name


def test_the_astrometric_answer_is_read_by_drizzlepacs_own_parser(monkeypatch, tmp_path):
    """No recorded answer ships with astroquery or drizzlepac: the fixture must be what
    drizzlepac's `get_catalog` parses (count line, CSV with CRLF) into the columns its
    `convert_astrometric_table` knows for GAIAeDR3."""
    from skyqa.sandbox import console_to

    with console_to(tmp_path / "import.log"):
        from drizzlepac.haputils import astrometric_utils

    answer = (FIXTURES / "gaia" / "astrometric_catalog_horsehead.csv").read_bytes()
    assert answer.splitlines()[0].strip().isdigit()
    assert b"\r\n" in answer

    class _Response:
        content = answer

    monkeypatch.setattr(astrometric_utils.requests, "get", lambda url, **kw: _Response())
    table = astrometric_utils.get_catalog(85.25, -2.45, sr=0.1, catalog="GAIAeDR3")
    assert len(table) == int(answer.splitlines()[0])
    astrometric_utils.convert_astrometric_table(table, "GAIAeDR3")
    assert {"RA", "DEC", "mag", "objID"} <= set(table.colnames)
