"""Getting a field's exposures: generated for synthetic fields, downloaded for real ones.

The result of this stage is an `ExposureSet` in its own directory. Later stages copy
from it and never write into it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skyqa import mast
from skyqa.drizzle import drizzle_visit
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import FieldSpec, registered_fields
from skyqa.headers import duplicate_rootnames, input_problem
from skyqa.sandbox import copy_inputs
from skyqa.simulate import generate_synthetic_field


@dataclass(frozen=True)
class ExposureSet:
    """The calibrated exposures (FLT) and visit mosaics (DRZ) of a field.

    ``truth_path`` and ``catalog_path`` exist for synthetic fields only: the injected
    truth (JSON) and the Gaia-like catalog of true star positions (ECSV).
    """

    directory: Path
    flt_paths: tuple[Path, ...]
    visit_drz_paths: tuple[Path, ...]
    truth_path: Path | None = None
    catalog_path: Path | None = None

    @classmethod
    def of_files(
        cls, directory: Path, paths: list[Path], kinds: tuple[str, str] = ("flt", "drz")
    ) -> ExposureSet:
        """The exposures (``*_flt.fits``; ``*_<kinds[0]>.fits``) and visit mosaics
        (``*_drz.fits``; ``*_<kinds[1]>.fits``) among files, each sorted by name:
        drizzlepac takes the catalog's epoch from the first exposure and TweakReg's frame
        from the first DRZ, so the order must not be the archive's."""
        ordered = sorted(paths, key=lambda path: path.name)
        exposure, visit = (f"_{kind}.fits" for kind in kinds)
        return cls(
            directory=directory,
            flt_paths=tuple(path for path in ordered if path.name.endswith(exposure)),
            visit_drz_paths=tuple(path for path in ordered if path.name.endswith(visit)),
        )

    def to_record(self) -> dict:
        """JSON-able description, paths relative to ``directory``."""

        def relative(path: Path | None) -> str | None:
            return None if path is None else str(path.relative_to(self.directory))

        return {
            "flt_paths": [relative(path) for path in self.flt_paths],
            "visit_drz_paths": [relative(path) for path in self.visit_drz_paths],
            "truth_path": relative(self.truth_path),
            "catalog_path": relative(self.catalog_path),
        }

    @classmethod
    def from_record(cls, directory: Path, record: dict) -> ExposureSet:
        """Rebuild from `to_record` output found in ``directory``."""

        def absolute(name: str | None) -> Path | None:
            return None if name is None else directory / name

        return cls(
            directory=directory,
            flt_paths=tuple(directory / name for name in record["flt_paths"]),
            visit_drz_paths=tuple(directory / name for name in record["visit_drz_paths"]),
            truth_path=absolute(record["truth_path"]),
            catalog_path=absolute(record["catalog_path"]),
        )


def acquire_exposures(
    field: FieldSpec,
    workdir: Path,
    progress: Callable[[str], None],
    download_dir: Path | None = None,
    workers: int = 1,
) -> ExposureSet:
    """Produce the field's exposures in ``workdir``.

    Synthetic fields are generated there. Real (``mast``) fields are fetched into
    ``download_dir`` (or found there, verified, with no network) and copied.

    Raises
    ------
    NetworkUnavailableError
        If a real field's data are not in ``download_dir`` and MAST cannot be reached;
        the message says what is missing, where it looked and how to fetch it.
    """
    if field.kind == "synthetic":
        visit = functools.partial(drizzle_visit, detector=field.detector_model)
        generated = generate_synthetic_field(field, workdir, visit, progress, workers)
        return ExposureSet(
            directory=workdir,
            flt_paths=tuple(sorted(generated.flt_paths, key=lambda path: path.name)),
            visit_drz_paths=tuple(sorted(generated.visit_drz_paths, key=lambda path: path.name)),
            truth_path=generated.truth_path,
            catalog_path=generated.catalog_path,
        )

    detector = field.detector_model
    kinds = (detector.inputs, detector.drizzled)
    if field.kind == "local":
        paths = local_inputs(field)
        reject_unusable(field, paths)
        return ExposureSet.of_files(workdir, copy_inputs(paths, workdir), kinds)
    query = field.mast
    if download_dir is None or query is None:
        raise ValueError("a mast field needs its [mast] query and a download directory")
    try:
        paths = mast.fetch(query, download_dir, progress, kinds=kinds)
    except NetworkUnavailableError as error:
        manifest = mast.read_manifest(download_dir)
        found = "no manifest.json" if manifest is None else "files missing or changed"
        raise NetworkUnavailableError(
            f"The data of field {field.name!r} (MAST obs_id {query.obs_id}, proposal "
            f"{query.proposal_id}) are not in {download_dir} ({found}), and {error} "
            "Fetch them on a machine with network with "
            f"`skyqa fetch {field.name}` (same cache directory), or copy a fetched folder "
            f"there (docs/real-data.md); {_offline_alternative(field)}."
        ) from error
    reject_unusable(field, paths)
    return ExposureSet.of_files(workdir, copy_inputs(paths, workdir), kinds)


def _offline_alternative(field: FieldSpec) -> str:
    """What runs offline instead of a real field: its registered replica, if it has one."""

    replica = f"{field.name}-sim"
    if replica in registered_fields():
        return f"offline, the synthetic replica runs as `pytest --field {replica}`"
    return "offline, a synthetic field runs, e.g. `pytest --field horsehead-sim`"


def local_inputs(field: FieldSpec) -> list[Path]:
    """The FLT and visit DRZ files of a local field's folder, sorted by name.

    Raises
    ------
    AcquisitionError
        If the folder does not exist or holds no FLT or no DRZ.
    """
    if field.local is None:
        raise ValueError("a local field needs its [local] section")
    directory = field.local_path(field.local.directory)
    if not directory.is_dir():
        raise AcquisitionError(
            f"Field {field.name}: [local].directory {directory} is not a folder."
        )
    detector = field.detector_model
    flts = sorted(directory.glob(f"*_{detector.inputs}.fits"))
    drzs = sorted(directory.glob(f"*_{detector.drizzled}.fits"))
    if not flts or not drzs:
        raise AcquisitionError(
            f"Field {field.name}: {directory} holds {len(flts)} *_{detector.inputs}.fits and "
            f"{len(drzs)} *_{detector.drizzled}.fits files; skyqa needs the calibrated "
            f"{detector.name} exposures and their visit mosaics."
        )
    return [*flts, *drzs]


def reject_unusable(field: FieldSpec, paths: list[Path]) -> None:
    """Stop before any drizzlepac step if an input file is unreadable or incomplete.

    Raises
    ------
    AcquisitionError
        Naming every unusable file and why.
    """

    detector = field.detector_model
    problems = [problem for path in paths if (problem := input_problem(path, detector))]
    duplicated = "" if problems else duplicate_rootnames(paths)
    if duplicated:
        problems = [duplicated.rstrip(".")]
    if problems:
        raise AcquisitionError(
            f"Field {field.name}: {len(problems)} input file(s) cannot be used: "
            + "; ".join(problems)
            + ". Replace them (fetch again, or fix the files) and run again."
        )
