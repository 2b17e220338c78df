"""Faults of the sky: how drizzlepac matches and subtracts it, and what the pixels hold."""

from __future__ import annotations

import contextlib
import functools
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
from astropy.io import fits

from skyqa.columns import column_deviations
from skyqa.faults.base import Fault, _drizzlepac_module, _flts, _update_sci_header
from skyqa.measure import parse_bits
from skyqa.pixels import exposure_noise
from skyqa.results import EXPOSURES, mosaic_stage_name


class _SkymatchFault(Fault):
    """A fault of drizzlepac's sky matching: `skymatch` replaced while the stage runs."""

    stage = mosaic_stage_name("match")

    def skymatch(self, original, *args, skymethod: str, **kwargs):
        """What runs instead of ``original`` (stsci.skypac's skymatch)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def active(self, field):
        sky = _drizzlepac_module("sky")
        with mock.patch.object(sky, "skymatch", functools.partial(self.skymatch, sky.skymatch)):
            yield


class MatchFallback(_SkymatchFault):
    name = "match-fallback"
    description = (
        "sky matching raises inside AstroDrizzle (as with spherical_geometry 1.4), which "
        "falls back to localmin"
    )
    caught_by = ("test_no_sky_fallback[match]",)

    def skymatch(self, original, *args, skymethod="localmin", **kwargs):
        if "match" in skymethod:
            raise RuntimeError("skyqa fault injection: sky matching failed")
        return original(*args, skymethod=skymethod, **kwargs)


class WrongSkyMethod(_SkymatchFault):
    name = "wrong-sky-method"
    description = (
        "sky matching silently computes localmin when match is asked: MDRIZSKY written by "
        "another method than requested, with no warning in the log"
    )
    caught_by = ("test_match_sky_levels[match]",)

    def skymatch(self, original, *args, skymethod="localmin", **kwargs):
        return original(*args, skymethod="localmin", **kwargs)


class _SubtractSkyFault(Fault):
    """A fault between drizzlepac's sky step and its drizzle step: ``subtractSky`` runs,
    then `change` alters what the first exposure has subtracted."""

    stage = mosaic_stage_name("match")
    unit = "xnoise"
    threshold_of = "seam_max_noise_fraction"

    def change(self, chip, filename: str, delta: float) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def active(self, field):
        sky = _drizzlepac_module("sky")
        original = sky.subtractSky

        def subtract_sky(image_list, *args, **kwargs):
            result = original(image_list, *args, **kwargs)
            image = sorted(image_list, key=lambda item: item._filename)[0]
            chip = image[image.scienceExt, 1]
            delta = self.amount * exposure_noise(Path(image._filename))
            self.change(chip, image._filename, delta)
            return result

        with mock.patch.object(sky, "subtractSky", subtract_sky):
            yield


class MismatchedSky(_SubtractSkyFault):
    name = "mismatched-sky"
    default_size = 0.5
    description = (
        "sky matching leaves the first exposure off by the size (x its pixel noise): "
        "subtracted and recorded alike, so the mosaic has a seam"
    )
    caught_by = ("test_seam_free[match]",)

    def change(self, chip, filename, delta):
        chip.computedSky += delta
        chip.subtractedSky += delta
        _update_sci_header(Path(filename), MDRIZSKY=float(chip.computedSky))


class SkyHeaderMismatch(_SubtractSkyFault):
    name = "sky-header-mismatch"
    default_size = 0.5
    threshold_scale = 1.0
    """What `test_mosaic_holds_recorded_sky` claims for one exposure: its threshold, 0.1 x
    pixel noise. Since issue 31 it judges each exposure from all the regions it covers
    (its own error, the others taken as right), so a dither partner that always covers
    with it no longer halves what it shows (issue 21: 0.2, twice the threshold, when
    each region was judged; docs/sensitivity.md)."""
    description = (
        "the first exposure's pixels have the size (x its pixel noise) more sky "
        "subtracted than its header MDRIZSKY records"
    )
    caught_by = ("test_mosaic_holds_recorded_sky[match]",)

    def change(self, chip, filename, delta):
        chip.computedSky += delta


class EmptyMosaic(Fault):
    name = "empty-mosaic"
    stage = mosaic_stage_name("globalmin")
    description = (
        "every pixel of every FLT drizzled into the globalmin mosaic is flagged 4 (bad "
        "detector pixel) in DQ, outside final_bits: AstroDrizzle drizzles nothing"
    )
    caught_by = ("test_mosaic_exists[globalmin]",)

    def inputs(self, field, paths, workdir):
        faulted = workdir / "faulted"
        faulted.mkdir(exist_ok=True)
        copies = []
        for path in paths:
            copy = faulted / path.name
            shutil.copy2(path, copy)
            with fits.open(copy, mode="update") as hdul:
                hdul["DQ", 1].data = hdul["DQ", 1].data | np.int16(4)
            copies.append(copy)
        return copies


class UnflaggedHotColumn(Fault):
    name = "unflagged-hot-column"
    stage = EXPOSURES
    unit = "sigma"
    default_size = 30.0
    threshold_of = "unflagged_column_max_sigma"
    description = (
        "a column of the first FLT is hot by the size (x its sigma in the column check: the "
        "robust spread of all columns' medians, or its own uncertainty if larger), with DQ "
        "left at 0"
    )
    caught_by = ("test_no_unflagged_bad_columns",)

    def outputs(self, field, workdir, record):
        with fits.open(_flts(workdir, record)[0], mode="update") as hdul:
            data = hdul["SCI", 1].data
            bits = parse_bits(field.astrodrizzle.final_bits)
            _, sigma = column_deviations(data, hdul["DQ", 1].data, bits)
            column = data.shape[1] // 3
            data[:, column] += np.float32(self.amount * sigma[column])


class _AddedToFirstExposure(Fault):
    """A pattern added to the first FLT's sky, the size x its pixel noise."""

    stage = EXPOSURES
    unit = "xnoise"
    default_size = 1.0
    threshold_of = "seam_max_noise_fraction"

    def pattern(self, shape: tuple[int, int]) -> np.ndarray:
        """The pattern, in units of the size (broadcast onto the array)."""
        raise NotImplementedError

    def outputs(self, field, workdir, record):
        path = _flts(workdir, record)[0]
        amount = self.amount * exposure_noise(path)
        with fits.open(path, mode="update") as hdul:
            data = hdul["SCI", 1].data
            data += (self.pattern(data.shape) * amount).astype(np.float32)


