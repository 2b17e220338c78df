"""The residual sky plane of every exposure (`skyqa.planes`), drawn on its footprint."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from skyqa.headers import chip_of, rootname_of, science_extvers
from skyqa.planes import residual_planes
from skyqa.report.drawing import SEAM_COLOUR_LIMIT, _pyplot


def chip_corners(flt_paths) -> dict[str, np.ndarray]:
    """Each chip's four corners on the sky (RA, Dec; deg), in the order (x, y) = (1, 1),
    (1, ny), (nx, ny), (nx, 1), by the plane's unit (``rootname``, ``rootname:chip`` on
    the two-chip CCDs)."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    corners = {}
    for path in flt_paths:
        with fits.open(path) as hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            rootname = rootname_of(hdul[0].header, Path(path))
            extvers = science_extvers(hdul)
            for extver in extvers:
                header = hdul["SCI", extver].header
                unit = rootname
                if len(extvers) > 1:
                    unit = f"{rootname}:{chip_of(header, extver, len(extvers))}"
                corners[unit] = WCS(header).calc_footprint()
    return corners


def figure_planes(pairs: pd.DataFrame, corners: dict, path: Path) -> Path | None:
    """Each exposure's residual sky plane on its footprint (x its pixel noise: the sky
    error at each point once a constant has set its mean), east to the left; the worst
    named."""
    planes = residual_planes(pairs)
    planes = planes[planes["unit"].isin(corners)]
    if planes.empty:
        return None
    plt = _pyplot()
    every = np.concatenate(list(corners.values()))
    ra0, dec0 = every.mean(axis=0)
    cos_dec = np.cos(np.radians(dec0))
    side = np.linspace(-0.5, 0.5, 9)
    u, v = np.meshgrid(side, side)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    mesh = None
    for row in planes.itertuples(index=False):
        c = corners[row.unit]  # (u, v) = (-,-), (-,+), (+,+), (+,-)
        weights = [(0.5 - u) * (0.5 - v), (0.5 - u) * (0.5 + v), (0.5 + u) * (0.5 + v),
                   (0.5 + u) * (0.5 - v)]  # fmt: skip
        ra = sum(w * corner[0] for w, corner in zip(weights, c, strict=True))
        dec = sum(w * corner[1] for w, corner in zip(weights, c, strict=True))
        x, y = (ra - ra0) * cos_dec * 3600.0, (dec - dec0) * 3600.0
        error = (row.gradient_u * u + row.gradient_v * v) / row.noise_e_s
        mesh = ax.pcolormesh(x, y, error, cmap="RdBu_r", vmin=-SEAM_COLOUR_LIMIT,
                             vmax=SEAM_COLOUR_LIMIT, shading="gouraud", alpha=0.6)  # fmt: skip
    worst = (
        planes.assign(size=np.hypot(planes.gradient_u, planes.gradient_v) / planes.noise_e_s)
        .sort_values("size")
        .iloc[-1]
    )
    ax.set_title(
        "Residual sky plane of each exposure against the others' (x pixel noise); "
        f"largest {worst['unit']}: {worst['size'] / 2:.3f} at its edges",
        fontsize=9,
    )
    ax.set_xlabel("RA offset (arcsec, east left)")
    ax.set_ylabel("Dec offset (arcsec)")
    ax.invert_xaxis()
    ax.set_aspect("equal")
    if mesh is not None:
        fig.colorbar(mesh, ax=ax, fraction=0.046, extend="both")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
