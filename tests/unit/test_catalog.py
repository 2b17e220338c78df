"""Reference catalogs (Gaia cone search, drizzlepac's astrometric catalog) from fixtures."""

import re
from pathlib import Path

import pytest
from astropy.table import Table

from skyqa.acquire import ExposureSet
from skyqa.catalog import build_reference_catalog, fetched_catalog_path, gaia_cone_search
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import resolve_field

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gaia"


class _Job:
    def get_results(self):
        return Table.read(FIXTURES / "cone_search_horsehead_dr3.vot", format="votable")


@pytest.fixture
def gaia_replay(monkeypatch):
    from astroquery.gaia import Gaia

    calls = []

    def cone_search_async(coordinate, radius, **kwargs):
        calls.append((coordinate.ra.deg, coordinate.dec.deg, radius.to("arcmin").value))
        return _Job()

    monkeypatch.setattr(Gaia, "cone_search_async", cone_search_async)
    return calls


def _gaia_field():
    import dataclasses

    field = resolve_field("horsehead")
    return dataclasses.replace(field, catalog=dataclasses.replace(field.catalog, source="gaia"))


def test_gaia_cone_search_gives_ra_dec_mag(gaia_replay):
    table = gaia_cone_search(85.25445666667, -2.452997222222, 5.0)
    assert table.colnames == ["ra", "dec", "mag"]
    assert len(table) == 183
    assert gaia_replay == [(pytest.approx(85.25445666667), pytest.approx(-2.452997222222), 5.0)]


def test_real_catalog_is_kept_and_reused_offline(gaia_replay, tmp_path, monkeypatch):
    field = _gaia_field()
    exposures = ExposureSet(tmp_path / "exposures", (), ())
    (tmp_path / "a").mkdir()
    first = build_reference_catalog(field, exposures, tmp_path / "a", tmp_path / "mast")
    assert fetched_catalog_path(field, tmp_path / "mast").is_file()
    monkeypatch.undo()  # no replay any more: a query would now hit the blocked network
    (tmp_path / "b").mkdir()
    again = build_reference_catalog(field, exposures, tmp_path / "b", tmp_path / "mast")
    assert len(again.table) == len(first.table) == 183


def test_unreachable_gaia_names_what_is_missing_and_how_to_fetch(tmp_path):
    field = _gaia_field()
    exposures = ExposureSet(tmp_path, (), ())
    with pytest.raises(NetworkUnavailableError) as raised:
        build_reference_catalog(field, exposures, tmp_path, tmp_path / "mast")
    message = str(raised.value)
    assert "the gaia reference catalog is not in" in message
    assert "The Gaia archive could not be reached" in message
    assert "`skyqa fetch horsehead`" in message


@pytest.mark.integration
def test_astrometric_catalog_from_the_service_answer(mini_pipeline, tmp_path, monkeypatch):
    """drizzlepac's create_astrometric_catalog, fed the recorded service answer."""
    from skyqa.sandbox import console_to

    with console_to(tmp_path / "import.log"):  # its import warnings go to a log, as skyqa's do
        from drizzlepac.haputils import astrometric_utils

    answer = (FIXTURES / "astrometric_catalog_horsehead.csv").read_bytes()
    urls = []

    class _Response:
        content = answer

    def get(url, headers=None, **kwargs):
        urls.append(url)
        return _Response()

    monkeypatch.setattr(astrometric_utils.requests, "get", get)
    field = resolve_field("horsehead")
    exposures = mini_pipeline.exposures()
    (tmp_path / "work").mkdir()
    built = build_reference_catalog(field, exposures, tmp_path / "work", tmp_path / "mast")
    assert built.table.colnames == ["ra", "dec", "mag"]
    assert len(built.table) == 161
    assert "CAT=GAIAeDR3" in urls[0]
    assert "EPOCH=2012." in urls[0]


