"""Faults of the released product itself: where its stars are, the flux it holds, the
grid it was drizzled onto, and a hole in it."""

from __future__ import annotations

import contextlib
import math
from unittest import mock

import numpy as np
from astropy.io import fits

from skyqa.astrometry import wcs_from_header
from skyqa.faults.base import Fault, _drizzlepac_module, _flts
from skyqa.headers import science_extvers
from skyqa.results import EXPOSURES, mosaic_stage_name


class ProductShifted(Fault):
    name = "product-shifted"
    stage = mosaic_stage_name("match")
    via = "plumbing"
    unit = "mas"
    default_size = 30.0
    threshold_of = "astrometry_good_mas"
    description = (
        "after drizzling, the match product's WCS is moved east by the size (its pixels "
        "stay where they are), as a header written after the drizzle step would"
    )
    caught_by = ("test_product_astrometry[match]",)

    def outputs(self, field, workdir, record):
        for name in (record["sci_path"], record["wht_path"]):
            with fits.open(workdir / name, mode="update") as hdul:
                header = hdul[0].header
                # East by the size on the sky: RA moves by size / cos(dec).
                cos_dec = math.cos(math.radians(float(header["CRVAL2"])))
                header["CRVAL1"] = float(header["CRVAL1"]) + self.amount / 3.6e6 / cos_dec


class ProductRotated(Fault):
    name = "product-rotated"
    stage = mosaic_stage_name("match")
    unit = "mas"
    default_size = 40.0
    threshold_of = "astrometry_good_mas"
    description = (
        "AstroDrizzle drizzles the match product with final_rot turned by the angle that "
        "moves the inputs' farthest corner from their centre by the size"
    )
    caught_by = ("test_product_geometry[match]",)

    @contextlib.contextmanager
    def active(self, field):
        drizzle = _drizzlepac_module("astrodrizzle")
        original = drizzle.AstroDrizzle
        amount = self.amount

        def turned(*args, **kwargs):
            radius_mas = _inputs_radius_arcsec(args[0] if args else kwargs["input"]) * 1e3
            kwargs["final_rot"] = float(kwargs["final_rot"]) + math.degrees(amount / radius_mas)
            return original(*args, **kwargs)

        with mock.patch.object(drizzle, "AstroDrizzle", turned):
            yield


def _inputs_radius_arcsec(names) -> float:
    """How far the inputs' farthest chip corner lies from their corners' mean (arcsec):
    about the product's radius from its centre."""
    corners = []
    for name in names if isinstance(names, list | tuple) else [names]:
        with fits.open(name) as hdul:
            for extver in science_extvers(hdul):
                header = hdul["SCI", extver].header
                rows, columns = hdul["SCI", extver].data.shape
                wcs = wcs_from_header(header)
                corners.append(
                    np.column_stack(
                        wcs.all_pix2world([0, columns, 0, columns], [0, 0, rows, rows], 0)
                    )
                )
    points = np.concatenate(corners)
    centre = points.mean(axis=0)
    cos_dec = math.cos(math.radians(centre[1]))
    east = (points[:, 0] - centre[0]) * cos_dec
    north = points[:, 1] - centre[1]
    return float(np.max(np.hypot(east, north))) * 3600.0


class ExposureFluxScaled(Fault):
    name = "exposure-flux-scaled"
    stage = EXPOSURES
    factor = 1.05
    description = (
        "the first exposure's counts (SCI and ERR) are 5 % high, as with a wrong flat or "
        "gain: its stars hold 5 % more than its partners' (wrong-exptime does the same on "
        "the CCDs through EXPTIME; on WFC3/IR, in e-/s, EXPTIME changes only a weight)"
    )
    caught_by = ("test_product_photometry[match]",)

    def outputs(self, field, workdir, record):
        with fits.open(_flts(workdir, record)[0], mode="update") as hdul:
            for extver in science_extvers(hdul):
                for extname in ("SCI", "ERR"):
                    data = hdul[extname, extver].data
                    hdul[extname, extver].data = (data * self.factor).astype(data.dtype)


class FlaggedHole(Fault):
    name = "flagged-hole"
    stage = EXPOSURES
    side = 12
    description = (
        "a 12-pixel square of the first exposure that no other exposure covers is flagged "
        "4 (bad detector pixel) in DQ, outside final_bits: the product has no data there"
    )
    caught_by = ("test_product_has_no_holes[match]",)

    def outputs(self, field, workdir, record):
        paths = _flts(workdir, record)
        with fits.open(paths[0]) as hdul:
            wcs = wcs_from_header(hdul["SCI", 1].header)
            rows, columns = hdul["SCI", 1].data.shape
        covered = np.zeros((rows, columns), bool)
        yy, xx = np.mgrid[0:rows, 0:columns]
        ra, dec = wcs.all_pix2world(xx.ravel(), yy.ravel(), 0)
        for path in paths[1:]:
            with fits.open(path) as other:
                for extver in science_extvers(other):
                    other_wcs = wcs_from_header(other["SCI", extver].header)
                    height, width = other["SCI", extver].data.shape
                    x, y = other_wcs.all_world2pix(ra, dec, 0)
                    inside = (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
                    covered |= inside.reshape(rows, columns)
        corner = _uncovered_square(covered, self.side)
        with fits.open(paths[0], mode="update") as hdul:
            dq = hdul["DQ", 1].data
            y0, x0 = corner
            dq[y0 : y0 + self.side, x0 : x0 + self.side] |= np.int16(4)


def _uncovered_square(covered: np.ndarray, side: int) -> tuple[int, int]:
    """The (row, column) corner of a ``side`` square of pixels none of which another
    exposure covers (counted with a summed-area table); the one nearest the centre."""
    table = np.pad(np.cumsum(np.cumsum(covered.astype(int), axis=0), axis=1), ((1, 0), (1, 0)))
    counts = (
        table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    )
    rows, columns = np.nonzero(counts == 0)
    if rows.size == 0:
        raise RuntimeError(
            f"fault flagged-hole: no {side}-pixel square of the first exposure is left "
            "uncovered by the others; the fault needs a region only it covers"
        )
    centre = (np.array(covered.shape) - side) / 2
    nearest = int(np.argmin(np.hypot(rows - centre[0], columns - centre[1])))
    return int(rows[nearest]), int(columns[nearest])