class SkyStep(_AddedToFirstExposure):
    name = "sky-step"
    threshold_scale = 2.0
    """What the seam check claims for a step across one exposure: 0.2 x pixel noise, the
    seam threshold plus twice the step's uncertainty on mini-sim (0.03-0.05 x noise).
    Since issue 31 each pair measures the step across each exposure's middle row and
    column within parts where the other exposure's sky is one level, and an exposure's
    pairs are combined (`skyqa.checks.seams.exposure_steps`); the step is judged as a
    seam within the exposure (before: a plane through its pairs' seams, 0.394 x noise;
    the pair rule alone, 0.47; docs/sensitivity.md)."""
    description = (
        "the upper half of the first FLT is brighter by the size (x its pixel noise), as "
        "with an amplifier offset: no one sky value levels it"
    )
    caught_by = ("test_seam_free[match]",)

    def pattern(self, shape):
        return (np.arange(shape[0]) >= shape[0] // 2)[:, None].astype(float)


class SkyGradient(_AddedToFirstExposure):
    name = "sky-gradient"
    threshold_scale = 4.4
    """What `test_sky_flat_across_each_exposure` claims on mini-sim: it fails where half
    the gradient (the edge error once a constant has set its mean) passes the seam
    threshold by twice its uncertainty, so at a gradient of 2 x (0.1 + 2 x 0.06) = 0.44 x
    pixel noise: the half-gradient's uncertainty is 0.05-0.07 x noise there, where
    256-pixel exposures overlap in narrow strips (0.02 on horsehead-sim, whose claim is
    then 0.28). Measured: 0.44-0.49 (docs/sensitivity.md)."""
    description = (
        "the first FLT's sky rises along its columns by the size (x its pixel noise) from "
        "its left edge to its right, as scattered light would: match removes its mean only"
    )
    caught_by = ("test_sky_flat_across_each_exposure",)

    def pattern(self, shape):
        return (np.arange(shape[1]) / shape[1] - 0.5)[None, :]
