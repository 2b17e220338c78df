"""MAST acquisition against recorded responses (fixtures/mast), with no network."""

import dataclasses
import json

import pytest

from skyqa import download as downloads
from skyqa import mast
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import resolve_field

from ..mast_replay import MastReplay, standin_file

SPEC = resolve_field("horsehead").mast


@pytest.fixture
def replay(monkeypatch):
    monkeypatch.delenv(mast.TOKEN_ENV, raising=False)
    replay = MastReplay().install(monkeypatch)
    yield replay
    replay.server.close()


def _product(replay, index=0):
    return mast.query_products(SPEC)[index]


def _no_wait(seconds):
    pass


def test_query_keeps_the_calwf3_flts_and_drzs(replay):
    products = mast.query_products(SPEC)
    names = sorted(products["productFilename"])
    assert len(names) == 27
    assert sum(name.endswith("_flt.fits") for name in names) == 18
    assert "ibxl50030_drz.fits" in names
    assert not any(name.startswith("hst_") for name in names)  # HAP products left out
    assert set(products["project"]) == {"CALWF3"}
    services = [name for name in replay.requests if name != "columnsconfig"]
    assert services == ["Mast.Caom.Filtered", "Mast.Caom.Products"]


def test_empty_query_is_an_error_naming_the_query(monkeypatch):
    replay = MastReplay(empty=True).install(monkeypatch)
    with pytest.raises(AcquisitionError, match=r"MAST has no observation with obs_id ibxl5\*, "):
        mast.query_products(SPEC)
    replay.server.close()


def test_fetch_downloads_verifies_and_records_a_manifest(replay, tmp_path):
    messages = []
    paths = mast.fetch(SPEC, tmp_path, messages.append)
    assert len(paths) == 27
    assert messages[0] == "MAST lists 27 products for obs_id ibxl5*"
    assert messages[-1].startswith("downloaded ")
    assert messages[-1].endswith("(27/27)")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["query"]["obs_id"] == "ibxl5*"
    assert {entry["product"] for entry in manifest["files"]} == {"FLT", "DRZ"}
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"])
    assert not list(tmp_path.glob("*.part"))


def test_a_verified_folder_needs_no_network(replay, tmp_path):
    mast.fetch(SPEC, tmp_path)
    requests, downloads = len(replay.requests), len(replay.downloads)
    again = mast.fetch(SPEC, tmp_path)
    assert len(again) == 27
    assert (len(replay.requests), len(replay.downloads)) == (requests, downloads)


def test_a_changed_file_is_downloaded_again(replay, tmp_path):
    paths = mast.fetch(SPEC, tmp_path)
    paths[0].write_bytes(b"garbage")
    downloads = len(replay.downloads)
    mast.fetch(SPEC, tmp_path)
    assert len(replay.downloads) == downloads + 1


def test_throttled_requests_are_retried_after_retry_after_or_growing_waits(replay, tmp_path):
    replay.server.script = [("status", 429, 7), ("status", 503, None), ("status", 502, None)]
    waits, messages = [], []
    path = downloads.download_product(
        _product(replay), tmp_path, progress=messages.append, sleep=waits.append
    ).path
    assert path.is_file()
    assert waits == [7.0, 4.0, 8.0]  # the server's Retry-After first, then the back-off
    assert "HTTP 429; retrying in 7 s (1/5)" in messages[0]


def test_a_refused_file_is_not_retried(replay, tmp_path):
    product = _product(replay)
    del replay.server.files[str(product["productFilename"])]  # the service answers 404
    with pytest.raises(AcquisitionError, match=r"Could not download .*: HTTP 404, after 1 "):
        downloads.download_product(product, tmp_path, sleep=_no_wait)
    assert len(replay.downloads) == 1


