import json
import os

import pytest

from skyqa.cache import MANIFEST, Cache, package_versions
from skyqa.errors import CacheError


def _builder(calls, content="data"):
    def build(directory):
        calls.append(directory)
        (directory / "result.txt").write_text(content)
        return {"path": "result.txt"}

    return build


def test_second_request_reuses_the_entry(tmp_path):
    cache, calls = Cache(tmp_path), []
    first = cache.get_or_build("f", "stage", {"a": 1}, _builder(calls))
    second = cache.get_or_build("f", "stage", {"a": 1}, _builder(calls))
    assert len(calls) == 1
    assert (first.reused, second.reused) == (False, True)
    assert second.directory == first.directory
    assert (second.directory / second.record["path"]).read_text() == "data"


def test_changed_key_rebuilds(tmp_path):
    cache, calls = Cache(tmp_path), []
    cache.get_or_build("f", "stage", {"a": 1}, _builder(calls))
    cache.get_or_build("f", "stage", {"a": 2}, _builder(calls))
    assert len(calls) == 2


def test_modified_file_invalidates_the_entry(tmp_path):
    cache, calls = Cache(tmp_path), []
    entry = cache.get_or_build("f", "stage", {"a": 1}, _builder(calls))
    (entry.directory / "result.txt").write_text("tampered, longer")
    again = cache.get_or_build("f", "stage", {"a": 1}, _builder(calls))
    assert len(calls) == 2
    assert (again.directory / "result.txt").read_text() == "data"


def test_failed_build_leaves_no_entry(tmp_path):
    cache = Cache(tmp_path)

    def broken(directory):
        (directory / "half.fits").write_text("partial")
        raise RuntimeError("killed mid-step")

    with pytest.raises(RuntimeError):
        cache.get_or_build("f", "stage", {"a": 1}, broken)
    assert not (tmp_path / "f").exists()  # no scratch, no lock file, no empty field folder


def test_failed_build_keeps_the_other_entries_of_the_field(tmp_path):
    cache = Cache(tmp_path)
    kept = cache.get_or_build("f", "stage", {"a": 0}, _builder([]))

    def broken(directory):
        raise RuntimeError("killed mid-step")

    with pytest.raises(RuntimeError):
        cache.get_or_build("f", "stage", {"a": 1}, broken)
    assert kept.directory.is_dir()
    assert cache.find("f", "stage", {"a": 0}) is not None


def test_manifest_records_key_and_digests(tmp_path):
    entry = Cache(tmp_path).get_or_build("f", "stage", {"a": 1}, _builder([]))
    manifest = json.loads((entry.directory / MANIFEST).read_text())
    assert manifest["key"] == {"a": 1}
    assert set(manifest["files"]) == {"result.txt"}
    assert len(manifest["files"]["result.txt"]["sha256"]) == 64
    assert (
        entry.content_digest
        == Cache(tmp_path).get_or_build("f", "stage", {"a": 1}, _builder([])).content_digest
    )


def test_unwritable_root_is_reported(tmp_path, monkeypatch):
    # Tests run as root here, where permissions do not stop writes; pretend they do.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(
        CacheError, match=r"is not writable\. Choose another with --skyqa-cache-dir"
    ):
        Cache(tmp_path)


def test_root_that_is_a_file_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CacheError, match="Cannot create the skyqa cache directory"):
        Cache(blocker / "cache")


def test_versions_name_every_key_package():
    versions = package_versions()
    assert set(versions) == {
        "drizzlepac", "stwcs", "stsci.skypac", "spherical_geometry", "astropy", "numpy"
    }  # fmt: skip
    assert "not installed" not in versions.values()


def test_a_relative_root_works_for_a_step_that_changes_directory(tmp_path, monkeypatch):
    """``--skyqa-cache-dir cache`` (relative): the pipeline's steps chdir into their
    entry's folder, so every path they are given must still be valid there."""
    from pathlib import Path

    from skyqa.drizzle import working_directory

    monkeypatch.chdir(tmp_path)
    cache = Cache(Path("relative-cache"))

    def build(workdir):
        with working_directory(workdir):
            (workdir / "written-from-inside.txt").write_text("x")
        return {}

    entry = cache.get_or_build("field", "stage", {"k": 1}, build)
    assert cache.root == tmp_path / "relative-cache"
    assert (entry.directory / "written-from-inside.txt").read_text() == "x"
