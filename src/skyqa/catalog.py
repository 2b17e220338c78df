"""Reference catalogs TweakReg aligns to."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skyqa.acquire import ExposureSet
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import FieldSpec
from skyqa.offline import is_network_error
from skyqa.sandbox import console_to

if TYPE_CHECKING:
    # astropy.table is imported where a table is made or read: a run that finds the
    # alignment in its cache never needs the catalog's rows (the import takes 0.15 s).
    from astropy.table import Table

CATALOG_FILENAME = "reference_catalog.ecsv"


@dataclass(frozen=True)
class ReferenceCatalog:
    """A reference catalog (ECSV at ``path``): columns ra, dec (deg, ICRS) and mag;
    where it came from."""

    source: str
    path: Path

    @cached_property
    def table(self) -> Table:
        """The catalog's rows, read when first asked for."""
        from astropy.table import Table

        return Table.read(self.path, format="ascii.ecsv")


GAIA_TABLE = "gaiadr3.gaia_source"


def _standard_columns(table: Table, ra: str, dec: str, mag: str) -> Table:
    """ra, dec (deg) and mag, whatever the source called them."""
    from astropy.table import Table

    standard = Table(
        {
            "ra": np.asarray(table[ra], dtype=float),
            "dec": np.asarray(table[dec], dtype=float),
            "mag": np.asarray(table[mag], dtype=float),
        }
    )
    return standard[np.isfinite(standard["ra"]) & np.isfinite(standard["dec"])]


def gaia_cone_search(ra_deg: float, dec_deg: float, radius_arcmin: float) -> Table:
    """Gaia DR3 sources within ``radius_arcmin`` of a position: ra, dec, mag (G).

    Raises
    ------
    NetworkUnavailableError
        If the Gaia archive cannot be reached.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astroquery.gaia import Gaia

    Gaia.MAIN_GAIA_TABLE = GAIA_TABLE
    Gaia.ROW_LIMIT = -1
    where = f"within {radius_arcmin:g}' of RA {ra_deg:.5f}, Dec {dec_deg:.5f}"
    try:
        job = Gaia.cone_search_async(
            SkyCoord(ra_deg, dec_deg, unit="deg"), radius=radius_arcmin * u.arcmin
        )
        result = job.get_results()
    except Exception as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status is None and is_network_error(error):
            raise NetworkUnavailableError(
                f"The Gaia archive could not be reached ({type(error).__name__})."
            ) from error
        raise AcquisitionError(
            f"The Gaia archive answered the cone search {where} with an error, not a "
            f"catalog ({_first_line(error)}): try again later; if it persists, see "
            "https://www.cosmos.esa.int/web/gaia/news for service status."
        ) from error
    return _service_table(result, "The Gaia archive", where, ("ra", "dec", "phot_g_mean_mag"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160]}" if text else type(error).__name__


def _service_table(table: Table, service: str, where: str, columns: tuple) -> Table:
    """ra, dec, mag from a catalog service's answer, or one sentence on what it sent.

    drizzlepac reads the astrometric service's text answer into a table whatever it is:
    an error line gives a table with no columns, a web page one with a column named
    after its first HTML line, and a field with no sources a table with no rows.

    Raises
    ------
    AcquisitionError
        If the answer is not a catalog, or has no sources.
    """
    names = list(table.colnames)
    lower = {name.lower(): name for name in names}  # an empty answer keeps the service's case
    if any(name.lstrip().startswith("<") for name in names):
        raise AcquisitionError(
            f"{service} answered the query {where} with a web page (HTML), not a catalog: "
            "the service is down, or a proxy answered for it. Try again later."
        )
    if not {column.lower() for column in columns[:2]} <= set(lower):
        found = f"columns {', '.join(names[:6])}" if names else "an error line, no columns"
        raise AcquisitionError(
            f"{service} answered the query {where} with {found}, not a catalog with "
            f"{' and '.join(columns[:2])}: the service failed (its answer is in the step's "
            "log); try again later."
        )
    if len(table) == 0:
        raise AcquisitionError(
            f"{service} found no sources {where}: TweakReg would have nothing to align to. "
            "Check the field's target and footprints, or align to another catalog "
            "([catalog].source)."
        )
    return _standard_columns(table, *(lower.get(column.lower(), column) for column in columns))


def astrometric_catalog(flt_paths: list[Path], workdir: Path) -> Table:
    """drizzlepac's proper-motion catalog (Gaia eDR3 at the exposures' epoch) for the
    exposure footprints, as the tutorial makes it: ra, dec, mag.

    Raises
    ------
    NetworkUnavailableError
        If the catalog service cannot be reached.
    """

    log = workdir / "astrometric_catalog.log"
    with console_to(log):  # drizzlepac's import warnings too
        from drizzlepac.haputils.astrometric_utils import create_astrometric_catalog

        try:
            table = create_astrometric_catalog(
                [str(path) for path in sorted(flt_paths)],  # the epoch is the first one's
                catalog="GAIAeDR3",
                output=str(workdir / "astrometric_raw.ecsv"),
            )
        except Exception as error:
            if is_network_error(error):
                raise NetworkUnavailableError(
                    f"The astrometric catalog service could not be reached "
                    f"({type(error).__name__})."
                ) from error
            raise AcquisitionError(
                f"drizzlepac's create_astrometric_catalog failed ({_first_line(error)}); "
                f"its log is {log}."
            ) from error
    where = f"for the footprints of {len(flt_paths)} exposures (GAIAeDR3)"
    return _service_table(table, "The astrometric catalog service", where, ("RA", "DEC", "mag"))


def read_catalog_file(path: Path) -> Table:
    """A user's catalog: columns ra, dec (deg) and optionally mag, any case, any format
    astropy reads (ECSV, CSV, whitespace-separated with a header).

    Raises
    ------
    AcquisitionError
        If the file cannot be read or lacks ra and dec columns.
    """
    from astropy.table import Table

    try:
        table = Table.read(path, format="ascii")
    except Exception as error:
        raise AcquisitionError(f"Cannot read the reference catalog {path}: {error}") from error
    names = {name.lower(): name for name in table.colnames}
    if "ra" not in names or "dec" not in names:
        raise AcquisitionError(
            f"The reference catalog {path} has columns {', '.join(table.colnames)}; skyqa "
            "needs 'ra' and 'dec' in degrees (and optionally 'mag')."
        )
    if "mag" not in names:
        table["mag"] = np.zeros(len(table))
        names["mag"] = "mag"
    return _standard_columns(table, names["ra"], names["dec"], names["mag"])


def fetched_catalog_path(field: FieldSpec, download_dir: Path) -> Path:
    """Where a real field's reference catalog is kept once fetched."""
    radius = f"{field.catalog.radius_arcmin:g}arcmin"
    return download_dir / f"catalog_{field.catalog.source}_{radius}.ecsv"