def test_a_mid_body_disconnect_on_the_first_file_is_resumed_and_completes(
    replay, tmp_path, monkeypatch
):
    monkeypatch.setattr(downloads, "CHUNK_BYTES", 1024)  # stand-ins are small: keep what arrived
    replay.server.script = [("cut", 0.4)]
    messages = []
    products = mast.query_products(SPEC)
    paths = mast.fetch(SPEC, tmp_path, messages.append, sleep=_no_wait)
    first = str(products["productFilename"][0])
    assert "ChunkedEncodingError" in messages[1]
    assert messages[1].startswith(first)
    gets = [headers for verb, name, headers in replay.server.requests if name == first]
    assert gets[0].get("Range") is None
    assert gets[1]["Range"].startswith("bytes=")
    assert gets[1]["If-Range"] == replay.server.etags[first]
    assert (tmp_path / first).read_bytes() == replay.server.files[first]
    assert len(paths) == 27


def test_after_a_ranged_retry_no_range_header_reaches_the_next_request(
    replay, tmp_path, monkeypatch
):
    from astroquery.mast import Observations

    monkeypatch.setattr(downloads, "CHUNK_BYTES", 1024)
    replay.server.script = [("cut", 0.5)]
    mast.fetch(SPEC, tmp_path, sleep=_no_wait)
    ranged = [i for i, (_, _, headers) in enumerate(replay.server.requests) if "Range" in headers]
    assert ranged == [1]  # the retry only
    assert "Range" not in replay.server.requests[2][2]
    assert "Range" not in Observations._session.headers  # nothing left on the shared session


def test_a_stalled_response_times_out_and_is_retried(replay, tmp_path):
    replay.server.script = [("stall", 1.5)]
    messages = []
    download = downloads.download_product(
        _product(replay), tmp_path, progress=messages.append, sleep=_no_wait, timeout=(2, 0.3)
    )
    assert download.path.is_file()
    assert "ReadTimeout" in messages[0]
    assert len(replay.downloads) == 2


def test_a_connection_closed_before_any_answer_is_retried(replay, tmp_path):
    replay.server.script = [("close",), ("close",)]
    messages = []
    download = downloads.download_product(
        _product(replay), tmp_path, progress=messages.append, sleep=_no_wait
    )
    assert download.path.is_file()
    assert "ConnectionError" in messages[0]


def test_no_server_at_all_is_network_unavailable(replay, tmp_path):
    replay.server.close()  # the port now refuses connections
    with pytest.raises(NetworkUnavailableError, match=r"MAST did not answer any of 5 requests"):
        downloads.download_product(_product(replay), tmp_path, sleep=_no_wait, timeout=(1, 1))


def test_a_size_unlike_the_product_list_is_accepted_when_the_fits_verifies(replay, tmp_path):
    replay.listed_sizes = {"ibxl50clq_flt.fits": 8_640_000}
    mast.fetch(SPEC, tmp_path, sleep=_no_wait)
    entry = next(
        e
        for e in json.loads((tmp_path / "manifest.json").read_text())["files"]
        if e["filename"] == "ibxl50clq_flt.fits"
    )
    assert entry["size"] == len(replay.server.files["ibxl50clq_flt.fits"])
    assert entry["note"].startswith("the product list gives 8640000 bytes; the server served")
    notes = [
        e for e in json.loads((tmp_path / "manifest.json").read_text())["files"] if "note" in e
    ]
    assert len(notes) == 1


