"""Real FLTs name their distortion reference file (IDCTAB = 'iref$...'); skyqa's pipeline
must not need it, nor `iref` to be defined (docs/real-data.md)."""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits

pytestmark = pytest.mark.integration

REAL_REFERENCE_KEYWORDS = {
    # As the archive writes them into a WFC3/IR FLT (w3m18525i: the Horsehead's solution).
    "IDCTAB": "iref$w3m18525i_idc.fits",
    "MDRIZTAB": "iref$3562021pi_mdz.fits",
    "NPOLFILE": "N/A",
    "D2IMFILE": "N/A",
    "DGEOFILE": "N/A",
}


def test_the_pipeline_needs_no_reference_files(mini_pipeline, tmp_path, monkeypatch):
    from skyqa.field import load_field_spec
    from skyqa.pipeline import Pipeline

    source = mini_pipeline.exposures()
    data = tmp_path / "data"
    data.mkdir()
    for path in (*source.flt_paths, *source.visit_drz_paths):
        shutil.copyfile(path, data / path.name)
    for flt in data.glob("*_flt.fits"):
        with fits.open(flt, mode="update") as hdul:
            hdul[0].header.update(REAL_REFERENCE_KEYWORDS)
    shutil.copyfile(source.catalog_path, data / "stars.ecsv")
    spec = tmp_path / "real-like.toml"
    spec.write_text(
        """name = "real-like"
description = "mini-sim's files with the reference-file keywords of real FLTs"
kind = "local"
[target]
name = "HORSEHEAD-COPY"
ra_deg = 85.25445666667
dec_deg = -2.452997222222
[local]
directory = "data"
catalog = "data/stars.ecsv"
[catalog]
source = "file"
min_separation_arcsec = 0.4
"""
    )
    for variable in ("iref", "CRDS_PATH", "CRDS_SERVER_URL"):
        monkeypatch.delenv(variable, raising=False)
    pipeline = Pipeline(load_field_spec(spec), tmp_path / "cache", progress=lambda _: None)
    mosaics = pipeline.mosaics()
    assert set(mosaics) == {"localmin", "match", "globalmin+match", "globalmin"}
    placement = pipeline.placement().tweakback
    assert len(placement) == len(source.flt_paths)
    assert (placement["moved_mas"] > 0).all(), "tweakback moved every FLT"
    assert (placement["disagreement_mas"] < 5).all(), "each FLT moved with its visit DRZ"
