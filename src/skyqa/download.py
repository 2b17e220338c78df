"""Downloading one archive file as carefully as a good archive client does.

Timeouts on every request; every transient failure retried with back-off (or the
server's Retry-After); a partial file resumed only under the validator it was started
with; the size checked against what the server served; the FITS file verified, to its
end, as the product it claims to be. Headers go with each request: nothing is left on
the (shared) session. Used by `skyqa.mast`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from astropy.io import fits

from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.names import rootname_of_name

DOWNLOAD_ATTEMPTS = 5
BACKOFF_SECONDS = 2.0
"""Waits between attempts double from this: 2, 4, 8, 16 s (or the server's Retry-After)."""
MAX_WAIT_SECONDS = 120.0
"""The longest Retry-After honoured."""
RETRIED_STATUSES = {408, 429, 500, 502, 503, 504}
TIMEOUT_SECONDS = (30.0, 120.0)
"""(connect, read) timeouts of a download request: a stalled socket is given up after
two minutes without a byte and retried (astroquery's default is to wait for ever)."""
CHUNK_BYTES = 1 << 20
PRODUCT_SUFFIXES = ("raw", "ima", "flt", "flc", "drz", "drc", "asn", "spt", "trl", "crj", "crc")
"""The suffixes of the WFC3 and ACS products a MAST product list may name."""
PRODUCT_NAME = re.compile(rf"[a-z0-9]{{9}}_({'|'.join(PRODUCT_SUFFIXES)})\.fits", re.IGNORECASE)
"""A product's file name: its 9-character rootname, a known suffix, ``.fits``; nothing
else (no folder, no ``..``), so that a name from MAST cannot point outside the folder."""


def product_file_name(product: Any) -> str:
    """The file name of a MAST product, refused unless it is a plain HST product name.

    Raises
    ------
    AcquisitionError
        If ``productFilename`` is not a plain HST product file name (`PRODUCT_NAME`).
    """
    name = str(product["productFilename"])
    if not PRODUCT_NAME.fullmatch(name):
        raise AcquisitionError(
            f"MAST's product list names a file {name!r}, which is not an HST product file "
            f"name (a 9-character rootname, _{'/_'.join(PRODUCT_SUFFIXES)}, .fits): nothing "
            "was written for it; report the answer to the archive if it persists."
        )
    return name


def fits_problem(path: Path, product_name: str | None = None) -> str | None:
    """Why a downloaded file is not usable, or None if it is.

    The FITS file must open, verify, and have its data read to the end (a truncated file
    fails here); with ``product_name``, its header must say it is that product: FILENAME
    (where present) equal to the name and, for the archive's ``<rootname>_<kind>.fits``
    names, ROOTNAME equal to the name's rootname. A file of the wrong product, or a
    server's error page saved under a product's name, is caught here.
    """
    if not path.is_file():
        return "missing"
    try:
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("exception")
            for hdu in hdul:
                _ = hdu.data
            header = hdul[0].header
            filename = str(header.get("FILENAME", "")).strip()
            rootname = str(header.get("ROOTNAME", "")).strip()
    except Exception as error:
        return f"not a readable FITS file ({type(error).__name__}: {error})"
    if product_name is None:
        return None
    if filename and filename.lower() != product_name.lower():
        return f"its header says FILENAME = {filename!r}, not {product_name!r}"
    expected_root = rootname_of_name(product_name)
    if not product_name.startswith("hst_") and rootname and rootname.lower() != expected_root:
        return f"its header says ROOTNAME = {rootname!r}, not {expected_root!r}"
    return None


@dataclass(frozen=True)
class Download:
    """One verified product file and what the server said about it."""

    path: Path
    served_size: int
    """Bytes the server announced and sent (Content-Length or Content-Range)."""
    listed_size: int | None
    """The product list's ``size``: MAST's catalogue value, which astroquery does not
    trust either; a difference is noted in the manifest, not an error."""
    validator: str | None
    """The server's ETag (else Last-Modified) of the file, if it gave one."""

    def note(self) -> str:
        """A sentence for the manifest when the listed and served sizes differ."""
        if self.listed_size is None or self.listed_size == self.served_size:
            return ""
        return (
            f"the product list gives {self.listed_size} bytes; the server served "
            f"{self.served_size} and the file verifies (the list's sizes are not maintained "
            "when the archive reprocesses a file)"
        )


class _IncompleteError(Exception):
    """The server closed the response before the bytes it announced had arrived."""


def _transient(error: BaseException) -> bool:
    """Whether a download error is worth another attempt: connection reset or refused,
    timeouts, a body cut short (chunked-encoding or incomplete reads)."""
    import requests

    return isinstance(
        error,
        (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            _IncompleteError,
        ),
    )


def _state_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def _read_state(partial: Path) -> dict:
    try:
        return json.loads(_state_path(partial).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)
    _state_path(partial).unlink(missing_ok=True)


def _transfer(session: Any, url: str, partial: Path, timeout: tuple[float, float]) -> tuple:
    """One GET of ``url`` into ``partial``: continued with a Range request (guarded by the
    validator the file was started with, ``If-Range``) when part of it is there.

    Headers go with this request only: nothing is set on the (shared) session. Returns
    (bytes the server announced for the whole file, its validator). Raises
    ``requests`` errors, or `_IncompleteError` when fewer bytes arrived than announced.
    """
    state = _read_state(partial)
    have = partial.stat().st_size if partial.is_file() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = state["validator"]
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        response.raise_for_status()
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        announced = response.headers.get("Content-Length")
        size: int | None
        if response.status_code == 206:
            start, _, total = response.headers["Content-Range"].split(" ")[-1].partition("/")
            if int(start.split("-")[0]) != have:
                raise _IncompleteError(f"the server resumed at byte {start}, not {have}")
            size, mode = int(total), "ab"
        else:  # the whole file: a first request, or the file changed (If-Range failed)
            size, mode = (int(announced) if announced else None), "wb"
        _state_path(partial).write_text(json.dumps({"url": url, "validator": validator}))
        with open(partial, mode) as handle:
            for chunk in response.iter_content(CHUNK_BYTES):
                handle.write(chunk)
    got = partial.stat().st_size
    if size is not None and got != size:
        raise _IncompleteError(f"{got} of {size} bytes arrived")
    return got, validator


def _retry_after(response: Any) -> float | None:
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return min(float(value), MAX_WAIT_SECONDS) if value else None
    except ValueError:
        return None  # an HTTP date: use the back-off


def download_product(
    product: Any,
    directory: Path,
    observations: Any = None,
    progress: Callable[[str], None] = lambda message: None,
    attempts: int = DOWNLOAD_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    timeout: tuple[float, float] = TIMEOUT_SECONDS,
) -> Download:
    """Download one product into ``directory``, resuming a partial file, with retries.

    The file is written as ``<name>.part`` (with ``<name>.part.json``: the URL and the
    server's validator) and renamed when it verifies (`fits_problem`) at the size the
    server served. Every transient failure (connection reset or refused, timeout, a body
    cut short, HTTP 429 and 5xx) is retried after a wait that doubles each time, or the
    server's Retry-After. A partial file is resumed only under the validator it was
    started with (``If-Range``: a file the archive replaced since comes whole); one with
    no validator is started again.

    Raises
    ------
    NetworkUnavailableError
        If no attempt reached the server at all.
    AcquisitionError
        If the file still does not verify after the last attempt, or the server refused it.
    """

    if observations is None:
        from astroquery.mast import Observations

        observations = Observations
    name = product_file_name(product)
    listed = int(product["size"]) if product["size"] else None
    target = directory / name
    partial = directory / f"{name}.part"
    if partial.is_file() and not _read_state(partial).get("validator"):
        _discard(partial)  # no way to tell whether the server's file is still this one
    base = observations._portal_api_connection.MAST_DOWNLOAD_URL
    url = f"{base}?uri={quote(str(product['dataURI']), safe=':/')}"
    problem: str | None = "not attempted"
    reached = False
    for attempt in range(1, attempts + 1):
        wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
        try:
            served, validator = _transfer(observations._session, url, partial, timeout)
            reached = True
            problem = fits_problem(partial, name)
            if problem is None:
                os.replace(partial, target)
                _state_path(partial).unlink(missing_ok=True)
                return Download(target, served, listed, validator)
            _discard(partial)  # complete as served, but not the product: start again
        except Exception as error:
            response = getattr(error, "response", None)
            status = getattr(response, "status_code", None)
            reached = reached or status is not None or isinstance(error, _IncompleteError)
            if status is None and not _transient(error):
                raise
            if status is not None and status not in RETRIED_STATUSES:
                problem = f"HTTP {status}"
                break
            problem = f"HTTP {status}" if status else f"{type(error).__name__}: {error}"
            wait = _retry_after(response) or wait
        if attempt < attempts:
            progress(f"{name}: {problem}; retrying in {wait:.0f} s ({attempt}/{attempts})")
            sleep(wait)
    if not reached:
        raise NetworkUnavailableError(
            f"MAST did not answer any of {attempts} requests for {name} ({problem})."
        )
    kept = " (the partial file is kept and resumed)" if partial.is_file() else ""
    raise AcquisitionError(
        f"Could not download {name} from MAST: {problem}, after {attempt} attempt(s); "
        f"run `skyqa fetch` again later{kept}."
    )
