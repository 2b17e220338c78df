"""The replica's sky: stars (with proper motions), the nebula, and the Gaia-like reference
catalog with its errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from skyqa.field import SyntheticSpec

if TYPE_CHECKING:
    # Imported where the field is generated: a QA run reads only the truth (JSON).
    from astropy.table import Table

from skyqa.simulate.geometry import (
    STREAM_CATALOG,
    STREAM_MOTION,
    ExposureGeometry,
    distortion_terms,
    from_tangent_offsets,
    tangent_offsets,
)

STAR_LF_SLOPE = 0.15
"""Slope of the star counts, N(<m) proportional to 10**(0.15 m): with G < 21.5 this puts
about 17 percent of the stars in the catalog, as on the real Horsehead field."""


GAIA_COLOUR_RANGE = (0.5, 3.0)
"""G - F160W colours (mag) drawn uniformly: reddened stars seen through a nebula."""


def gaia_errors(g_mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis position error at the catalog epoch (mas) and proper-motion error
    (mas/yr) of Gaia DR3-like astrometry: 0.5 mas/yr at G = 20, 1 at G = 21, doubling
    every 1.0 mag fainter (0.3 dex/mag), never below 0.02; positions 0.8 times that."""
    pm_error = np.maximum(0.5 * 10 ** (0.3 * (np.asarray(g_mag) - 20.0)), 0.02)
    return 0.8 * pm_error, pm_error


@dataclass(frozen=True)
class Scene:
    """What is on the sky: stars, the nebula, and each exposure's sky pedestal.

    ``stars`` has columns ra, dec (deg, at the exposures' epoch), mag_f160w (AB), gaia_g
    (mag), flux_e_s, pm_east_mas_yr, pm_north_mas_yr; ``nebula`` has east_arcsec,
    north_arcsec, sigma_arcsec, amplitude_e_s (Gaussian blobs in the target's tangent
    plane); ``pedestal_e_s`` maps rootname to the uniform sky level (e-/s) of that
    exposure; ``distortion`` is the detector's residual from the header SIP
    (`distortion_terms`).
    """

    stars: Table
    nebula: Table
    pedestal_e_s: dict[str, float]
    ra_targ: float
    dec_targ: float
    distortion: tuple[dict, ...] = ()

    def nebula_e_s(self, east_arcsec: np.ndarray, north_arcsec: np.ndarray) -> np.ndarray:
        """Nebular surface brightness (e-/s per pixel) at tangent-plane offsets."""
        total = np.zeros(np.broadcast(east_arcsec, north_arcsec).shape)
        for blob in self.nebula:
            distance2 = (east_arcsec - blob["east_arcsec"]) ** 2 + (
                north_arcsec - blob["north_arcsec"]
            ) ** 2
            total += blob["amplitude_e_s"] * np.exp(-0.5 * distance2 / blob["sigma_arcsec"] ** 2)
        return total


def _footprint_radius_arcsec(geometries: list[ExposureGeometry], ra0: float, dec0: float) -> float:
    """Distance from the target to the farthest exposure corner."""
    radius = 0.0
    for geometry in geometries:
        wcs = geometry.wcs("true")
        rows, columns = geometry.rows_columns
        corners_x, corners_y = np.meshgrid([0.5, columns + 0.5], [0.5, rows + 0.5])
        ra, dec = wcs.all_pix2world(corners_x.ravel(), corners_y.ravel(), 1)
        east, north = tangent_offsets(ra, dec, ra0, dec0)
        radius = max(radius, float(np.max(np.hypot(east, north))))
    return radius


