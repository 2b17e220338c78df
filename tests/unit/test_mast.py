"""MAST acquisition against recorded responses (fixtures/mast), with no network."""

import json

import pytest

from skyqa import mast
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import resolve_field

from ..mast_replay import MastReplay

SPEC = resolve_field("horsehead").mast


@pytest.fixture
def replay(monkeypatch):
    monkeypatch.delenv(mast.TOKEN_ENV, raising=False)
    return MastReplay().install(monkeypatch)


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
    MastReplay(empty=True).install(monkeypatch)
    with pytest.raises(AcquisitionError, match=r"MAST has no observation with obs_id ibxl5\*, "):
        mast.query_products(SPEC)


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


def test_throttled_requests_are_retried_with_growing_waits(replay, tmp_path):
    replay.fail_next = [429, 503]
    waits, messages = [], []
    product = mast.query_products(SPEC)[0]
    path = mast.download_product(product, tmp_path, progress=messages.append, sleep=waits.append)
    assert path.is_file()
    assert waits == [2.0, 4.0]
    assert "HTTP 429; retrying in 2 s (1/5)" in messages[0]


def test_failed_download_is_reported_after_one_attempt(replay, tmp_path):
    replay.fail_next = [404]
    product = mast.query_products(SPEC)[0]
    with pytest.raises(
        AcquisitionError, match=r"Could not download .* \(HTTP 404\) after 5 attempts"
    ):
        mast.download_product(product, tmp_path, sleep=lambda s: None)
    assert replay.downloads == [replay.downloads[0]]  # a 404 is not retried


def test_truncated_file_is_detected_and_resumed(replay, tmp_path):
    replay.fail_next = ["truncate"]
    messages = []
    product = mast.query_products(SPEC)[0]
    path = mast.download_product(product, tmp_path, progress=messages.append, sleep=lambda s: None)
    assert mast.fits_problem(path, int(product["size"])) is None
    assert "bytes instead of 8640" in messages[0]
    assert len(replay.downloads) == 2


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
