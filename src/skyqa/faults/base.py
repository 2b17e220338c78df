"""The `Fault` hooks, and helpers the faults share to damage files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from skyqa.closure import module_digest
from skyqa.errors import FieldSpecError
from skyqa.field import FieldSpec
from skyqa.sandbox import quiet_import
from skyqa.simulate import from_tangent_offsets, tangent_offsets

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
    detectors: tuple[str, ...] = ()
    """The detectors (`skyqa.detectors` names) whose fields the fault applies to; empty:
    any."""
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

    def key(self) -> dict:
        """The fault's part of its stage's cache key: its name, its size and the code it
        runs (its class's module and all that imports, `skyqa.closure`)."""
        return {
            "name": self.name,
            "size": self.size,
            "code": module_digest(type(self).__module__),
        }

    @property
    def label(self) -> str:
        """The fault as given on the command line: ``name`` or ``name=SIZEunit``."""
        return f"{self.name}={self.size:g}{self.unit}" if self.unit else self.name

    def applies_to(self, field: FieldSpec) -> bool:
        """Whether the fault can be injected into ``field`` (its detector)."""
        return not self.detectors or field.detector_model.name in self.detectors

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
