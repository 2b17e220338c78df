import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.cache import Cache
from skyqa.checks.inputs import check_inputs_untouched
from skyqa.checks.mosaics import check_mosaic_exists
from skyqa.drizzle import Mosaic
from skyqa.verdict import failures


def _mosaic(tmp_path, weight):
    fits.writeto(tmp_path / "f160w_drz_sci.fits", np.ones((4, 4), dtype=np.float32))
    fits.writeto(tmp_path / "f160w_drz_wht.fits", np.full((4, 4), weight, dtype=np.float32))
    return Mosaic(
        "match",
        tmp_path,
        tmp_path / "f160w_drz_sci.fits",
        tmp_path / "f160w_drz_wht.fits",
        tmp_path / "f160w_astrodrizzle.log",
        pd.DataFrame(columns=["rootname", "mdrizsky_e_s"]),
    )


def test_mosaic_with_data_passes(tmp_path):
    assert failures(check_mosaic_exists(_mosaic(tmp_path, 1.0))) == []


def test_missing_or_empty_mosaic_fails(tmp_path):
    mosaic = _mosaic(tmp_path, 0.0)
    (empty,) = failures(check_mosaic_exists(mosaic))
    assert "0.0% of 16 pixels with positive weight" in empty.message()
    mosaic.sci_path.unlink()
    missing = failures(check_mosaic_exists(mosaic))[0]
    assert missing.message().startswith(
        "Mosaic image exists FAILED for the match mosaic's science image f160w_drz_sci.fits"
    )
    assert "f160w_astrodrizzle.log" in missing.message()


def test_input_modified_after_acquisition_fails(tmp_path):
    def acquire(directory):
        fits.writeto(directory / "x_flt.fits", np.zeros((4, 4), dtype=np.float32))
        return {}

    entry = Cache(tmp_path).get_or_build("f", "exposures", {"k": 1}, acquire)
    assert failures(check_inputs_untouched(entry.directory, entry.manifest)) == []
    with fits.open(entry.directory / "x_flt.fits", mode="update") as hdul:
        hdul[0].header["MDRIZSKY"] = 0.5  # what AstroDrizzle does to an input it owns
    (failed,) = failures(check_inputs_untouched(entry.directory, entry.manifest))
    assert failed.check == "Input file is byte-identical to what was acquired"
    assert "x_flt.fits" in failed.subject
    assert "must work on copies" in failed.message()


def test_mosaic_whose_science_image_is_all_nan_fails(tmp_path):
    mosaic = _mosaic(tmp_path, 1.0)
    fits.writeto(mosaic.sci_path, np.full((4, 4), np.nan, dtype=np.float32), overwrite=True)
    (failed,) = failures(check_mosaic_exists(mosaic))
    assert failed.subject == "the match mosaic's science image f160w_drz_sci.fits"
    assert failed.measured == "0.0% of 16 pixels finite"
    assert failed.threshold == "> 0%"


def test_mosaic_whose_recorded_coverage_is_nan_or_absent_fails(tmp_path):
    import dataclasses

    mosaic = _mosaic(tmp_path, 1.0)
    nan = {"science": {"pixels": 16, "fraction": np.nan}, "weight": {"pixels": 16, "fraction": 1.0}}
    (failed,) = failures(check_mosaic_exists(dataclasses.replace(mosaic, recorded_coverage=nan)))
    assert failed.check == "Mosaic image holds data"
    partial = {"science": {"pixels": 16, "fraction": 1.0}}
    (absent,) = failures(
        check_mosaic_exists(dataclasses.replace(mosaic, recorded_coverage=partial))
    )
    assert (absent.check, absent.measured) == ("Mosaic image exists", "file missing")


def test_input_without_a_recorded_digest_or_file_fails(tmp_path):
    (tmp_path / "x_flt.fits").write_bytes(b"x")
    for recorded in (None, np.nan, ""):
        manifest = {"files": {"x_flt.fits": {"sha256": recorded}}}
        (failed,) = failures(check_inputs_untouched(tmp_path, manifest))
        assert failed.threshold.startswith("SHA-256 none recorded")
    manifest = {"files": {"gone_flt.fits": {"sha256": "ab" * 32}}}
    (failed,) = failures(check_inputs_untouched(tmp_path, manifest))
    assert failed.measured == "SHA-256 file missing"


def test_a_missing_science_image_still_has_its_weight_image_judged(tmp_path):
    mosaic = _mosaic(tmp_path, 0.0)
    mosaic.sci_path.unlink()
    missing, empty = check_mosaic_exists(mosaic)
    assert (missing.check, missing.passed) == ("Mosaic image exists", False)
    assert (empty.check, empty.passed) == ("Mosaic image holds data", False)
