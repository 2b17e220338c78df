"""Synthetic WFC3/IR fields with known truth, generated offline from a seed.

`generate_synthetic_field` writes, for a field spec of kind ``synthetic``:

- one ``<rootname>_flt.fits`` per planned exposure, with the keyword set, extensions
  (SCI, ERR, DQ, SAMP, TIME) and units (ELECTRONS/S) of real WFC3/IR FLTs, the real SIP
  distortion of IDCTAB w3m18525i (``IDCTAB = 'N/A'``, so no reference file is needed),
  and a header WCS that carries a per-visit pointing error;
- one visit mosaic ``<asn_id>_drz.fits`` per visit, made by AstroDrizzle with
  ``build=True`` as the archive makes them (their ``D00nDATA`` keywords let tweakback
  find the FLTs, and the FLTs carry the visit drizzle's MDRIZSKY, as archive FLTs do);
- ``reference_catalog.ecsv``: a Gaia-like catalog, carried from its epoch to the
  exposures' with measured proper motions, so with Gaia DR3-like errors;
- ``truth.json``: every injected quantity (true and header WCS, pointing errors, sky
  pedestals, nebula, star counts, distortion residual, unflagged hits, catalog errors).

The scene is defined on the sky, so overlapping exposures see the same stars and
nebula: diffuse emission covering much of the mosaic (so that ``localmin`` is biased tile
by tile), stars with a Moffat PSF integrated over pixels, a sky pedestal per exposure,
Poisson and read noise, and DQ flags (hot pixels flagged 16 with valid data, dead pixels
flagged 4 and IR blobs flagged 512 with bad data).

The replica is not its own mirror: what a real field brings and the pipeline cannot
model is there too, each with a size set in the spec's ``[synthetic]`` table (0 turns it
off) and drawn from a random stream of its own (turning one off leaves the rest of the
realisation as it was):

- the true distortion differs from the header SIP by a smooth residual field
  (``distortion_residual_pix`` RMS), the size of the WFC3/IR solution's residuals;
- each exposure has a pointing error of its own on top of its visit's
  (``exposure_jitter_mas``), which one rscale fit per visit cannot remove;
- the stars move (``proper_motion_dispersion_mas_yr``) and the catalog knows their
  positions at ``catalog_epoch`` and their motions only to Gaia DR3-like errors, or not
  at all for faint 2-parameter stars;
- residual cosmic-ray hits and IR snowballs are left in the data with DQ 0.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skyqa.errors import AcquisitionError
from skyqa.field import FieldSpec
from skyqa.simulate.ccd import build_flc, render_chip
from skyqa.simulate.files import build_flt
from skyqa.simulate.geometry import (
    ARCSEC_PER_RAD,
    DAYS_PER_YEAR,
    ExposureGeometry,
    PointingError,
    decimal_year,
    distortion_residual,
    distortion_terms,
    from_tangent_offsets,
    pixel_area_arcsec2,
    plan_geometry,
    sip_wcs_header,
    tangent_offsets,
    true_sky,
)
from skyqa.simulate.render import ExposureArrays, render_exposure
from skyqa.simulate.scene import Scene, make_scene, reference_catalog
from skyqa.workers import worker_pool

if TYPE_CHECKING:
    # Imported where the field is generated: a QA run reads only the truth (JSON).
    from astropy.table import Table

TRUTH_FILENAME = "truth.json"
CATALOG_FILENAME = "reference_catalog.ecsv"


@dataclass(frozen=True)
class SyntheticField:
    """Paths of a generated synthetic field."""

    directory: Path
    flt_paths: tuple[Path, ...]
    visit_drz_paths: tuple[Path, ...]
    catalog_path: Path
    truth_path: Path


def _truth_document(
    field: FieldSpec,
    geometries: list[ExposureGeometry],
    errors: list[PointingError],
    scene: Scene,
    stars_on: dict[tuple[str, int], int],
    hits: dict[tuple[str, int], list[dict]],
    catalog: Table,
) -> dict:
    """The truth document: one entry per chip of every exposure (``stars_on`` and
    ``hits`` by (rootname, EXTVER)), the visits' pointing errors, the scene."""
    spec = field.synthetic
    assert spec is not None
    error = np.asarray(catalog["error_mas"])
    return {
        "field": field.name,
        "seed": spec.seed,
        "units": {"sky": "e-/s per pixel", "angles": "deg", "shifts": "arcsec"},
        "detector": field.detector,
        "target": asdict(field.target),
        "sky_base_e_s": spec.sky_base_e_s,
        "exposures": [
            {
                **asdict(geometry),
                "sky_pedestal_e_s": scene.pedestal_e_s[geometry.rootname],
                "stars_on_detector": stars_on[(geometry.rootname, geometry.extver)],
                "unflagged_hits": hits[(geometry.rootname, geometry.extver)],
            }
            for geometry in geometries
        ],
        "pointing_errors": [asdict(error) for error in errors],
        "nebula": [
            {name: float(row[name]) for name in scene.nebula.colnames} for row in scene.nebula
        ],
        "n_stars": len(scene.stars),
        # Every star where the exposures see it (deg) and its flux (e-/s, the total a
        # drizzled product holds): the truth of the product's astrometry and photometry.
        "stars": {
            name: [float(value) for value in scene.stars[name]]
            for name in ("ra", "dec", "flux_e_s")
        },
        "n_catalog_stars": len(catalog),
        "catalog": {
            "epoch": catalog.meta["epoch"],
            "catalog_epoch": spec.catalog_epoch,
            "position_error_rms_mas": float(np.sqrt(np.mean(error**2))) if len(error) else 0.0,
            "position_error_max_mas": float(error.max()) if len(error) else 0.0,
            "two_parameter_stars": int(np.sum(catalog["two_parameter"])),
        },
        "distortion_residual": {
            "rms_pix": spec.distortion_residual_pix,
            "terms": list(scene.distortion),
        },
    }


