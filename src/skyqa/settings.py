"""skyqa's run settings, read once from the command line, ini file and environment.

Precedence: command line > ini file > environment > default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from skyqa.cache import default_cache_dir

CACHE_DIR_ENV = "SKYQA_CACHE_DIR"


@dataclass(frozen=True)
class Settings:
    """What a skyqa run was asked to do.

    ``fields`` holds what ``--field`` was given (names or spec paths), in order.
    """

    fields: tuple[str, ...]
    cache_dir: Path
    allow_astrometry_db: bool = False


def resolve_cache_dir(cli_value: str | None, ini_value: str | None) -> Path:
    """The cache directory: ``--skyqa-cache-dir``, ini, ``SKYQA_CACHE_DIR``, default."""
    for value in (cli_value, ini_value, os.environ.get(CACHE_DIR_ENV)):
        if value:
            return Path(value).expanduser()
    return default_cache_dir()