def make_scene(
    spec: SyntheticSpec,
    geometries: list[ExposureGeometry],
    ra_targ: float,
    dec_targ: float,
    rng: np.random.Generator,
) -> Scene:
    """Draw the stars, the nebula and the sky pedestals of a synthetic field."""
    from astropy.table import Table

    footprint = _footprint_radius_arcsec(geometries, ra_targ, dec_targ)
    star_radius = max(spec.catalog_radius_arcmin * 60.0, footprint + 10.0)
    radius = star_radius * np.sqrt(rng.uniform(size=spec.n_stars))
    angle = rng.uniform(0, 2 * np.pi, size=spec.n_stars)
    ra, dec = from_tangent_offsets(
        radius * np.sin(angle), radius * np.cos(angle), ra_targ, dec_targ
    )
    low, high = (
        10 ** (STAR_LF_SLOPE * spec.star_mag_bright),
        10 ** (STAR_LF_SLOPE * spec.star_mag_faint),
    )
    mag = np.log10(low + rng.uniform(size=spec.n_stars) * (high - low)) / STAR_LF_SLOPE
    stars = Table(
        {
            "ra": ra,
            "dec": dec,
            "mag_f160w": mag,
            "gaia_g": mag + rng.uniform(*GAIA_COLOUR_RANGE, size=spec.n_stars),
            "flux_e_s": 10 ** (-0.4 * (mag - spec.zeropoint_ab)),
        }
    )
    motion = np.random.default_rng([spec.seed, STREAM_MOTION])
    stars["pm_east_mas_yr"] = motion.normal(0, spec.proper_motion_dispersion_mas_yr, len(stars))
    stars["pm_north_mas_yr"] = motion.normal(0, spec.proper_motion_dispersion_mas_yr, len(stars))

    blob_radius = footprint * np.sqrt(rng.uniform(size=spec.nebula_blobs))
    blob_angle = rng.uniform(0, 2 * np.pi, size=spec.nebula_blobs)
    nebula = Table(
        {
            "east_arcsec": blob_radius * np.sin(blob_angle),
            "north_arcsec": blob_radius * np.cos(blob_angle),
            "sigma_arcsec": rng.uniform(0.08, 0.35, size=spec.nebula_blobs) * footprint,
            "amplitude_e_s": rng.uniform(0.2, 1.0, size=spec.nebula_blobs),
        }
    )
    scene = Scene(stars, nebula, {}, ra_targ, dec_targ)
    grid = np.linspace(-footprint, footprint, 121)
    peak = scene.nebula_e_s(*np.meshgrid(grid, grid)).max() if spec.nebula_blobs else 0.0
    if peak > 0:  # a blank-sky field (no blobs) has no nebula to scale
        nebula["amplitude_e_s"] *= spec.nebula_peak_e_s / peak

    pedestal = {}
    for asn_id in dict.fromkeys(g.asn_id for g in geometries):
        visit_level = spec.sky_base_e_s + rng.uniform(0, spec.visit_pedestal_range_e_s)
        for geometry in (g for g in geometries if g.asn_id == asn_id):
            jitter = rng.normal(0, spec.exposure_pedestal_jitter_e_s)
            pedestal[geometry.rootname] = float(visit_level + jitter)
    return Scene(stars, nebula, pedestal, ra_targ, dec_targ, tuple(distortion_terms(spec)))


def catalog_errors_mas(
    scene: Scene, spec: SyntheticSpec, epoch: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each star's catalog position error (east, north; mas) at the exposures' ``epoch``,
    and whether it is a 2-parameter star (no proper motion in the catalog).

    The catalog measured the star at ``catalog_epoch`` and its proper motion, each with a
    Gaia DR3-like error (`gaia_errors`); its position is carried back to ``epoch`` with
    the measured motion, or, without one, left where the star was at the catalog epoch.
    """
    rng = np.random.default_rng([spec.seed, STREAM_CATALOG])
    n = len(scene.stars)
    years = spec.catalog_epoch - epoch
    position_error, motion_error = gaia_errors(scene.stars["gaia_g"])
    position_error = position_error * spec.catalog_error_scale
    motion_error = motion_error * spec.catalog_error_scale
    two_parameter = (np.asarray(scene.stars["gaia_g"]) > spec.two_parameter_mag_limit) & (
        rng.uniform(size=n) < 0.5
    )
    errors = []
    for axis in ("pm_east_mas_yr", "pm_north_mas_yr"):
        motion = np.asarray(scene.stars[axis])
        at_catalog_epoch = motion * years + rng.normal(0, 1, n) * position_error
        measured_motion = motion + rng.normal(0, 1, n) * motion_error
        carried = at_catalog_epoch - measured_motion * years
        errors.append(np.where(two_parameter, at_catalog_epoch, carried))
    return errors[0], errors[1], two_parameter


def reference_catalog(scene: Scene, spec: SyntheticSpec, epoch: float) -> Table:
    """The Gaia-like catalog of the stars brighter than the G limit in the cone, at the
    exposures' ``epoch`` with the errors of `catalog_errors_mas`."""
    from astropy.table import Table

    east, north = tangent_offsets(
        scene.stars["ra"], scene.stars["dec"], scene.ra_targ, scene.dec_targ
    )
    keep = (scene.stars["gaia_g"] < spec.catalog_mag_limit) & (
        np.hypot(east, north) <= spec.catalog_radius_arcmin * 60.0
    )
    error_east, error_north, two_parameter = catalog_errors_mas(scene, spec, epoch)
    ra, dec = from_tangent_offsets(
        east + error_east / 1000.0, north + error_north / 1000.0, scene.ra_targ, scene.dec_targ
    )
    catalog = Table(
        {
            "ra": ra[keep],
            "dec": dec[keep],
            "mag": scene.stars["gaia_g"][keep],
            "error_mas": np.hypot(error_east, error_north)[keep],
            "two_parameter": two_parameter[keep],
        }
    )
    catalog["ra"].unit = catalog["dec"].unit = "deg"
    catalog["mag"].unit = "mag"
    catalog["error_mas"].unit = "mas"
    catalog.meta["comments"] = [
        "Gaia-like reference catalog of a skyqa synthetic field, at the exposures' epoch",
        "error_mas: the position's true error (truth; not known for a real catalog)",
    ]
    catalog.meta["epoch"] = epoch
    return catalog