def generate_synthetic_field(
    field: FieldSpec,
    out_dir: Path,
    drizzle_visit: Callable[[list[Path], str, Path], Path],
    progress: Callable[[str], None] = lambda message: None,
    workers: int = 1,
) -> SyntheticField:
    """Write a synthetic field (FLTs, visit DRZs, catalog, truth) into ``out_dir``.

    Parameters
    ----------
    field : FieldSpec
        A spec of kind ``synthetic``.
    out_dir : Path
        Empty or new directory to write into.
    drizzle_visit : callable
        ``drizzle_visit(flt_paths, output_rootname, workdir) -> drz_path`` makes a visit
        mosaic with ``build=True`` in ``workdir`` from FLTs there (see `skyqa.drizzle`).
    progress : callable
        Receives one line of text per step.
    workers : int
        Visits drizzled at once, each in a process and folder of its own (``drizzle_visit``
        must then be picklable: a module-level function).

    Returns
    -------
    SyntheticField
    """
    spec = field.synthetic
    if spec is None:
        raise AcquisitionError(f"Field {field.name} is of kind {field.kind}, not synthetic.")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    ra, dec = field.target.ra_deg, field.target.dec_deg
    detector = field.detector_model
    geometries, errors = plan_geometry(spec, ra, dec, rng, detector)
    scene = make_scene(spec, geometries, ra, dec, rng)

    flt_paths = []
    stars_on: dict[tuple[str, int], int] = {}
    hits: dict[tuple[str, int], list[dict]] = {}
    exposures = _by_exposure(geometries)
    for index, chips in enumerate(exposures, start=1):
        rootname = chips[0].rootname
        path = out_dir / f"{rootname}_{detector.inputs}.fits"
        if detector.n_chips == 1:
            arrays = render_exposure(chips[0], scene, spec, rng)
            build_flt(chips[0], arrays, spec, field).writeto(path, overwrite=True)
            drawn = [(arrays.n_stars, arrays.hits)]
        else:
            chip_arrays = [render_chip(chip, scene, spec, rng, detector.name) for chip in chips]
            build_flc(chips, chip_arrays, spec, field).writeto(path, overwrite=True)
            drawn = [(chip.n_stars, chip.hits) for chip in chip_arrays]
        for chip, (n_stars, chip_hits) in zip(chips, drawn, strict=True):
            stars_on[(rootname, chip.extver)] = n_stars
            hits[(rootname, chip.extver)] = chip_hits
        flt_paths.append(path)
        stars = sum(n_stars for n_stars, _ in drawn)
        progress(f"simulated {path.name} ({index}/{len(exposures)}, {stars} stars)")

    epoch = decimal_year(float(np.mean([g.expstart_mjd for g in geometries])))
    catalog = reference_catalog(scene, spec, epoch)
    catalog_path = out_dir / CATALOG_FILENAME
    catalog.write(catalog_path, format="ascii.ecsv", overwrite=True)
    truth_path = out_dir / TRUTH_FILENAME
    truth = _truth_document(field, geometries, errors, scene, stars_on, hits, catalog)
    truth_path.write_text(json.dumps(truth, indent=1))

    visits: dict[str, list[Path]] = {}
    for path, chips in zip(flt_paths, exposures, strict=True):
        visits.setdefault(chips[0].asn_id.lower(), []).append(path)
    drz_paths = _drizzle_visits(visits, out_dir, drizzle_visit, progress, workers)
    return SyntheticField(out_dir, tuple(flt_paths), tuple(drz_paths), catalog_path, truth_path)


