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

from skyqa.cache import file_digest
from skyqa.download import Download, download_product, product_file_name
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import MastSpec
from skyqa.headers import duplicate_rootnames
from skyqa.names import rootname_of_name
from skyqa.offline import is_network_error

if TYPE_CHECKING:
    from astropy.table import Table

MANIFEST = "manifest.json"
TOKEN_ENV = "MAST_API_TOKEN"


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


def fetch(
    spec: MastSpec,
    directory: Path,
    progress: Callable[[str], None] = lambda message: None,
    observations: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    kinds: tuple[str, str] = ("flt", "drz"),
) -> list[Path]:
    """Make ``directory`` hold the field's verified products and their manifest.

    Uses the folder as it is when its manifest matches the spec's query and every file
    verifies (no network); otherwise queries MAST and downloads what is missing. The
    products are fetched and returned sorted by file name, and must be the files the spec
    declares (`expected_problem`; ``kinds``: the suffixes of the detector's exposures and
    visit mosaics, ("flc", "drc") for the CTE-corrected CCD products).

    Raises
    ------
    NetworkUnavailableError
        If MAST cannot be reached (the folder is not created for nothing).
    AcquisitionError
        If a product cannot be downloaded, or the products are not the declared ones.
    """
    manifest = read_manifest(directory) or {"files": []}
    same_query = manifest.get("query") == _query_record(spec)
    kept = _verified_entries(directory, manifest) if same_query else {}
    if same_query and len(kept) == len(manifest["files"]):
        paths = sorted(download.path for download in kept.values())
        problem = expected_problem(spec, [path.name for path in paths], kinds)
        if problem:
            raise AcquisitionError(f"The files listed in {directory / MANIFEST}: {problem}")
        return paths
    products = query_products(spec, observations)
    products = products[sorted(range(len(products)), key=lambda i: products["productFilename"][i])]
    names = [product_file_name(product) for product in products]  # before anything is written
    problem = expected_problem(spec, names, kinds)
    if problem:
        raise AcquisitionError(f"MAST's answer to the [mast] query of the spec: {problem}")
    progress(f"MAST lists {len(products)} products for obs_id {spec.obs_id}")
    directory.mkdir(parents=True, exist_ok=True)
    if not same_query:  # files of another query, still named as these products are
        kept = _verified_entries(directory, manifest)
    downloads = []
    for index, (product, name) in enumerate(zip(products, names, strict=True), start=1):
        if name in kept:  # verified by an earlier fetch and unchanged since
            downloads.append(kept[name])
            continue
        downloads.append(download_product(product, directory, observations, progress, sleep=sleep))
        progress(f"downloaded {name} ({index}/{len(products)})")

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


def expected_problem(
    spec: MastSpec, names: list[str], kinds: tuple[str, str] = ("flt", "drz")
) -> str:
    """What is wrong with a list of product file names against the spec's declared
    ``expected_rootnames`` (exposures, ``*_<kinds[0]>.fits``) and ``expected_associations``
    (visit mosaics, ``*_<kinds[1]>.fits``); "" if nothing is, or the spec declares none."""
    problems = []
    declarations = zip(kinds, (spec.expected_rootnames, spec.expected_associations), strict=True)
    for kind, declared in declarations:
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