def drop_close_pairs(table: Table, min_separation_arcsec: float) -> Table:
    """The catalog without the stars that have another star closer than the limit.

    Both stars of a close pair go: an image that does not resolve them sees one blended
    source, and TweakReg would match it to each of them, with residuals of half their
    separation that inflate the fit RMS. ``table`` needs ``ra`` and ``dec`` in degrees;
    a limit of 0 returns it unchanged.
    """
    if min_separation_arcsec <= 0 or len(table) < 2:
        return table
    from scipy.spatial import cKDTree

    dec0 = np.deg2rad(float(np.mean(table["dec"])))
    east = np.asarray(table["ra"], float) * np.cos(dec0) * 3600.0
    north = np.asarray(table["dec"], float) * 3600.0
    pairs = cKDTree(np.column_stack([east, north])).query_pairs(min_separation_arcsec)
    crowded = sorted({index for pair in pairs for index in pair})
    if not crowded:
        return table
    keep = np.ones(len(table), dtype=bool)
    keep[crowded] = False
    kept = table[keep]
    kept.meta["dropped_close_pairs"] = f'{len(crowded)} stars within {min_separation_arcsec}"'
    return kept


def build_reference_catalog(
    field: FieldSpec,
    exposures: ExposureSet,
    workdir: Path,
    download_dir: Path | None = None,
) -> ReferenceCatalog:
    """Write the field's reference catalog into ``workdir`` as ECSV.

    Real catalogs (Gaia, astrometric) are queried once and kept in ``download_dir``
    (beside the downloaded exposures), so later runs need no network.

    Raises
    ------
    AcquisitionError
        If a synthetic field's generated catalog is missing, or the catalog is empty.
    NetworkUnavailableError
        If a real catalog is not kept yet and its service cannot be reached.
    """
    from astropy.table import Table

    source = field.catalog.source
    if source == "synthetic":
        if exposures.catalog_path is None or not exposures.catalog_path.is_file():
            raise AcquisitionError(
                f"Field {field.name}: the synthetic catalog is missing from {exposures.directory}."
            )
        # ra, dec, mag as a real catalog gives them: the truth columns stay in the file.
        generated = Table.read(exposures.catalog_path, format="ascii.ecsv")
        table = _standard_columns(generated, "ra", "dec", "mag")
    elif source == "file":
        if field.local is None or field.local.catalog is None:
            raise ValueError("a file catalog needs [local].catalog (checked by the spec)")
        table = read_catalog_file(field.local_path(field.local.catalog))
    else:
        if download_dir is None:
            raise ValueError("a real catalog needs a download directory")
        kept = fetched_catalog_path(field, download_dir)
        if kept.is_file():
            table = Table.read(kept, format="ascii.ecsv")
        else:
            try:
                if source == "gaia":
                    table = gaia_cone_search(
                        field.target.ra_deg, field.target.dec_deg, field.catalog.radius_arcmin
                    )
                else:
                    table = astrometric_catalog(list(exposures.flt_paths), workdir)
            except NetworkUnavailableError as error:
                raise NetworkUnavailableError(
                    f"Field {field.name}: the {source} reference catalog is not in {kept} and "
                    f"{error} Fetch it with `skyqa fetch {field.name}` on a machine with network."
                ) from error
            download_dir.mkdir(parents=True, exist_ok=True)
            table.write(kept, format="ascii.ecsv", overwrite=True)  # a catalog with sources
    table = drop_close_pairs(table, field.catalog.min_separation_arcsec)
    if len(table) == 0:
        raise AcquisitionError(
            f"Field {field.name}: the {source} reference catalog has no sources; "
            "TweakReg has nothing to align to."
        )
    path = workdir / CATALOG_FILENAME
    table.write(path, format="ascii.ecsv", overwrite=True)
    return ReferenceCatalog(source=source, path=path)
