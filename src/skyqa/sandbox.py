"""Running drizzlepac safely: in a working directory of its own, its console output and
warnings in a log, on copies of the inputs, and imported without its dependencies'
warnings.

drizzlepac reads and writes relative to the current directory and edits its inputs'
headers in place; every stage that runs it (`skyqa.align`, `skyqa.drizzle`,
`skyqa.catalog`, `skyqa.acquire`) does so through these.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run a block in ``path``: drizzlepac reads and writes relative to the CWD."""
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def console_to(log_path: Path) -> Iterator[None]:
    """Send everything drizzlepac prints, and every warning it raises, to ``log_path``.

    The pipeline's warnings are part of its log, not errors of the harness: they are
    recorded there whatever the caller's warning filters say.
    """
    with (
        open(log_path, "a", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                log.write(
                    f"WARNING: {warning.category.__name__}: {warning.message} "
                    f"[{warning.filename}:{warning.lineno}]\n"
                )


def copy_inputs(paths: Sequence[Path], workdir: Path) -> list[Path]:
    """Copy files into ``workdir`` (created if needed); return the copies' paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in paths:
        target = workdir / path.name
        shutil.copyfile(path, target)
        copies.append(target)
    return copies


def quiet_import(name: str) -> ModuleType:
    """Import a module (``drizzlepac.tweakback``, say) with the deprecation warnings of its
    dependencies ignored: they are the pipeline's, not the harness's (a strict warnings
    filter, such as skyqa's own tests use, would make them errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)
