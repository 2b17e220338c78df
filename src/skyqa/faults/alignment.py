"""Faults of the exposures and the alignment: what TweakReg and tweakback are given or do."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
from astropy.io import fits

from skyqa.align import drz_members
from skyqa.errors import FieldSpecError
from skyqa.faults.base import (
    Fault,
    _drizzlepac_module,
    _flts,
    _last_visit_drz,
    _move_north,
    _turn_wcs,
)
from skyqa.results import ALIGNMENT, EXPOSURES
from skyqa.simulate import (
    TRUTH_FILENAME,
    from_tangent_offsets,
    load_truth,
    tangent_offsets,
)
from skyqa.wfc3ir import rotation_matrix


class NanShift(Fault):
    name = "nan-shift"
    stage = ALIGNMENT
    via = "plumbing"
    description = "the first visit's line of TweakReg's shift file holds NaN"
    caught_by = ("test_shift_file",)

    def outputs(self, field, workdir, record):
        path = workdir / record["shift_file"]
        lines = path.read_text().splitlines()
        first = next(i for i, line in enumerate(lines) if line.strip() and line[0] != "#")
        lines[first] = "    ".join([lines[first].split()[0], *["nan"] * 6])
        path.write_text("\n".join(lines) + "\n")


class MixedFilter(Fault):
    name = "mixed-filter"
    stage = EXPOSURES
    via = "plumbing"
    description = "the last FLT says FILTER = F140W in a F160W field (the keyword only)"
    caught_by = ("test_uniform_setup",)

    def outputs(self, field, workdir, record):
        with fits.open(_flts(workdir, record)[-1], mode="update") as hdul:
            hdul[0].header["FILTER"] = "F140W"


class VisitRotated(Fault):
    name = "visit-rotated"
    stage = ALIGNMENT
    via = "plumbing"
    unit = "deg"
    default_size = 0.02
    threshold_of = "residual_rotation_max_deg"
    description = (
        "after tweakback, the last visit's DRZ and FLTs are turned about the DRZ's "
        "reference point (a rotation the fit did not find); TweakReg re-measures it"
    )
    caught_by = ("test_alignment_residuals[{last_visit}]",)

    def outputs(self, field, workdir, record):
        drz = _last_visit_drz(workdir, record)
        header = fits.getheader(drz, ("SCI", 1))
        centre = (header["CRVAL1"], header["CRVAL2"])
        turn = rotation_matrix(self.amount)
        for path in (drz, *(drz.parent / name for name in drz_members(drz))):
            _turn_wcs(path, turn, (0.0, 0.0), centre)


# --- through the pipeline: its inputs, or drizzlepac's own code ---------------------------


class NoopTweakback(Fault):
    name = "noop-tweakback"
    stage = ALIGNMENT
    unit = "mas"
    default_size = 300.0
    threshold_of = "tweakback_agreement_max_mas"
    description = (
        "tweakback updates only the second FLT of the first visit (the first is left as it "
        "was), whose pointing error is set to the size (synthetic fields)"
    )
    caught_by = ("test_tweakback_moved_flts[{first_visit}]",)

    def inputs(self, field, paths, workdir):
        """The first visit's DRZ and FLTs on copies, with the visit's pointing error made
        a shift of ``size`` mas north (its true error taken out, from the truth)."""

        truth_path = paths[0].parent / TRUTH_FILENAME
        if not truth_path.is_file():
            raise FieldSpecError(
                f"fault {self.name}: the visit's pointing error can be set only on a "
                "synthetic field (no truth.json beside the exposures)"
            )
        truth = load_truth(truth_path)
        visit = field.visit_ids()[0].upper()
        drz = next(path for path in paths if path.name.upper().startswith(visit + "_DRZ"))
        members = set(drz_members(drz))
        error = next(e for e in truth.pointing_errors if e.asn_id.upper() == visit)
        target = (truth.document["target"]["ra_deg"], truth.document["target"]["dec_deg"])
        offsets = [
            tangent_offsets(*g.true_crval, *target)
            for g in truth.exposures
            if g.asn_id.upper() == visit
        ]
        centre_offset = np.mean(np.array(offsets, dtype=float), axis=0)
        ra, dec = from_tangent_offsets(centre_offset[0], centre_offset[1], *target)
        centre = (float(ra), float(dec))
        inverse = np.linalg.inv((1 + error.scale) * rotation_matrix(error.rotation_deg))
        shift = np.array([error.shift_east_arcsec, error.shift_north_arcsec])
        faulted = workdir / "faulted"
        faulted.mkdir(exist_ok=True)
        result = []
        for path in paths:
            if path == drz or path.name in members:
                copy = faulted / path.name
                shutil.copy2(path, copy)
                # The header error is centre + M (p - centre) + shift: undo it, then
                # shift by the size.
                _turn_wcs(copy, np.eye(2), -shift, centre)
                _turn_wcs(copy, inverse, (0.0, self.amount / 1000.0), centre)
                result.append(copy)
            else:
                result.append(path)
        return result

    @contextlib.contextmanager
    def active(self, field):
        tweakback = _drizzlepac_module("tweakback")
        original = tweakback.apply_tweak
        first_visit = field.visit_ids()[0]

        def apply_tweak(drz_file, orig_wcs_name, *args, **kwargs):
            drz = Path(drz_file.split("[")[0])
            if drz.name.lower().startswith(first_visit):
                kwargs["input_files"] = ",".join(drz_members(drz)[1:])
            return original(drz_file, orig_wcs_name, *args, **kwargs)

        with mock.patch.object(tweakback, "apply_tweak", apply_tweak):
            yield


class MisalignedExposure(Fault):
    name = "misaligned-exposure"
    stage = EXPOSURES
    unit = "mas"
    default_size = 50.0
    threshold_of = "astrometry_accepted_mas"
    description = (
        "the last FLT's pointing differs from its visit partner's by the size (north), as "
        "after a guiding problem; its visit DRZ does not show it"
    )
    caught_by = ("test_sources_on_catalog[{last_visit}]", "test_wcs_matches_truth[{last_visit}]")

    def outputs(self, field, workdir, record):
        _move_north(_flts(workdir, record)[-1], self.amount / 1000.0)


class PointingBeyondSearchrad(Fault):
    name = "pointing-beyond-searchrad"
    stage = EXPOSURES
    description = (
        "the last visit's pointing error (DRZ and FLT headers) is 5 times TweakReg's "
        "searchrad: no match, NaN in the shift file"
    )
    caught_by = ("test_shift_file", "test_alignment_fit[{last_visit}]")

    def outputs(self, field, workdir, record):
        drz = _last_visit_drz(workdir, record)
        offset = 5.0 * field.tweakreg.searchrad
        for path in (drz, *(drz.parent / name for name in drz_members(drz))):
            _move_north(path, offset)


class IsolatedExposure(Fault):
    name = "isolated-exposure"
    stage = EXPOSURES
    description = "the last FLT's header puts it 6 arcmin away, overlapping nothing"
    caught_by = ("test_overlaps_connected",)

    def outputs(self, field, workdir, record):
        _move_north(_flts(workdir, record)[-1], 360.0)
