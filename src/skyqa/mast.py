"""Real fields from MAST: query, download (resumable, retried, verified) and a manifest.

The downloads of a field live in ``<cache>/<field>/mast/``, whatever the software
versions: they are data, not results. ``manifest.json`` there records the query, when it
ran, and every file's data URI, size and SHA-256. A field whose manifest lists files that
are all present and verified is used without asking MAST anything: once fetched, runs
need no network.

A MAST token for proprietary data is read from ``MAST_API_TOKEN`` and handed to
astroquery's login; it is never printed, logged or written into the manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.io import fits

from skyqa.cache import file_digest
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import MastSpec
from skyqa.names import rootname_of_name
from skyqa.offline import is_network_error

if TYPE_CHECKING:
    from astropy.table import Table

MANIFEST = "manifest.json"
TOKEN_ENV = "MAST_API_TOKEN"
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


def _observations():
    from astroquery.mast import Observations

    return Observations


def login_from_environment(observations: Any) -> bool:
    """Log astroquery in with ``MAST_API_TOKEN`` if it is set; return whether it was."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        return False
    observations.login(token=token)
    return True


def query_products(spec: MastSpec, observations: Any = None) -> Table:
    """The field's products on MAST: observations by obs_id, proposal and filters, then
    their products of the wanted kinds (FLT, DRZ) and project (CALWF3).

    Raises
    ------
    NetworkUnavailableError
        If MAST cannot be reached.
    AcquisitionError
        If the query finds no observation, or no product of the wanted kinds.
    """
    observations = observations or _observations()
    criteria = {
        "obs_id": spec.obs_id,
        "proposal_id": spec.proposal_id,
        "filters": list(spec.filters),
    }
    from astroquery.exceptions import NoResultsWarning

    try:
        login_from_environment(observations)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoResultsWarning)  # an empty result is ours to report
            found = observations.query_criteria(**criteria)
        if len(found) == 0:
            raise AcquisitionError(
                f"MAST has no observation with obs_id {spec.obs_id}, proposal "
                f"{spec.proposal_id}, filters {', '.join(spec.filters)}: check the [mast] "
                "section of the field spec (and, for proprietary data, MAST_API_TOKEN)."
            )
        products = observations.get_product_list(found)
    except AcquisitionError:
        raise
    except Exception as error:
        if is_network_error(error):
            raise NetworkUnavailableError(
                f"MAST could not be reached ({type(error).__name__})."
            ) from error
        raise
    selected = observations.filter_products(
        products,
        productSubGroupDescription=list(spec.products),
        project=[spec.project],
        extension="fits",
    )
    if len(selected) == 0:
        raise AcquisitionError(
            f"MAST lists {len(products)} products for obs_id {spec.obs_id}, none of them "
            f"{'/'.join(spec.products)} from {spec.project}."
        )
    return unique_products(selected)


def unique_products(products: Table) -> Table:
    """One row per file name (visit products are listed once per member observation)."""
    seen, keep = set(), []
    for index, name in enumerate(products["productFilename"]):
        if name not in seen:
            seen.add(name)
            keep.append(index)
    return products[keep]


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
    from urllib.parse import quote

    observations = observations or _observations()
    name = str(product["productFilename"])
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


QUERY_KEYS = ("obs_id", "proposal_id", "filters", "products", "project")
"""The [mast] keys that make the query (the declared files only check its answer)."""


def _query_record(spec: MastSpec) -> dict:
    """The query as the manifest stores it (JSON types: lists, not tuples)."""
    return json.loads(json.dumps({key: asdict(spec)[key] for key in QUERY_KEYS}))


def read_manifest(directory: Path) -> dict | None:
    """The manifest of a download folder, or None."""
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _verified_entries(directory: Path, manifest: dict) -> dict[str, Download]:
    """The files of an earlier manifest still present with their recorded SHA-256."""
    kept = {}
    for entry in manifest["files"]:
        path = directory / entry["filename"]
        present = path.is_file() and path.stat().st_size == entry["size"]
        if present and file_digest(path) == entry["sha256"]:
            listed = entry.get("listed_size", entry["size"])
            kept[path.name] = Download(path, entry["size"], listed, entry.get("validator"))
    return kept


