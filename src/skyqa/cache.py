"""A keyed, atomic, locked on-disk cache of pipeline results.

Layout: ``<root>/<field>/<stage>-<key>/`` holds one result, with ``MANIFEST.json``
recording the key's inputs, the result's own description and every file's size,
modification time and SHA-256. An entry is built in a temporary sibling directory and
renamed into place only when complete, so a run killed mid-step never leaves an entry a
later run would trust. An exclusive file lock per entry makes concurrent sessions build
each entry once. On reuse, every file's size and modification time are compared with the
manifest; an entry whose files changed is rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from filelock import FileLock

from skyqa.errors import CacheError

MANIFEST = "MANIFEST.json"
KEY_PACKAGES = (
    "drizzlepac",
    "stwcs",
    "stsci.skypac",
    "spherical_geometry",
    "astropy",
    "numpy",
)
"""Packages whose versions key every cached result: a change in any of them recomputes."""


def package_versions(packages: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed version of each package ('not installed' where absent)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/skyqa``, else ``~/.cache/skyqa``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "skyqa"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(paths: Iterable[Path], threads: int = 4) -> list[str]:
    """`file_digest` of each path, in order, several at once (hashlib releases the GIL)."""
    paths = list(paths)
    if len(paths) < 2:
        return [file_digest(path) for path in paths]
    with ThreadPoolExecutor(min(threads, len(paths))) as pool:
        return list(pool.map(file_digest, paths))


def key_digest(key: dict[str, Any]) -> str:
    """SHA-256 of a key's canonical JSON."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """A complete cache entry: its directory and its manifest."""

    directory: Path
    manifest: dict[str, Any]
    reused: bool

    @property
    def record(self) -> dict[str, Any]:
        """The description the builder returned for this result."""
        return self.manifest["record"]

    @property
    def content_digest(self) -> str:
        """A digest of every file in the entry: the key of anything made from it."""
        return key_digest({"files": self.manifest["files"]})


def _describe_files(directory: Path) -> dict[str, dict[str, Any]]:
    paths = [
        path for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST
    ]
    files = {}
    for path, digest in zip(paths, file_digests(paths), strict=True):
        stat = path.stat()
        files[str(path.relative_to(directory))] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": digest,
        }
    return files


def _unchanged(directory: Path, manifest: dict[str, Any]) -> bool:
    for relative, described in manifest.get("files", {}).items():
        try:
            stat = (directory / relative).stat()
        except FileNotFoundError:
            return False
        if stat.st_size != described["size"] or stat.st_mtime_ns != described["mtime_ns"]:
            return False
    return True


class Cache:
    """The cache under one root directory.

    Parameters
    ----------
    root : Path
        Created if missing; a relative path is taken from the current directory.

    Raises
    ------
    CacheError
        If ``root`` cannot be created or written.
    """

    def __init__(self, root: Path) -> None:
        # Absolute: the pipeline's steps run inside their entries' folders (drizzlepac
        # reads and writes relative to the working directory).
        self.root = Path(root).expanduser().absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(
                f"Cannot create the skyqa cache directory {self.root}: {error.strerror}. "
                "Choose another with --skyqa-cache-dir or SKYQA_CACHE_DIR."
            ) from error
        if not os.access(self.root, os.W_OK):
            raise CacheError(
                f"The skyqa cache directory {self.root} is not writable. "
                "Choose another with --skyqa-cache-dir or SKYQA_CACHE_DIR."
            )

    def _load(self, directory: Path) -> dict[str, Any] | None:
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return manifest if _unchanged(directory, manifest) else None

    @contextlib.contextmanager
    def _lock(self, lock_path: Path) -> Iterator[None]:
        # filelock: flock on POSIX, msvcrt on Windows. The lock file stays (as the
        # entry's marker while it is built; a failed first build removes it).
        with FileLock(lock_path, thread_local=False, preserve_lock_file=True):
            yield

    def find(self, field: str, stage: str, key: dict[str, Any]) -> CacheEntry | None:
        """The complete, unchanged entry for ``key``, or None (nothing is built)."""
        directory = self.root / field / f"{stage}-{key_digest(key)[:20]}"
        manifest = self._load(directory)
        return None if manifest is None else CacheEntry(directory, manifest, reused=True)

    def get_or_build(
        self,
        field: str,
        stage: str,
        key: dict[str, Any],
        build: Callable[[Path], dict[str, Any]],
    ) -> CacheEntry:
        """Return the entry for ``key``, building it with ``build(directory)`` if needed.

        ``build`` fills the new, empty directory it is given and returns a JSON-able
        description of the result with paths relative to that directory.
        """
        found = self.find(field, stage, key)
        if found is not None:
            return found
        digest = key_digest(key)[:20]
        parent = self.root / field
        parent.mkdir(parents=True, exist_ok=True)
        final = parent / f"{stage}-{digest}"
        lock = parent / f".{stage}-{digest}.lock"
        try:
            return self._build_locked(field, stage, key, build, final, lock)
        except BaseException:
            # A failed first build (no network, say) leaves no lock file and no empty
            # field folder behind; a folder holding anything else is kept.
            with contextlib.suppress(OSError):
                if not final.exists():
                    lock.unlink()
                parent.rmdir()
            raise

    def _build_locked(
        self,
        field: str,
        stage: str,
        key: dict[str, Any],
        build: Callable[[Path], dict[str, Any]],
        final: Path,
        lock: Path,
    ) -> CacheEntry:
        parent = final.parent
        digest = final.name.rsplit("-", 1)[-1]
        with self._lock(lock):
            manifest = self._load(final)
            if manifest is not None:
                return CacheEntry(final, manifest, reused=True)
            # Holding the lock, any other scratch folder of this entry is a killed run's.
            for leftover in parent.glob(f".building-{stage}-{digest}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            scratch = parent / f".building-{stage}-{digest}-{os.getpid()}"
            scratch.mkdir()
            try:
                started = time.perf_counter()
                try:
                    record = build(scratch)
                except OSError as error:
                    if error.errno == errno.ENOSPC:
                        raise CacheError(
                            f"The disk of the skyqa cache {self.root} is full while building "
                            f"{stage} for {field}; free space or choose another cache with "
                            "--skyqa-cache-dir."
                        ) from error
                    raise
                manifest = {
                    "stage": stage,
                    "key": key,
                    "record": record,
                    "build_seconds": round(time.perf_counter() - started, 3),
                    "files": _describe_files(scratch),
                }
                (scratch / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
                if final.exists():
                    shutil.rmtree(final)
                os.rename(scratch, final)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        return CacheEntry(final, manifest, reused=False)
