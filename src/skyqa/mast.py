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
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.io import fits

from skyqa.cache import file_digest
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import MastSpec
from skyqa.offline import is_network_error

if TYPE_CHECKING:
    from astropy.table import Table

MANIFEST = "manifest.json"
TOKEN_ENV = "MAST_API_TOKEN"
DOWNLOAD_ATTEMPTS = 5
BACKOFF_SECONDS = 2.0
"""Waits between attempts double from this: 2, 4, 8, 16 s."""
THROTTLED = {429, 502, 503, 504}


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


def fits_problem(path: Path, expected_size: int | None) -> str | None:
    """Why a downloaded file is not usable, or None if it is.

    Checks the size MAST announced (when it did) and that the FITS file opens and its
    data can be read to the end (a truncated file fails here).
    """
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if expected_size and size != expected_size:
        return f"{size} bytes instead of {expected_size}"
    try:
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("exception")
            for hdu in hdul:
                _ = hdu.data
    except Exception as error:
        return f"not a readable FITS file ({type(error).__name__}: {error})"
    return None


def download_product(
    product: Any,
    directory: Path,
    observations: Any = None,
    progress: Callable[[str], None] = lambda message: None,
    attempts: int = DOWNLOAD_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download one product into ``directory``, resuming a partial file, with retries.

    The file is written as ``<name>.part`` and renamed when it verifies. A throttled or
    failed request is retried after a wait that doubles each time.

    Raises
    ------
    NetworkUnavailableError
        If MAST cannot be reached at all.
    AcquisitionError
        If the file still does not verify after the last attempt.
    """
    from urllib.parse import quote

    observations = observations or _observations()
    name = str(product["productFilename"])
    target = directory / name
    expected = int(product["size"]) if product["size"] else None
    if fits_problem(target, expected) is None:
        return target
    partial = directory / f"{name}.part"
    base = observations._portal_api_connection.MAST_DOWNLOAD_URL
    url = f"{base}?uri={quote(str(product['dataURI']), safe=':/')}"
    problem = "not attempted"
    for attempt in range(1, attempts + 1):
        try:
            # astroquery's own downloader: its session carries the login, and
            # continuation=True resumes a partial file with an HTTP Range request.
            observations._download_file(
                url, str(partial), continuation=True, head_safe=True, cache=False, verbose=False
            )
            problem = fits_problem(partial, expected)
            if problem is None:
                os.replace(partial, target)
                return target
            if expected and partial.stat().st_size >= expected:
                partial.unlink()  # complete but corrupt: start again from zero
        except Exception as error:
            status = getattr(getattr(error, "response", None), "status_code", None)
            if status is None and is_network_error(error) and attempt == 1:
                raise NetworkUnavailableError(
                    f"MAST could not be reached to download {name} ({type(error).__name__})."
                ) from error
            problem = f"HTTP {status}" if status else f"{type(error).__name__}: {error}"
            if status is not None and status not in THROTTLED:
                break
        if attempt < attempts:
            wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
            progress(f"{name}: {problem}; retrying in {wait:.0f} s ({attempt}/{attempts})")
            sleep(wait)
    raise AcquisitionError(
        f"Could not download {name} from MAST ({problem}) after {attempts} attempts; run "
        f"`skyqa fetch` again later: a partial file is kept in {directory} and resumed."
    )


def _query_record(spec: MastSpec) -> dict:
    """The query as the manifest stores it (JSON types: lists, not tuples)."""
    return json.loads(json.dumps(asdict(spec)))


def read_manifest(directory: Path) -> dict | None:
    """The manifest of a download folder, or None."""
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


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
    verifies (no network); otherwise queries MAST and downloads what is missing.
    """
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    if manifest is not None and manifest.get("query") == _query_record(spec):
        paths = verified_files(directory, manifest)
        if paths is not None:
            return paths
    products = query_products(spec, observations)
    progress(f"MAST lists {len(products)} products for obs_id {spec.obs_id}")
    paths = []
    for index, product in enumerate(products, start=1):
        paths.append(download_product(product, directory, observations, progress, sleep=sleep))
        progress(f"downloaded {product['productFilename']} ({index}/{len(products)})")
    write_manifest(
        directory,
        spec,
        [
            (path, str(product["dataURI"]), str(product["obs_id"]))
            for path, product in zip(paths, products, strict=True)
        ],
    )
    return paths


def write_manifest(directory: Path, spec: MastSpec, files: list[tuple[Path, str, str]]) -> None:
    """Record a download folder: the query, the time, and per file its data URI, obs_id,
    product kind, size and SHA-256. ``files`` holds (path, data URI, obs_id) triples.

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
            }
            for path, data_uri, obs_id in files
        ],
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