def test_close_pairs_are_dropped_both_stars():
    from astropy.table import Table

    from skyqa.catalog import drop_close_pairs

    arcsec = 1 / 3600
    table = Table(
        {
            "ra": [85.25, 85.25 + 0.13 * arcsec, 85.26, 85.27],
            "dec": [-2.45, -2.45, -2.45, -2.45 + 0.5 * arcsec],
        }
    )
    kept = drop_close_pairs(table, 0.4)
    assert list(kept["ra"]) == [85.26, 85.27]
    assert kept.meta["dropped_close_pairs"] == '2 stars within 0.4"'
    assert len(drop_close_pairs(table, 0.0)) == 4


SERVICE_FAILURES = {
    "zero rows": (
        b"0\r\nobjID,ra,ra_error,dec,dec_error,pmra,pmra_error,pmdec,pmdec_error,mag,epoch\r\n",
        r"The astrometric catalog service found no sources for the footprints of 8 exposures "
        r"\(GAIAeDR3\): TweakReg would have nothing to align to\.",
    ),
    "error line": (
        b"Error: Cannot find table 0\r\n",
        r"The astrometric catalog service answered the query for the footprints of 8 "
        r"exposures \(GAIAeDR3\) with an error line, no columns, not a catalog with RA and DEC",
    ),
    "HTML page": (
        b"<!DOCTYPE html>\r\n<html><head><title>503 Service Unavailable</title></head></html>\r\n",
        r"answered the query for the footprints of 8 exposures \(GAIAeDR3\) with a web page "
        r"\(HTML\), not a catalog: the service is down",
    ),
}


def _local_astrometric_spec(tmp_path, exposures_dir):
    spec = tmp_path / "mine.toml"
    spec.write_text(
        f"""name = "mine"
description = "mini-sim's files as a user's own, aligned to the astrometric catalog"
kind = "local"
[target]
name = "HORSEHEAD-COPY"
ra_deg = 85.25445666667
dec_deg = -2.452997222222
[local]
directory = "{exposures_dir}"
[catalog]
source = "astrometric"
"""
    )
    return spec


@pytest.mark.integration
@pytest.mark.parametrize("failure", list(SERVICE_FAILURES))
def test_catalog_service_failures_are_one_sentence_from_skyqa_fetch(
    failure, mini_pipeline, tmp_path, monkeypatch, capsys
):
    """`skyqa fetch` of a field whose catalog service answers badly: exit 1, one sentence
    naming what came back, no traceback, and no catalog kept for later runs."""
    from skyqa.cli import main
    from skyqa.sandbox import console_to

    with console_to(tmp_path / "import.log"):
        from drizzlepac.haputils import astrometric_utils

    answer, sentence = SERVICE_FAILURES[failure]

    class _Response:
        content = answer

    monkeypatch.setattr(astrometric_utils.requests, "get", lambda url, **kw: _Response())
    spec = _local_astrometric_spec(tmp_path, mini_pipeline.exposures().directory)
    code = main(["fetch", str(spec), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("skyqa: mine: ")]
    assert len(lines) == 1, err
    assert re.search(sentence, lines[0]), lines[0]
    assert not list((tmp_path / "cache").rglob("catalog_*.ecsv"))


def test_gaia_with_no_sources_is_one_sentence(monkeypatch, tmp_path):
    from astroquery.gaia import Gaia

    class _Empty:
        def get_results(self):
            return Table.read(FIXTURES / "cone_search_horsehead_dr3.vot", format="votable")[:0]

    monkeypatch.setattr(Gaia, "cone_search_async", lambda *a, **k: _Empty())
    with pytest.raises(AcquisitionError, match=r"The Gaia archive found no sources within 5' "):
        gaia_cone_search(85.25, -2.45, 5.0)


def test_gaia_answering_with_an_error_is_one_sentence(monkeypatch):
    from astroquery.gaia import Gaia
    from requests import HTTPError, Response

    def fail(*args, **kwargs):
        response = Response()
        response.status_code = 500
        raise HTTPError("500 Server Error: Internal Server Error", response=response)

    monkeypatch.setattr(Gaia, "cone_search_async", fail)
    with pytest.raises(AcquisitionError, match=r"answered the cone search .* with an error, not"):
        gaia_cone_search(85.25, -2.45, 5.0)
