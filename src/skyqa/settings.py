"""skyqa's run settings, read once from the command line, ini file and environment.

Precedence: command line > ini file > environment > default.
"""

from __future__ import annotations

import os
import site
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from skyqa.cache import default_cache_dir

CACHE_DIR_ENV = "SKYQA_CACHE_DIR"
BASELINE_DIR_ENV = "SKYQA_BASELINE_DIR"
WORKERS_ENV = "SKYQA_WORKERS"
SCHEDULER_ENV = "SKYQA_SCHEDULER"


@dataclass(frozen=True)
class Settings:
    """What a skyqa run was asked to do.

    ``fields`` holds what ``--field`` was given (names or spec paths), in order;
    ``fault`` the name of a fault injected to test the harness (`skyqa.faults`), if any.
    """

    fields: tuple[str, ...]
    cache_dir: Path
    baseline_dir: Path | None
    """An explicit baseline directory, else None (`skyqa.baseline.baseline_folder`)."""
    allow_astrometry_db: bool = False
    fault: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    """The address of a Dask scheduler whose workers build the stages (`skyqa.cluster`);
    None: the local process pool."""


def resolve_cache_dir(cli_value: str | None, ini_value: str | None) -> Path:
    """The cache directory: ``--skyqa-cache-dir``, ini, ``SKYQA_CACHE_DIR``, default."""
    for value in (cli_value, ini_value, os.environ.get(CACHE_DIR_ENV)):
        if value:
            return Path(value).expanduser()
    return default_cache_dir()


def resolve_baseline_dir(cli_value: str | None, ini_value: str | None) -> Path | None:
    """An explicit baseline directory: option, ini, ``SKYQA_BASELINE_DIR``; None: each
    field's own place (`skyqa.baseline.baseline_folder`)."""
    for value in (cli_value, ini_value, os.environ.get(BASELINE_DIR_ENV)):
        if value:
            return Path(value).expanduser()
    return None


def resolve_scheduler(cli_value: str | None, ini_value: str | None) -> str | None:
    """A Dask scheduler's address: ``--skyqa-scheduler``, ini, ``SKYQA_SCHEDULER``; None:
    the local process pool."""
    for value in (cli_value, ini_value, os.environ.get(SCHEDULER_ENV)):
        if value:
            return value.strip()
    return None


def resolve_workers(cli_value: int | None, ini_value: str | None) -> int | None:
    """Worker processes: ``--skyqa-workers``, ini, ``SKYQA_WORKERS``; None: the CPUs.

    Raises
    ------
    ValueError
        If the value is not a whole number of at least 1; the message names its source.
    """
    for source, value in (
        ("--skyqa-workers", cli_value),
        ("ini skyqa_workers", ini_value),
        (WORKERS_ENV, os.environ.get(WORKERS_ENV)),
    ):
        if value in (None, ""):
            continue
        try:
            workers = int(value)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"{source} = {value!r}: give a whole number of processes, >= 1")
        return workers
    return None


def in_installed_package(path: Path) -> bool:
    """Whether ``path`` is inside the installed skyqa package or a site-packages folder:
    skyqa never writes there (an editable checkout's ``baselines/`` is not)."""

    roots = {Path(__file__).parent, *map(Path, site.getsitepackages())}
    roots |= {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    if site.ENABLE_USER_SITE:
        roots.add(Path(site.getusersitepackages()))
    resolved = path.resolve()
    return any(resolved.is_relative_to(root.resolve()) for root in roots)