def test_a_stale_part_with_another_validator_restarts(replay, tmp_path):
    product = _product(replay)
    name = str(product["productFilename"])
    old = replay.server.files[name]
    (tmp_path / f"{name}.part").write_bytes(old[: len(old) // 2][::-1])  # other bytes
    (tmp_path / f"{name}.part.json").write_text(json.dumps({"validator": '"before-reprocessing"'}))
    download = downloads.download_product(product, tmp_path, sleep=_no_wait)
    assert download.path.read_bytes() == replay.server.files[name]
    ask = replay.server.requests[-1][2]
    assert ask["If-Range"] == '"before-reprocessing"'  # asked to resume, got the whole file


def test_a_part_without_a_validator_is_not_resumed(replay, tmp_path):
    product = _product(replay)
    name = str(product["productFilename"])
    (tmp_path / f"{name}.part").write_bytes(b"x" * 100)
    downloads.download_product(product, tmp_path, sleep=_no_wait)
    assert "Range" not in replay.server.requests[-1][2]


def test_a_file_that_is_not_the_product_is_refused(replay, tmp_path):
    product = _product(replay)
    name = str(product["productFilename"])
    replay.server.publish(name, replay.server.files["ibxl58svq_flt.fits"])
    with pytest.raises(AcquisitionError, match=r"FILENAME = 'ibxl58svq_flt.fits', not "):
        downloads.download_product(product, tmp_path, sleep=_no_wait, attempts=2)
    assert not (tmp_path / name).exists()


def test_products_are_fetched_in_name_order(replay, tmp_path):
    paths = mast.fetch(SPEC, tmp_path, sleep=_no_wait)
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    assert replay.downloads == sorted(replay.downloads)


def test_undeclared_or_missing_products_stop_the_fetch(replay, tmp_path):
    import dataclasses

    spec = dataclasses.replace(SPEC, expected_rootnames=(*SPEC.expected_rootnames[1:], "ibxl59aaq"))
    with pytest.raises(AcquisitionError, match=r"1 declared FLT\(s\) missing: ibxl59aaq; 1 FLT"):
        mast.fetch(spec, tmp_path)
    assert replay.downloads == []


def test_an_exposure_in_two_flts_is_refused(tmp_path):
    from skyqa.headers import duplicate_rootnames

    for name in ("ibxl50clq_flt.fits", "hst_12812_50_wfc3_ir_f160w_ibxl50cl_flt.fits"):
        content = standin_file("ibxl50clq_flt.fits")
        (tmp_path / name).write_bytes(content)
    sentence = duplicate_rootnames(sorted(tmp_path.iterdir()))
    assert sentence.startswith("1 exposure(s) appear in more than one FLT (ibxl50clq: ")


def test_token_is_used_and_never_written(replay, tmp_path, monkeypatch):
    from astroquery.mast import Observations

    secret = "s3cr3t-token-value"
    logins = []
    monkeypatch.setenv(mast.TOKEN_ENV, secret)
    monkeypatch.setattr(Observations, "login", lambda token=None, **kw: logins.append(token))
    messages = []
    mast.fetch(SPEC, tmp_path, messages.append)
    assert logins == [secret]
    assert secret not in (tmp_path / "manifest.json").read_text()
    assert not any(secret in message for message in messages)


def test_unreachable_mast_is_a_network_error():
    # No replay: the test session refuses connections, as a machine with no network does.
    with pytest.raises(NetworkUnavailableError, match=r"MAST could not be reached \(\w+Error\)"):
        mast.query_products(SPEC)


def test_m16_uvis_replay_selects_exactly_the_12_flcs_and_4_visit_drcs(monkeypatch, tmp_path):
    """The WFC3/UVIS query keeps the CALWF3 FLCs and DRCs: not the FLTs and DRZs of the
    same associations, not the HAP products, not the RAW and ASN files."""
    from skyqa.acquire import ExposureSet

    field = resolve_field("m16-uvis")
    monkeypatch.delenv(mast.TOKEN_ENV, raising=False)
    replay = MastReplay(field="m16-uvis").install(monkeypatch)
    try:
        messages = []
        paths = mast.fetch(field.mast, tmp_path, messages.append, kinds=("flc", "drc"))
    finally:
        replay.server.close()
    assert messages[0] == "MAST lists 16 products for obs_id ICK90[5678]*"
    exposures = ExposureSet.of_files(tmp_path, paths, ("flc", "drc"))
    assert [path.name for path in exposures.flt_paths] == [
        f"{rootname}_flc.fits" for rootname in field.mast.expected_rootnames
    ]
    assert [path.name for path in exposures.visit_drz_paths] == [
        f"{visit}_drc.fits" for visit in field.visit_ids()
    ]
    assert sorted(replay.downloads) == sorted(path.name for path in paths)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {entry["product"] for entry in manifest["files"]} == {"FLC", "DRC"}


def test_declared_uvis_exposures_are_checked_by_their_own_suffix():
    spec = resolve_field("m16-uvis").mast
    names = [f"{rootname}_flc.fits" for rootname in spec.expected_rootnames[:-1]]
    names += [f"{visit}_drc.fits" for visit in spec.expected_associations]
    names.append(f"{spec.expected_rootnames[-1]}_flt.fits")  # the uncorrected file instead
    problem = mast.expected_problem(spec, names, ("flc", "drc"))
    assert problem.startswith("1 declared FLC(s) missing: ick908ptq. ")
    assert mast.expected_problem(spec, [*names[:-1], "ick908ptq_flc.fits"], ("flc", "drc")) == ""


HOSTILE_NAMES = [
    "../escaped_flt.fits",
    "{root}/absolute_flt.fits",
    "ibxl50cqq_flt.fits/../../x.fits",
]


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
def test_a_product_name_that_is_not_a_plain_file_name_is_refused_before_anything_is_written(
    replay, tmp_path, hostile
):
    """A MAST answer naming a product ``../x``, an absolute path or nothing: the fetch of
    a field without declared rootnames refuses it with one sentence, and nothing is
    written anywhere, in the field's folder or outside it."""
    hostile = hostile.format(root=tmp_path)
    first = sorted(row["productFilename"] for row in mast.query_products(SPEC))[0]
    replay.renamed = {first: hostile}
    undeclared = dataclasses.replace(SPEC, expected_rootnames=(), expected_associations=())
    field = tmp_path / "cache" / "field"
    with pytest.raises(AcquisitionError, match=r"which is not an HST product file name"):
        mast.fetch(undeclared, field, sleep=_no_wait)
    assert list(tmp_path.rglob("*")) == []
    assert replay.downloads == []


def test_a_product_with_no_name_is_left_out_by_the_query_and_nothing_lands_outside(
    replay, tmp_path
):
    """An empty name has no ``.fits`` extension: the query's filter drops the product, the
    others are fetched into the field's folder, and nothing is written outside it."""
    first = sorted(row["productFilename"] for row in mast.query_products(SPEC))[0]
    replay.renamed = {first: ""}
    undeclared = dataclasses.replace(SPEC, expected_rootnames=(), expected_associations=())
    field = tmp_path / "cache" / "field"
    paths = mast.fetch(undeclared, field, sleep=_no_wait)
    assert len(paths) == 26
    assert first not in {path.name for path in paths}
    assert {path.parent for path in tmp_path.rglob("*") if path.is_file()} == {field}


@pytest.mark.parametrize("hostile", [*HOSTILE_NAMES, "", "ibxl50cqq_flt.fits/x"])
def test_download_product_refuses_a_name_that_is_not_a_plain_file_name(replay, tmp_path, hostile):
    product = dict(zip(_product(replay).colnames, _product(replay), strict=True))
    product["productFilename"] = hostile.format(root=tmp_path)
    field = tmp_path / "field"
    field.mkdir()
    with pytest.raises(AcquisitionError, match=r"names a file .*: nothing was written for it"):
        downloads.download_product(product, field, sleep=_no_wait)
    assert list(tmp_path.rglob("*")) == [field]


def test_every_bundled_fields_products_have_a_name_the_guard_accepts():
    """The suffixes the guard knows cover every product a bundled field asks MAST for."""
    from skyqa.field import registered_fields

    asked = {product for name in registered_fields() for product in _products_of(name)}
    assert {"FLT", "DRZ", "FLC", "DRC"} <= asked
    for product in asked:
        name = f"ibxl50cqq_{product.lower()}.fits"
        assert downloads.product_file_name({"productFilename": name}) == name


def _products_of(field_name):
    mast_spec = resolve_field(field_name).mast
    return mast_spec.products if mast_spec is not None else ()
