"""Known faults, injected on purpose to prove that skyqa's checks catch them.

A QA harness is trusted only if it catches the faults it claims to catch. Each `Fault`
here damages one pipeline stage's output (or what a stage reads, or how drizzlepac
behaves while it runs), always in that stage's own cache entry: the user's input data
and the clean results are never touched, and a faulted result has its own cache key.
The fault names the checks that must then fail.

`run_fault_suite` runs a full ``pytest --field`` session per fault (and clean sessions
on several seeds), reads each session's summary.json and tells, per fault, whether the
named checks failed: the table the README shows is `fault_table` of its result.

Usable without pytest::

    from skyqa.faults import FAULTS
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    pipeline = Pipeline(resolve_field("mini-sim"), "/tmp/cache", fault=FAULTS["nan-shift"])
    print(pipeline.alignment().shift_table)

or from the command line: ``pytest --field mini-sim --skyqa-inject-fault nan-shift``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
from astropy.io import fits

from skyqa.errors import FieldSpecError
from skyqa.field import FieldSpec
from skyqa.pipeline.stages import ALIGNMENT, EXPOSURES, mosaic_stage_name
from skyqa.pixels import exposure_noise

ARCSEC_DEG = 1.0 / 3600.0


class Fault:
    """One fault: where it is injected and which checks must catch it.

    Subclasses override one or more hooks; each is called by `skyqa.pipeline.Pipeline`
    for the stage named in ``stage`` only (``exposures``, ``alignment``, ``overlaps`` or
    ``mosaic-<method>``):

    - `inputs`: replace some of the files the stage reads by damaged copies;
    - `active`: a context in which the stage runs (to make a library misbehave);
    - `outputs`: damage what the stage wrote, before it is stored in the cache.

    ``caught_by`` holds check ids without the field: ``test_shift_file`` for a check
    run once per field, ``test_seam_free[match]`` for one parametrized by a value.

    ``via`` says how the fault reaches the check: ``pipeline`` (through the pipeline's
    own inputs or drizzlepac's own code, as the real failure would) or ``plumbing``
    (written into the artefact the check reads, or into a stage's output after the
    stage: it proves the check reads what it should, not that a real failure gets there).

    A fault with a ``unit`` (``mas``, ``deg``, ``sigma``, or ``xnoise``: times the
    exposure's per-pixel noise, the median of its ERR) has a size (``size``, default
    ``default_size``), set with `with_size` or ``--skyqa-inject-fault NAME=SIZE``; its
    ``threshold_of`` names the
    threshold (in the field's ``[thresholds]``) its first check judges it against, in
    the same unit, and ``threshold_scale`` converts that threshold into the unit.
    """

    name: str = ""
    stage: str = ""
    description: str = ""
    caught_by: tuple[str, ...] = ()
    via: str = "pipeline"
    unit: str = ""
    default_size: float | None = None
    threshold_of: str = ""
    threshold_scale: float = 1.0
    size: float | None = None

    def __init__(self, size: float | None = None) -> None:
        self.size = self.default_size if size is None else float(size)

    @property
    def amount(self) -> float:
        """The size of a sized fault, in its `unit`."""
        if self.size is None:
            raise TypeError(f"skyqa bug: fault {self.name} has no size")
        return self.size

    def with_size(self, size: float) -> Fault:
        """A copy of this fault with another size (in ``unit``)."""
        if not self.unit:
            raise FieldSpecError(f"fault {self.name!r} has no size to set")
        if not (np.isfinite(size) and size > 0):
            raise FieldSpecError(f"fault {self.name!r}: the size must be a positive number")
        return type(self)(size)

    @property
    def label(self) -> str:
        """The fault as given on the command line: ``name`` or ``name=SIZEunit``."""
        return f"{self.name}={self.size:g}{self.unit}" if self.unit else self.name

    def claimed_threshold(self, field: FieldSpec) -> float | None:
        """The threshold, in ``unit``, that the fault's first check claims."""
        if not self.threshold_of:
            return None
        return float(getattr(field.thresholds, self.threshold_of)) * self.threshold_scale

    def inputs(self, field: FieldSpec, paths: Sequence[Path], workdir: Path) -> list[Path]:
        """The files the stage should read instead of ``paths`` (default: the same)."""
        return list(paths)

    @contextlib.contextmanager
    def active(self, field: FieldSpec) -> Iterator[None]:
        """Context in which the stage's build runs (default: nothing changes)."""
        yield

    def outputs(self, field: FieldSpec, workdir: Path, record: dict) -> None:
        """Damage the stage's results in ``workdir`` (default: nothing)."""

    def __repr__(self) -> str:
        return f"<Fault {self.label} in {self.stage}>"


def _drizzlepac_module(name: str):
    """A drizzlepac module, imported as the pipeline imports it (`skyqa.sandbox`)."""
    from skyqa.sandbox import quiet_import

    return quiet_import(f"drizzlepac.{name}")


def _update_sci_header(path: Path, **cards: float | str) -> None:
    with fits.open(path, mode="update") as hdul:
        for key, value in cards.items():
            hdul["SCI", 1].header[key] = value


def _flts(workdir: Path, record: dict, key: str = "flt_paths") -> list[Path]:
    return [workdir / name for name in record[key]]


def _move_north(path: Path, arcsec: float) -> None:
    """Move an image's header WCS north on the sky (its data stay where they are)."""
    crval2 = fits.getval(path, "CRVAL2", extname="SCI", extver=1)
    _update_sci_header(path, CRVAL2=crval2 + arcsec * ARCSEC_DEG)


def _turn_wcs(path: Path, turn: np.ndarray, shift_arcsec, centre: tuple[float, float]) -> None:
    """Apply ``p -> centre + turn (p - centre) + shift`` (tangent plane at ``centre``,
    (east, north) arcsec) to an image's header WCS: its CRVAL moves, its CD turns."""
    from skyqa.simulate import from_tangent_offsets, tangent_offsets

    with fits.open(path, mode="update") as hdul:
        header = hdul["SCI", 1].header
        east, north = tangent_offsets(header["CRVAL1"], header["CRVAL2"], *centre)
        moved = turn @ np.array([east, north]) + np.asarray(shift_arcsec, dtype=float)
        ra, dec = from_tangent_offsets(moved[0], moved[1], *centre)
        cd = np.array([[header["CD1_1"], header["CD1_2"]], [header["CD2_1"], header["CD2_2"]]])
        cd = turn @ cd
        header["CRVAL1"], header["CRVAL2"] = float(ra), float(dec)
        for i in range(2):
            for j in range(2):
                header[f"CD{i + 1}_{j + 1}"] = float(cd[i, j])


def _last_visit_drz(workdir: Path, record: dict) -> Path:
    """The last visit's DRZ in the alignment's or exposures' record."""
    return workdir / sorted(record["visit_drz_paths"])[-1]


# --- plumbing: the fault is written where the check reads -------------------------------


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
        from skyqa.align import drz_members
        from skyqa.wfc3ir import rotation_matrix

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
        from skyqa.align import drz_members
        from skyqa.simulate import (
            TRUTH_FILENAME,
            from_tangent_offsets,
            load_truth,
            tangent_offsets,
        )
        from skyqa.wfc3ir import rotation_matrix

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
                from skyqa.align import drz_members

                kwargs["input_files"] = ",".join(drz_members(drz)[1:])
            return original(drz_file, orig_wcs_name, *args, **kwargs)

        with mock.patch.object(tweakback, "apply_tweak", apply_tweak):
            yield


class MisalignedExposure(Fault):
    name = "misaligned-exposure"
    stage = EXPOSURES
    unit = "mas"
    default_size = 50.0
    threshold_of = "source_offset_max_mas"
    description = (
        "the last FLT's pointing differs from its visit partner's by the size (north), as "
        "after a guiding problem; its visit DRZ does not show it"
    )
    caught_by = ("test_sources_on_catalog[{last_visit}]", "test_wcs_matches_truth[{last_visit}]")

    def outputs(self, field, workdir, record):
        _move_north(_flts(workdir, record)[-1], self.amount / 1000.0)


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
        "a column of the first FLT is hot by the size (x the robust spread of its "
        "columns' medians), with DQ left at 0"
    )
    caught_by = ("test_no_unflagged_bad_columns",)

    def outputs(self, field, workdir, record):
        from skyqa.measure import column_deviations, parse_bits

        with fits.open(_flts(workdir, record)[0], mode="update") as hdul:
            data = hdul["SCI", 1].data
            bits = parse_bits(field.astrodrizzle.final_bits)
            _, spread = column_deviations(data, hdul["DQ", 1].data, bits)
            data[:, data.shape[1] // 3] += np.float32(self.amount * spread)


class SkyStep(Fault):
    name = "sky-step"
    stage = EXPOSURES
    unit = "xnoise"
    default_size = 1.0
    threshold_of = "seam_max_noise_fraction"
    threshold_scale = 5.0
    """What the seam check honestly delivers for a step across one exposure: 0.5 x pixel
    noise, five times its threshold (benchmarks/sensitivity.md: median 0.47 over 8
    realisations of mini-sim). Once match levels the exposure each half is off by half the
    step, only pairs overlapping one side of it see that half, and their uncertainty adds
    to what the check needs; the dither partner's overlap straddles the step."""
    description = (
        "the upper half of the first FLT is brighter by the size (x its pixel noise), as "
        "with an amplifier offset: no one sky value levels it"
    )
    caught_by = ("test_seam_free[match]",)

    def outputs(self, field, workdir, record):
        path = _flts(workdir, record)[0]
        step = self.amount * exposure_noise(path)
        with fits.open(path, mode="update") as hdul:
            data = hdul["SCI", 1].data
            data[data.shape[0] // 2 :, :] += np.float32(step)


class PointingBeyondSearchrad(Fault):
    name = "pointing-beyond-searchrad"
    stage = EXPOSURES
    description = (
        "the last visit's pointing error (DRZ and FLT headers) is 5 times TweakReg's "
        "searchrad: no match, NaN in the shift file"
    )
    caught_by = ("test_shift_file", "test_alignment_fit[{last_visit}]")

    def outputs(self, field, workdir, record):
        from skyqa.align import drz_members

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


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        NanShift(),
        NoopTweakback(),
        MatchFallback(),
        MismatchedSky(),
        SkyHeaderMismatch(),
        MisalignedExposure(),
        VisitRotated(),
        UnflaggedHotColumn(),
        SkyStep(),
        WrongSkyMethod(),
        EmptyMosaic(),
        PointingBeyondSearchrad(),
        MixedFilter(),
        IsolatedExposure(),
    )
}


def get_fault(text: str) -> Fault:
    """The fault named in ``text``: ``NAME`` (its default size) or ``NAME=SIZE[UNIT]``,
    for example ``misaligned-exposure=20mas`` or ``sky-step=0.3``.

    Raises
    ------
    FieldSpecError
        If there is no such fault (the message lists the known faults), it has no size,
        or the size is not a positive number in its unit.
    """
    name, _, size_text = text.partition("=")
    if name not in FAULTS:
        raise FieldSpecError(f"Unknown fault {name!r}. Known faults: {', '.join(FAULTS)}.")
    fault = FAULTS[name]
    if not size_text:
        return fault
    if not fault.unit:
        raise FieldSpecError(f"fault {name!r} has no size; give it as {name!r} alone")
    unit = fault.unit
    number = size_text.strip()
    if number.endswith(unit):
        number = number[: -len(unit)]
    try:
        size = float(number)
    except ValueError:
        raise FieldSpecError(
            f"fault {name!r}: size {size_text!r} is not a number in {fault.unit} "
            f"(for example {name}={fault.default_size:g}{unit})"
        ) from None
    return fault.with_size(size)


def expected_checks(fault: Fault, field: FieldSpec) -> list[str]:
    """The full ids (with the field) of the checks that must fail under ``fault``."""
    visits = field.visit_ids() or ("all",)
    ids = []
    for check in fault.caught_by:
        check = check.format(first_visit=visits[0], last_visit=visits[-1])
        name, _, param = check.partition("[")
        ids.append(f"{name}[{field.name}-{param}" if param else f"{name}[{field.name}]")
    return ids


# --- running the suite ----------------------------------------------------------------


@dataclass(frozen=True)
class SessionResult:
    """One ``pytest --field`` session of the suite: its summary and the exit code."""

    label: str
    fault: Fault | None
    expected: tuple[str, ...]
    summary: dict
    exit_code: int
    log_path: Path
    note: str = ""
    reviews: tuple = ()
    """Clean sessions: `skyqa.review.Review` of each failed check (what the truth says)."""

    def statuses(self) -> dict[str, str]:
        return {check["id"]: check["status"] for check in self.summary.get("checks", [])}

    def failed(self) -> list[str]:
        return [name for name, status in self.statuses().items() if status in ("failed", "error")]

    def missed(self) -> list[str]:
        """Expected checks that did not fail (a fault the suite did not catch). A check
        that errored counts as missed: the harness crashed instead of reporting."""
        statuses = self.statuses()
        return [name for name in self.expected if statuses.get(name) != "failed"]

    def unconfirmed(self) -> list[str]:
        """Clean sessions: failed checks the truth does not show (false alarms)."""
        confirmed = {review.check for review in self.reviews if review.confirmed}
        return [name for name in self.failed() if name not in confirmed]

    def caught(self) -> bool:
        """Fault sessions: every named check failed. Clean sessions: no false alarm,
        every check that failed is shown real by the truth (`skyqa.review`)."""
        return not self.missed() if self.fault else not self.unconfirmed()

    def first_failure(self, check_id: str) -> str:
        """The first failed verdict's sentence of a check, '' if none."""
        for check in self.summary.get("checks", []):
            if check["id"] == check_id:
                for verdict in check.get("verdicts", []):
                    if not verdict["passed"]:
                        return f"{verdict['check']} for {verdict['subject']}: {verdict['measured']}"
                return check.get("message", "")[:300]
        return ""


def seed_variant(field: FieldSpec, seed: int, directory: Path) -> Path:
    """Write a copy of a synthetic field's spec with another seed; return its path.

    The copy is named ``<field>-seed<seed>``; its data are a new realisation of the
    same design (other noise, stars, pedestals and pointing errors).
    """
    if field.source_path is None or field.synthetic is None:
        raise FieldSpecError(f"field {field.name!r} is not a synthetic field read from a file")
    text = field.source_path.read_text()
    name = f"{field.name}-seed{seed}"
    text, named = re.subn(r'(?m)^name\s*=\s*".*"$', f'name = "{name}"', text, count=1)
    text, seeded = re.subn(r"(?m)^seed\s*=\s*\d+$", f"seed = {seed}", text, count=1)
    if not (named and seeded):
        raise FieldSpecError(f"{field.source_path} has no top-level name or seed line to vary")
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def run_session(
    field: str,
    cache_dir: Path,
    report_dir: Path,
    fault: str | None = None,
    extra_args: Sequence[str] = (),
    timeout_s: float = 1800,
) -> tuple[int, dict, Path]:
    """Run ``pytest --field FIELD`` in a subprocess; return (exit code, summary, log)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--field",
        field,
        "--skyqa-cache-dir",
        str(cache_dir),
        "--skyqa-report-dir",
        str(report_dir),
        "-p",
        "no:cacheprovider",
        "-q",
        # Its own temporary folder: pytest prunes old ones, and they would be ours.
        f"--basetemp={report_dir / 'tmp'}",
        *(["--skyqa-inject-fault", fault] if fault else []),
        *extra_args,
    ]
    log_path = report_dir / "session.log"
    with open(log_path, "w") as log:
        completed = subprocess.run(
            command,
            cwd=report_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    summaries = list(report_dir.glob("*/summary.json"))
    summary = json.loads(summaries[0].read_text()) if summaries else {}
    return completed.returncode, summary, log_path


def run_fault_suite(
    field: FieldSpec,
    cache_dir: Path,
    work_dir: Path,
    faults: Sequence[str] | None = None,
    seeds: Sequence[int] = (),
    workers: int = 2,
    extra_args: Sequence[str] = (),
) -> list[SessionResult]:
    """Run one clean session of ``field``, one per fault, and one clean per extra seed.

    Sessions share ``cache_dir``, so each runs only the stages its fault changes (a
    fault's own cache entries have their own keys). Clean sessions of other seeds run
    every check but the baseline comparison: a new realisation has no baseline.
    ``extra_args`` go to every session's pytest command line.
    """
    names = list(FAULTS) if faults is None else list(faults)
    work_dir.mkdir(parents=True, exist_ok=True)
    if field.source_path is None:
        raise FieldSpecError(f"field {field.name!r} was not read from a spec file")
    target = str(field.source_path)

    def clean(label: str, spec: str, args: Sequence[str] = (), note: str = "") -> SessionResult:
        from skyqa.review import review_session

        code, summary, log = run_session(
            spec, cache_dir, work_dir / label, extra_args=[*extra_args, *args]
        )
        result = SessionResult(label, None, (), summary, code, log, note)
        failed = result.failed()
        reviews = tuple(review_session(Path(spec), cache_dir, failed)) if failed else ()
        return dataclasses.replace(result, reviews=reviews)

    def faulted(name: str) -> SessionResult:
        fault = get_fault(name)
        code, summary, log = run_session(
            target, cache_dir, work_dir / name, fault=name, extra_args=extra_args
        )
        return SessionResult(name, fault, tuple(expected_checks(fault, field)), summary, code, log)

    # The clean session first: it fills the cache every fault session starts from.
    if field.synthetic is None:
        raise ValueError(f"the fault suite needs a synthetic field, not {field.name}")
    results = [clean(f"clean-seed{field.synthetic.seed}", target)]
    variants = [seed_variant(field, seed, work_dir) for seed in seeds]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = [pool.submit(faulted, name) for name in names]
        jobs += [
            pool.submit(
                clean,
                f"clean-seed{seed}",
                str(path),
                ("-k", "not test_matches_baseline"),
                "baseline comparison left out",
            )
            for seed, path in zip(seeds, variants, strict=True)
        ]
        results += [job.result() for job in jobs]
    return results


def fault_table(results: Sequence[SessionResult]) -> str:
    """The README's table (Markdown): fault, where, which checks must catch it, result."""
    lines = [
        "| fault | via | injected into | must be caught by | result |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        if result.fault is None:
            statuses = list(result.statuses().values())
            run = [status for status in statuses if status not in ("not run", "deselected")]
            failed = result.failed()
            not_run = f" ({len(statuses) - len(run)} not run)" if len(run) < len(statuses) else ""
            shown = ""
            if failed:
                real = [name for name in failed if name not in result.unconfirmed()]
                shown = f"; {len(real)} failed, shown real by the truth" if real else ""
                if result.unconfirmed():
                    shown += f"; NOT shown by the truth: {', '.join(result.unconfirmed())}"
            lines.append(
                f"| none ({result.label}) | - | - | no false alarm (a check that fails must "
                f"be shown real by the truth){', ' + result.note if result.note else ''} "
                f"| {'no false alarm' if result.caught() else 'FALSE ALARM'}: "
                f"{len(run) - len(failed)} of {len(run)} checks passed{not_run}{shown} |"
            )
            continue
        checks = ", ".join(f"`{name}`" for name in result.expected)
        verdict = "caught" if result.caught() else f"MISSED ({', '.join(result.missed())})"
        lines.append(
            f"| `{result.fault.label}`: {result.fault.description} | {result.fault.via} "
            f"| {result.fault.stage} | {checks} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def evidence_table(results: Sequence[SessionResult]) -> str:
    """Per session: what failed and the first failed verdict of each expected check."""
    lines = []
    for result in results:
        lines.append(f"## {result.label} (exit code {result.exit_code}, log {result.log_path})")
        for name in result.expected:
            lines.append(f"- {name}: {result.statuses().get(name, 'not run')}: ")
            lines[-1] += result.first_failure(name) or "(no failed verdict)"
        others = [name for name in result.failed() if name not in result.expected]
        lines.append(f"- also failed: {', '.join(others) or 'nothing'}")
        lines += [f"- {review.line()}" for review in result.reviews]
        lines.append("")
    return "\n".join(lines)