def _by_exposure(geometries: list[ExposureGeometry]) -> list[list[ExposureGeometry]]:
    """The chips' geometries grouped by exposure, in plan order (chips in file order)."""
    exposures: dict[str, list[ExposureGeometry]] = {}
    for geometry in geometries:
        exposures.setdefault(geometry.rootname, []).append(geometry)
    return list(exposures.values())


def _drizzle_visit_apart(drizzle_visit, members: list[Path], output: str, out_dir: Path) -> Path:
    """Drizzle one visit in a folder of its own (AstroDrizzle's scratch files do not
    meet another visit's), then move its FLTs, DRZ and log back to ``out_dir``."""
    own = out_dir / f".visit-{output}"
    own.mkdir()
    moved = [Path(shutil.move(path, own / path.name)) for path in members]
    drz = drizzle_visit(moved, output, own)
    for path in own.iterdir():
        if path.suffix in (".fits", ".log"):
            shutil.move(path, out_dir / path.name)
    shutil.rmtree(own)
    return out_dir / drz.name


def _drizzle_visits(
    visits: dict[str, list[Path]],
    out_dir: Path,
    drizzle_visit: Callable[[list[Path], str, Path], Path],
    progress: Callable[[str], None],
    workers: int,
) -> list[Path]:
    """Drizzle every visit (in the order given), ``workers`` at a time."""
    if workers < 2 or len(visits) < 2:
        paths = []
        for index, (output, members) in enumerate(visits.items(), start=1):
            paths.append(drizzle_visit(members, output, out_dir))
            progress(f"drizzled visit {output} ({index}/{len(visits)})")
        return paths

    with worker_pool(min(workers, len(visits))) as pool:
        futures = {
            output: pool.submit(_drizzle_visit_apart, drizzle_visit, members, output, out_dir)
            for output, members in visits.items()
        }
        paths = []
        for index, (output, future) in enumerate(futures.items(), start=1):
            paths.append(future.result())
            progress(f"drizzled visit {output} ({index}/{len(visits)}, {workers} at a time)")
    return paths


@dataclass(frozen=True)
class Truth:
    """The injected quantities of a synthetic field, as read back from ``truth.json``."""

    document: dict
    exposures: tuple[ExposureGeometry, ...]
    pedestals_e_s: dict[str, float]
    pointing_errors: tuple[PointingError, ...]
    distortion: tuple[dict, ...] = ()
    """The detector's residual from the header SIP (`distortion_terms`); none in fields
    generated before skyqa simulated it."""
    stars: dict[str, np.ndarray] = dataclass_field(default_factory=dict)
    """Every star's true ``ra``, ``dec`` (deg, where the exposures see it) and
    ``flux_e_s``; empty in fields generated before skyqa recorded them."""


def load_truth(path: Path) -> Truth:
    """Read a synthetic field's ``truth.json``."""
    document = json.loads(Path(path).read_text())
    geometry_fields = {name for name in ExposureGeometry.__dataclass_fields__}
    exposures = []
    for entry in document["exposures"]:
        values = {key: value for key, value in entry.items() if key in geometry_fields}
        for key in ("crpix", "ltv", "true_crval", "header_crval", "jitter_mas", "shape"):
            if key in values:
                values[key] = tuple(values[key])
        for key in ("true_cd", "header_cd"):
            values[key] = tuple(tuple(row) for row in values[key])
        exposures.append(ExposureGeometry(**values))
    return Truth(
        document=document,
        exposures=tuple(exposures),
        pedestals_e_s={e["rootname"]: e["sky_pedestal_e_s"] for e in document["exposures"]},
        pointing_errors=tuple(PointingError(**error) for error in document["pointing_errors"]),
        distortion=tuple(document.get("distortion_residual", {}).get("terms", ())),
        stars={
            name: np.asarray(values, float) for name, values in document.get("stars", {}).items()
        },
    )


__all__ = [
    "ARCSEC_PER_RAD",
    "CATALOG_FILENAME",
    "DAYS_PER_YEAR",
    "TRUTH_FILENAME",
    "ExposureArrays",
    "ExposureGeometry",
    "PointingError",
    "Scene",
    "SyntheticField",
    "Truth",
    "build_flt",
    "decimal_year",
    "distortion_residual",
    "distortion_terms",
    "from_tangent_offsets",
    "generate_synthetic_field",
    "load_truth",
    "make_scene",
    "pixel_area_arcsec2",
    "plan_geometry",
    "reference_catalog",
    "render_exposure",
    "sip_wcs_header",
    "tangent_offsets",
    "true_sky",
]
