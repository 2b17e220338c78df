"""Shared test fixtures. Every test runs with outbound network connections refused."""

from __future__ import annotations

import astroquery.mast  # noqa: F401
import pytest

from skyqa.offline import block_network

# Imported here, once: pytester's in-process runs restore sys.modules afterwards, which
# would drop an astroquery (and astroquery.mast) first imported inside one while its logger
# (process-wide) stays set up, and the package keeps pointing at the dropped module.

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Any test that opens a network connection (other than loopback) fails."""
    with block_network():
        yield


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory):
    """One skyqa cache for the whole test session: mini-sim is built once and reused."""
    return tmp_path_factory.mktemp("skyqa-cache")


@pytest.fixture(scope="session")
def mini_pipeline(shared_cache_dir):
    """The mini-sim pipeline, all stages run, with its cache in ``shared_cache_dir``."""
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    pipeline = Pipeline(resolve_field("mini-sim"), shared_cache_dir, progress=lambda _: None)
    pipeline.mosaics()
    return pipeline
