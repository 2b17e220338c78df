"""Faults of the two-chip CCDs (ACS/WFC, WFC3/UVIS): what one sky per exposure cannot
level, cosmic rays left in, and an exposure time that is not the exposure's."""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
from astropy.io import fits

from skyqa import drizzle
from skyqa.faults.base import Fault, _flts
from skyqa.pixels import pixel_noise
from skyqa.results import EXPOSURES, mosaic_stage_name

TWO_CHIP_DETECTORS = ("ACS/WFC", "WFC3/UVIS")


class ChipOffset(Fault):
    name = "chip-offset"
    stage = EXPOSURES
    detectors = TWO_CHIP_DETECTORS
    unit = "xnoise"
    default_size = 1.0
    threshold_of = "seam_max_noise_fraction"
    threshold_scale = 2.0
    """Once match gives the offset exposure one sky, each of its chips is left about half
    the offset off, which the pairs overlapping that chip see: a seam past the seam
    threshold (0.1 x noise) needs an offset of about twice it. Measured on acs-mini-sim
    (`docs/sensitivity-acs-mini-sim.md`): caught at 0.17 and 0.19 x noise on seeds
    101 and 104 (seeds 102, 103 and 105 fail the seam check clean)."""
    description = (
        "the second chip ([SCI,2]) of the first exposure is brighter by the size (x its "
        "pixel noise), as with a chip's bias or dark off: one sky per exposure cannot level it"
    )
    caught_by = ("test_seam_free[match]",)

    def outputs(self, field, workdir, record):
        with fits.open(_flts(workdir, record)[0], mode="update") as hdul:
            data = hdul["SCI", 2].data
            data += np.float32(self.amount * pixel_noise(hdul["ERR", 2].data))


class NoCosmicRayRejection(Fault):
    name = "no-cr-rejection"
    stage = mosaic_stage_name("match")
    detectors = TWO_CHIP_DETECTORS
    description = (
        "the match mosaic is drizzled without AstroDrizzle's cosmic-ray steps "
        "(driz_separate, median, blot, driz_cr all off): the hits go into the mosaic"
    )
    caught_by = ("test_mosaic_exists[match]",)

    @contextlib.contextmanager
    def active(self, field):
        off = {step: False for step in ("driz_separate", "median", "blot", "driz_cr")}
        with mock.patch.dict(drizzle.COSMIC_RAY_STEPS, off):
            yield


class WrongExposureTime(Fault):
    name = "wrong-exptime"
    stage = EXPOSURES
    detectors = TWO_CHIP_DETECTORS
    factor = 1.1
    description = (
        "the first exposure's EXPTIME says 10 % more than the exposure lasted: its "
        "electrons become too few e-/s, the sky by a constant match takes up, the nebula "
        "and stars by a tenth of their brightness, which no sky can level"
    )
    caught_by = ("test_seam_free[match]",)

    def outputs(self, field, workdir, record):
        with fits.open(_flts(workdir, record)[0], mode="update") as hdul:
            hdul[0].header["EXPTIME"] = float(hdul[0].header["EXPTIME"]) * self.factor
