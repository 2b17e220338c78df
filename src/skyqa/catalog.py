"""Reference catalogs TweakReg aligns to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from astropy.table import Table

from skyqa.acquire import ExposureSet
from skyqa.errors import AcquisitionError, NetworkUnavailableError
from skyqa.field import FieldSpec

CATALOG_FILENAME = "reference_catalog.ecsv"


@dataclass(frozen=True)
class ReferenceCatalog:
    """A reference catalog: columns ra, dec (deg, ICRS) and mag; where it came from."""

    source: str
    path: Path
    table: Table


def build_reference_catalog(
    field: FieldSpec, exposures: ExposureSet, workdir: Path
) -> ReferenceCatalog:
    """Write the field's reference catalog into ``workdir`` as ECSV.

    Raises
    ------
    AcquisitionError
        If a synthetic field's generated catalog is missing or empty.
    NetworkUnavailableError
        For the Gaia and astrometric sources, which are not available in this version.
    """
    source = field.catalog.source
    if source == "synthetic":
        if exposures.catalog_path is None or not exposures.catalog_path.is_file():
            raise AcquisitionError(
                f"Field {field.name}: the synthetic catalog is missing from {exposures.directory}."
            )
        table = Table.read(exposures.catalog_path, format="ascii.ecsv")
    else:
        raise NetworkUnavailableError(
            f"Field {field.name}: the {source!r} reference catalog needs a query to the Gaia "
            "archive, which is not available in this version of skyqa."
        )
    if len(table) == 0:
        raise AcquisitionError(
            f"Field {field.name}: the {source} reference catalog has no sources; "
            "TweakReg has nothing to align to."
        )
    path = workdir / CATALOG_FILENAME
    table.write(path, format="ascii.ecsv", overwrite=True)
    return ReferenceCatalog(source=source, path=path, table=table)
