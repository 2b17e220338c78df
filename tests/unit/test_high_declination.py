"""Every astrometric measure away from the equator (issue 33).

At declination 62 deg an offset east of ``e`` mas is a change of right ascension of
``e / cos(dec)``, about twice ``e``: a measure that forgot the cos(dec) would read twice
the truth in RA and the truth in Dec. The Horsehead sits at -2.45 deg, where the two
hardly differ, so each measure is held here against WCSs moved by known amounts east
and north: the aligned WCS against the true one, tweakback's transfer, an FLT's stars
against the catalog, and the product's stars against the catalog and the fault that
moves it.
"""

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skyqa.astrometry import truth_offset_mas, tweakback_moves
from skyqa.faults import FAULTS
from skyqa.products import product_astrometry
from skyqa.sources import source_offsets

DEC = 62.0
RA = 85.25
SIZE = 200
SCALE_ARCSEC = 0.13
MAS_PER_DEG = 3.6e6


def _header(east_mas: float = 0.0, north_mas: float = 0.0, size: bool = True) -> fits.Header:
    """A TAN header at high declination, its reference point moved by (east, north) mas
    (``size``: with NAXIS1/2, as a header read from a file has them)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = [SIZE / 2, SIZE / 2]
    wcs.wcs.crval = [
        RA + east_mas / MAS_PER_DEG / math.cos(math.radians(DEC)),
        DEC + north_mas / MAS_PER_DEG,
    ]
    turn = math.radians(25.0)
    wcs.wcs.cd = (SCALE_ARCSEC / 3600.0) * np.array(
        [[-math.cos(turn), math.sin(turn)], [math.sin(turn), math.cos(turn)]]
    )
    header = wcs.to_header()
    for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        header.remove(key, ignore_missing=True)
    for (i, j), value in np.ndenumerate(wcs.wcs.cd):
        header[f"CD{i + 1}_{j + 1}"] = value
    if size:
        header["NAXIS1"] = header["NAXIS2"] = SIZE
    return header


def _stars(count: int = 40, seed: int = 62) -> tuple[np.ndarray, np.ndarray]:
    """Catalog stars over the image (deg), through the unmoved WCS."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(20, SIZE - 20, count), rng.uniform(20, SIZE - 20, count)
    return WCS(_header()).all_pix2world(x, y, 0)


def _image(ra, dec, sigma: float = 1.2) -> np.ndarray:
    """The stars drawn where the unmoved WCS puts them (Gaussian, 2000 e-/s each), on
    a sky of 1 e-/s with a little noise."""
    x, y = WCS(_header()).all_world2pix(ra, dec, 0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    image = np.full((SIZE, SIZE), 1.0)
    for xi, yi in zip(x, y, strict=True):
        image += (
            2000
            / (2 * math.pi * sigma**2)
            * np.exp(-((xx - xi) ** 2 + (yy - yi) ** 2) / (2 * sigma**2))
        )
    return image + np.random.default_rng(1).normal(0, 0.02, image.shape)


OFFSETS = [(20.0, 0.0), (0.0, 20.0), (-15.0, 12.0)]


@pytest.mark.parametrize(("east", "north"), OFFSETS)
def test_aligned_wcs_against_the_truth(east, north):
    measured = truth_offset_mas(_header(east, north), _header())
    assert measured == pytest.approx(math.hypot(east, north), rel=1e-3)


@pytest.mark.parametrize(("east", "north"), OFFSETS)
def test_tweakback_transfer(east, north):
    moved = tweakback_moves(
        "v", _header(), _header(east, north), {"f": _header()}, {"f": _header(east, north)}
    )[0]
    assert moved["moved_mas"] == pytest.approx(math.hypot(east, north), rel=1e-3)
    assert moved["disagreement_mas"] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(("east", "north"), OFFSETS)
def test_an_flts_stars_against_the_catalog(tmp_path, east, north):
    ra, dec = _stars()
    image = _image(ra, dec)
    sci = fits.ImageHDU(image.astype(np.float32), _header(east, north, size=False), name="SCI")
    err = fits.ImageHDU(np.full(image.shape, 0.02, np.float32), name="ERR")
    dq = fits.ImageHDU(np.zeros(image.shape, np.int16), name="DQ")
    primary = fits.PrimaryHDU(header=fits.Header({"ROOTNAME": "hidec01q", "ASN_ID": "V1"}))
    path = tmp_path / "hidec01q_flt.fits"
    fits.HDUList([primary, sci, err, dq]).writeto(path)
    row = source_offsets([path], ra, dec, 0).iloc[0]
    assert row["n_matched"] >= 30
    assert row["east_mas"] == pytest.approx(east, abs=1.5)
    assert row["north_mas"] == pytest.approx(north, abs=1.5)


@pytest.mark.parametrize(("east", "north"), OFFSETS)
def test_the_products_stars_against_the_catalog_and_the_truth(east, north):
    ra, dec = _stars()
    image = _image(ra, dec)
    wcs = WCS(_header(east, north))
    row = product_astrometry(
        image, np.zeros(image.shape, bool), wcs, ra, dec, {"ra": ra, "dec": dec}
    )
    assert row["east_mas"] == pytest.approx(east, abs=1.5)
    assert row["north_mas"] == pytest.approx(north, abs=1.5)
    assert row["truth_offset_mas"] == pytest.approx(math.hypot(east, north), abs=1.5)


def test_the_product_shifted_fault_moves_it_east_by_its_size(tmp_path):
    ra, dec = _stars()
    image = _image(ra, dec)
    for name in ("p_drz_sci.fits", "p_drz_wht.fits"):
        fits.PrimaryHDU(image.astype(np.float32), _header(size=False)).writeto(tmp_path / name)
    fault = FAULTS["product-shifted"].with_size(25.0)
    fault.outputs(None, tmp_path, {"sci_path": "p_drz_sci.fits", "wht_path": "p_drz_wht.fits"})
    moved = fits.getheader(tmp_path / "p_drz_sci.fits")
    row = product_astrometry(image, np.zeros(image.shape, bool), WCS(moved), ra, dec, None)
    assert row["east_mas"] == pytest.approx(25.0, abs=1.5)
    assert row["north_mas"] == pytest.approx(0.0, abs=1.5)
