"""skyqa fits the alignment once (``updatehdr=True``); the tutorial first fits with
``updatehdr=False`` to look at the fit, then fits again to write it. This holds the two
to the same shift and match files, so that skyqa's checks look at what the tutorial's
user looks at. The tox matrix runs this module in every drizzlepac environment before
its QA checks (it needs only pytest and skyqa, not the test extras)."""

import shutil
from pathlib import Path

import pytest

from skyqa import align
from skyqa.detectors import WFC3_IR
from skyqa.sandbox import console_to, working_directory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def aligned_mini(shared_cache_dir):
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    pipeline = Pipeline(resolve_field("mini-sim"), shared_cache_dir, progress=lambda _: None)
    return pipeline.exposures(), pipeline.alignment(), pipeline.field.tweakreg


def test_one_update_pass_writes_what_the_inspection_pass_writes(aligned_mini, tmp_path):
    exposures, aligned, tweakreg_spec = aligned_mini
    for path in exposures.visit_drz_paths:
        shutil.copyfile(path, tmp_path / path.name)
    shutil.copyfile(aligned.directory / align.CATALOG_FILE, tmp_path / align.CATALOG_FILE)
    names = sorted(path.name for path in aligned.visit_drz_paths)
    parameters = align._tweakreg_parameters(tweakreg_spec, WFC3_IR)
    with working_directory(tmp_path), console_to(tmp_path / "inspection.log"):
        from drizzlepac import tweakreg  # its import warnings go to the log, as skyqa's do

        tweakreg.TweakReg(names, updatehdr=False, runfile="inspection.log", **parameters)
    assert (tmp_path / align.SHIFT_FILE).read_text() == aligned.shift_file.read_text()
    for name in names:
        match = f"{Path(name).stem}_catalog_fit.match"
        assert (tmp_path / match).read_text() == (aligned.directory / match).read_text(), match
