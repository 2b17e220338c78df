"""Bad input gets a clear error, and the user's files are left as they were."""

import dataclasses
import errno
import hashlib

import numpy as np
import pytest
from astropy.io import fits

from skyqa import simulate
from skyqa.acquire import acquire_exposures
from skyqa.cache import Cache
from skyqa.catalog import build_reference_catalog
from skyqa.errors import AcquisitionError, CacheError, FieldSpecError
from skyqa.field import parse_field_spec, resolve_field


@pytest.fixture(scope="module")
def flt_hdul():
    field = resolve_field("mini-sim")
    rng = np.random.default_rng(1)
    target = field.target
    geometries, _ = simulate.plan_geometry(field.synthetic, target.ra_deg, target.dec_deg, rng)
    scene = simulate.make_scene(field.synthetic, geometries, target.ra_deg, target.dec_deg, rng)
    arrays = simulate.render_exposure(geometries[0], scene, field.synthetic, rng)
    return simulate.build_flt(geometries[0], arrays, field.synthetic, field)


@pytest.fixture
def local_field(tmp_path, flt_hdul):
    """A local field over a folder with one good FLT, one DRZ and a catalog."""
    folder = tmp_path / "data"
    folder.mkdir()
    flt_hdul.writeto(folder / "isqa01a1q_flt.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)), name="SCI")]).writeto(
        folder / "isqa01030_drz.fits"
    )
    (folder / "stars.csv").write_text("ra,dec,mag\n85.25,-2.45,18.0\n")
    field = resolve_field("mini-sim")
    local = {"directory": str(folder), "catalog": str(folder / "stars.csv")}
    raw = {key: value for key, value in field.raw.items() if key != "synthetic"}
    raw.update(kind="local", local=local, catalog={"source": "file"})
    return parse_field_spec(raw), folder


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_truncated_fits_is_named_and_nothing_is_copied(local_field, tmp_path):
    field, folder = local_field
    path = folder / "isqa01a1q_flt.fits"
    path.write_bytes(path.read_bytes()[:20000])
    before = _digests(folder)
    with pytest.raises(AcquisitionError) as raised:
        acquire_exposures(field, tmp_path / "work", lambda message: None)
    message = str(raised.value)
    assert (
        "1 input file(s) cannot be used: isqa01a1q_flt.fits is not a readable FITS file" in message
    )
    assert _digests(folder) == before
    assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir())


def test_missing_keyword_is_named(local_field, tmp_path):
    field, folder = local_field
    with fits.open(folder / "isqa01a1q_flt.fits", mode="update") as hdul:
        del hdul[0].header["EXPEND"]
        del hdul["SCI", 1].header["MEANDARK"]
    before = _digests(folder)
    with pytest.raises(
        AcquisitionError,
        match=r"isqa01a1q_flt.fits lacks EXPEND \(primary "
        r"header\), MEANDARK \(SCI,1 header\), which AstroDrizzle needs",
    ):
        acquire_exposures(field, tmp_path / "work", lambda message: None)
    assert _digests(folder) == before


def test_empty_catalog_is_an_error(local_field, tmp_path):
    field, folder = local_field
    (folder / "stars.csv").write_text("ra,dec,mag\n")
    before = _digests(folder)
    exposures = acquire_exposures(field, tmp_path / "work", lambda message: None)
    (tmp_path / "cat").mkdir()
    with pytest.raises(AcquisitionError, match="reference catalog has no sources"):
        build_reference_catalog(field, exposures, tmp_path / "cat")
    assert _digests(folder) == before


def test_full_cache_disk_is_reported(tmp_path):
    def build(directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CacheError, match=r"is full while building exposures for f; free space"):
        Cache(tmp_path).get_or_build("f", "exposures", {"k": 1}, build)
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("prefix", ["../../outside", "/tmp/outside", "sub/dir", ".."])
def test_spec_that_would_write_outside_its_working_directory_is_refused(prefix):
    field = resolve_field("mini-sim")
    raw = dict(field.raw, astrodrizzle=dict(field.raw["astrodrizzle"], output_prefix=prefix))
    with pytest.raises(FieldSpecError, match=r"output_prefix .* must be a plain file name"):
        parse_field_spec(raw)


def test_local_folder_without_drz_is_named(local_field, tmp_path):
    field, folder = local_field
    (folder / "isqa01030_drz.fits").unlink()
    with pytest.raises(AcquisitionError, match=r"holds 1 \*_flt.fits and 0 \*_drz.fits"):
        acquire_exposures(field, tmp_path / "work", lambda message: None)


def test_synthetic_field_fits_pass_the_input_check(flt_hdul, tmp_path):
    from skyqa.headers import input_problem

    flt_hdul.writeto(tmp_path / "isqa01a1q_flt.fits")
    assert input_problem(tmp_path / "isqa01a1q_flt.fits") is None
    spec = dataclasses.replace(resolve_field("mini-sim"))
    assert spec.astrodrizzle.output_prefix == "f160w"


def _two_chip(flt_hdul, detector="UVIS"):
    """An FLC-like file made from a one-chip FLT: two SCI extensions, UVIS keywords."""
    hdul = fits.HDUList([hdu.copy() for hdu in flt_hdul if hdu.name in ("PRIMARY", "SCI")])
    hdul[0].header["DETECTOR"] = detector
    second = hdul["SCI", 1].copy()
    second.header["EXTVER"] = 2
    hdul.append(second)
    for number in (1, 2):
        hdul["SCI", number].header["IDCSCALE"] = 0.04
    return hdul


def test_a_two_chip_exposure_is_checked_on_both_chips(flt_hdul, tmp_path):
    from skyqa.detectors import WFC3_UVIS
    from skyqa.headers import input_problem

    path = tmp_path / "ick905k5q_flc.fits"
    hdul = _two_chip(flt_hdul)
    hdul.writeto(path)
    assert input_problem(path, WFC3_UVIS) is None
    del hdul["SCI", 2].header["IDCSCALE"]
    hdul.writeto(path, overwrite=True)
    assert input_problem(path, WFC3_UVIS) == (
        "ick905k5q_flc.fits lacks IDCSCALE (SCI,2 header), which AstroDrizzle needs"
    )
    del hdul[-1]
    hdul.writeto(path, overwrite=True)
    assert input_problem(path, WFC3_UVIS) == "ick905k5q_flc.fits has no SCI,2 extension"


def test_an_exposure_of_another_detector_is_refused(flt_hdul, tmp_path):
    from skyqa.detectors import ACS_WFC, WFC3_UVIS
    from skyqa.headers import input_problem

    path = tmp_path / "ick905k5q_flc.fits"
    _two_chip(flt_hdul).writeto(path)
    assert input_problem(path, ACS_WFC) == (
        "ick905k5q_flc.fits is a WFC3/UVIS exposure, not ACS/WFC as the field says"
    )
    _two_chip(flt_hdul, detector="IR").writeto(path, overwrite=True)
    assert input_problem(path, WFC3_UVIS) == (
        "ick905k5q_flc.fits is a WFC3/IR exposure, not WFC3/UVIS as the field says"
    )