def verified_files(directory: Path, manifest: dict) -> list[Path] | None:
    """The manifest's files if every one is present with its recorded SHA-256, else None."""
    paths = []
    for entry in manifest["files"]:
        path = directory / entry["filename"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return None
        if file_digest(path) != entry["sha256"]:
            return None
        paths.append(path)
    return paths


def fetch(
    spec: MastSpec,
    directory: Path,
    progress: Callable[[str], None] = lambda message: None,
    observations: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Path]:
    """Make ``directory`` hold the field's verified products and their manifest.

    Uses the folder as it is when its manifest matches the spec's query and every file
    verifies (no network); otherwise queries MAST and downloads what is missing. The
    products are fetched and returned sorted by file name, and must be the files the spec
    declares (`expected_problem`).

    Raises
    ------
    NetworkUnavailableError
        If MAST cannot be reached (the folder is not created for nothing).
    AcquisitionError
        If a product cannot be downloaded, or the products are not the declared ones.
    """
    manifest = read_manifest(directory)
    if manifest is not None and manifest.get("query") == _query_record(spec):
        paths = verified_files(directory, manifest)
        if paths is not None:
            problem = expected_problem(spec, [path.name for path in paths])
            if problem:
                raise AcquisitionError(f"The files listed in {directory / MANIFEST}: {problem}")
            return sorted(paths)
    products = query_products(spec, observations)
    products = products[sorted(range(len(products)), key=lambda i: products["productFilename"][i])]
    problem = expected_problem(spec, [str(name) for name in products["productFilename"]])
    if problem:
        raise AcquisitionError(f"MAST's answer to the [mast] query of the spec: {problem}")
    progress(f"MAST lists {len(products)} products for obs_id {spec.obs_id}")
    directory.mkdir(parents=True, exist_ok=True)
    kept = _verified_entries(directory, manifest if manifest else {"files": []})
    downloads = []
    for index, product in enumerate(products, start=1):
        name = str(product["productFilename"])
        if name in kept:  # verified by an earlier fetch and unchanged since
            downloads.append(kept[name])
            continue
        downloads.append(download_product(product, directory, observations, progress, sleep=sleep))
        progress(f"downloaded {name} ({index}/{len(products)})")
    from skyqa.headers import duplicate_rootnames

    duplicated = duplicate_rootnames([download.path for download in downloads])
    if duplicated:
        raise AcquisitionError(duplicated)
    write_manifest(
        directory,
        spec,
        [
            (download.path, str(product["dataURI"]), str(product["obs_id"]))
            for download, product in zip(downloads, products, strict=True)
        ],
        notes={download.path.name: download.note() for download in downloads},
        served={download.path.name: download for download in downloads},
    )
    return [download.path for download in downloads]


def _served_record(download: Download | None) -> dict:
    if download is None:
        return {}
    return {"listed_size": download.listed_size, "validator": download.validator}


def expected_problem(spec: MastSpec, names: list[str]) -> str:
    """What is wrong with a list of product file names against the spec's declared
    ``expected_rootnames`` (FLTs) and ``expected_associations`` (visit DRZs); "" if
    nothing is, or the spec declares none."""
    problems = []
    for kind, declared in (("flt", spec.expected_rootnames), ("drz", spec.expected_associations)):
        if not declared:
            continue
        found = {rootname_of_name(name) for name in names if name.endswith(f"_{kind}.fits")}
        wanted = {name.lower() for name in declared}
        missing, extra = sorted(wanted - found), sorted(found - wanted)
        if missing:
            problems.append(
                f"{len(missing)} declared {kind.upper()}(s) missing: {', '.join(missing)}"
            )
        if extra:
            problems.append(f"{len(extra)} {kind.upper()}(s) not declared: {', '.join(extra)}")
    if not problems:
        return ""
    return (
        "; ".join(problems)
        + ". The field's products are not the ones its spec declares: check the query "
        "(obs_id, proposal, filters) and [mast].expected_rootnames / expected_associations."
    )


def write_manifest(
    directory: Path,
    spec: MastSpec,
    files: list[tuple[Path, str, str]],
    notes: dict[str, str] | None = None,
    served: dict[str, Download] | None = None,
) -> None:
    """Record a download folder: the query, the time, and per file its data URI, obs_id,
    product kind, size, SHA-256 and any note (``notes``, by file name: a listed size the
    server did not serve) and, for downloads (``served``), the listed size and the
    server's validator. ``files`` holds (path, data URI, obs_id) triples.

    A folder filled by other means (copied from a machine with network) becomes usable
    offline once it has this manifest.
    """
    manifest = {
        "query": _query_record(spec),
        "fetched_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": [
            {
                "filename": path.name,
                "dataURI": data_uri,
                "obs_id": obs_id,
                "product": path.stem.rsplit("_", 1)[-1].upper(),
                "size": path.stat().st_size,
                "sha256": file_digest(path),
                **({"note": (notes or {})[path.name]} if (notes or {}).get(path.name) else {}),
                **_served_record((served or {}).get(path.name)),
            }
            for path, data_uri, obs_id in sorted(files)
        ],
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
