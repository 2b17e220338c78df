"""The report's figures, one function each: mosaics, MDRIZSKY, differences, alignment,
seams; and the display helpers they share (sky axes, a compass; block averages are in
`skyqa.report.display`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from skyqa.align import match_rows
from skyqa.headers import rootname_of
from skyqa.report.display import (
    ALIGNMENT_DISPLAY_PIXELS,
    _block_average,
    _display_factor,
    _read_mosaic,
    reduced_image,
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _display_wcs(header, factor: int):
    """The celestial WCS of an image header, for its ``factor`` x ``factor`` block averages
    (`_block_average`: block 0 covers pixels 0 .. factor - 1)."""

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header).celestial
    wcs.sip = None  # display only: the linear part places a drizzled image to a pixel
    # By hand, not WCS.slice: slicing scales CDELT, which a header with CD ignores.
    wcs.wcs.crpix = (wcs.wcs.crpix - 0.5) / factor + 0.5
    if wcs.wcs.has_cd():
        wcs.wcs.cd = wcs.wcs.cd * factor
    else:
        wcs.wcs.cdelt = wcs.wcs.cdelt * factor
    return wcs


def _sky_axes(ax, title: str) -> None:
    """RA/Dec labels on a WCSAxes panel."""
    ra, dec = ax.coords[0], ax.coords[1]
    ra.set_axislabel("RA (ICRS)")
    dec.set_axislabel("Dec (ICRS)")
    ra.set_major_formatter("hh:mm:ss.s")
    dec.set_major_formatter("dd:mm:ss")
    ra.set_ticklabel(exclude_overlapping=True, size=7)
    dec.set_ticklabel(exclude_overlapping=True, size=7)
    ax.set_title(title, fontsize=9)


def compass_vectors(wcs, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (pixel x, y) pointing north and east at the image centre."""
    ny, nx = shape
    centre = np.array([[nx / 2.0, ny / 2.0]])
    ra, dec = wcs.wcs_pix2world(centre, 0)[0]
    step = 1.0 / 3600.0
    north = wcs.wcs_world2pix([[ra, dec + step]], 0)[0] - centre[0]
    east = wcs.wcs_world2pix([[ra + step / np.cos(np.radians(dec)), dec]], 0)[0] - centre[0]
    return north / np.hypot(*north), east / np.hypot(*east)


def _compass(ax, wcs, shape: tuple[int, int]) -> None:
    """North and east arrows in the image's upper-left corner."""
    north, east = compass_vectors(wcs, shape)
    ny, nx = shape
    length = 0.12 * min(nx, ny)
    origin = np.array([0.18 * nx, 0.8 * ny])
    for vector, label in ((north, "N"), (east, "E")):
        tip = origin + length * vector
        ax.annotate(
            "", xy=tip, xytext=origin, arrowprops={"arrowstyle": "->", "color": "yellow", "lw": 1.5}
        )
        ax.text(*(origin + 1.3 * length * vector), label, color="yellow", fontsize=9,
                ha="center", va="center")  # fmt: skip


def figure_mdrizsky(table, path: Path, truth: dict | None = None) -> Path:
    """MDRIZSKY (e-/s) per exposure, one line per method, each with its own marker and
    line style; on synthetic fields the injected pedestals, shifted to ``match``'s mean
    (the one constant sky matching cannot know)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.8))
    styles = ["o-", "s--", "^-.", "D:", "v-", "P--"]
    methods = [column for column in table.columns if column != "rootname"]
    for index, method in enumerate(methods):
        ax.plot(
            table["rootname"], table[method], styles[index % len(styles)], label=method,
            markersize=6, markerfacecolor="none" if index % 2 else None, linewidth=1.2,
        )  # fmt: skip
    if truth:
        injected = np.array([truth.get(name, np.nan) for name in table["rootname"]])
        level = table["match"].mean() if "match" in table else 0.0
        ax.plot(
            table["rootname"], injected - np.nanmean(injected) + level, "k*", markersize=9,
            label="injected pedestal (shifted to match's mean)",
        )  # fmt: skip
    ax.set_xlabel("exposure")
    ax.set_ylabel("MDRIZSKY (e-/s)")
    ax.set_title("Sky subtracted by AstroDrizzle, per exposure and sky method")
    ax.tick_params(axis="x", rotation=60)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def figure_mosaics(mosaics: dict, path: Path) -> Path:
    """Each method's mosaic (one shared stretch) above its weight image, on RA/Dec axes
    with north and east arrows."""
    from astropy.io import fits

    plt = _pyplot()
    images, weights = {}, {}
    for method, mosaic in mosaics.items():
        factor, image = reduced_image([mosaic.sci_path])
        # match keeps the absolute sky: shown relative to its median, every method gets
        # the same contrast under one stretch.
        images[method] = image - np.nanmedian(image[image != 0])
        weights[method] = reduced_image([mosaic.wht_path])[1]
    # The methods drizzle onto one output grid (final_wcs): the first panel carries the
    # RA/Dec axes, every panel the north and east arrows (WCSAxes cost 0.3 s a panel).
    first = next(iter(mosaics.values()))
    wcs = _display_wcs(fits.getheader(first.sci_path), factor)
    from astropy.visualization import AsinhStretch, ImageNormalize

    pooled = np.concatenate([image[image != 0].ravel() for image in images.values()])
    low, high = np.nanpercentile(pooled, [0.5, 99.7])
    # One stretch for all methods; asinh keeps the faint nebula and the stars both visible.
    norm = ImageNormalize(vmin=low, vmax=high, stretch=AsinhStretch(0.05))
    fig = plt.figure(figsize=(4.4 * len(images), 9.0))
    for column, method in enumerate(images):
        same_grid = images[method].shape == images[first.skymethod].shape
        sky = column == 0
        top = fig.add_subplot(2, len(images), column + 1, projection=wcs if sky else None)
        shown = top.imshow(images[method], origin="lower", cmap="gray", norm=norm)
        if sky:
            _sky_axes(top, f"{method} (e-/s, less its median)")
        else:
            top.set_title(f"{method} (e-/s, less its median; same grid)", fontsize=9)
            top.set_xticks([])
            top.set_yticks([])
        if same_grid:
            _compass(top, wcs, images[method].shape)
        fig.colorbar(shown, ax=top, fraction=0.046)
        # The weight image lies on the same pixels as the mosaic above it: plain axes.
        bottom = fig.add_subplot(2, len(images), len(images) + column + 1)
        weight = bottom.imshow(weights[method], origin="lower", cmap="viridis")
        bottom.set_title(f"{method} weight (same pixels as above)", fontsize=9)
        bottom.set_xticks([])
        bottom.set_yticks([])
        fig.colorbar(weight, ax=bottom, fraction=0.046)
    fig.suptitle(
        f"Mosaics minus their median sky, one asinh stretch for all: {low:.3f} to "
        f"{high:.3f} e-/s. Seams show as steps at tile edges."
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def figure_difference(mosaics: dict, path: Path, first="match", second="localmin") -> Path | None:
    """``first`` minus ``second`` mosaic on RA/Dec axes; None when the two are not on one
    pixel grid."""
    from astropy.io import fits

    if first not in mosaics or second not in mosaics:
        return None
    paths = (mosaics[first].sci_path, mosaics[second].sci_path, mosaics[first].wht_path)
    header, other = fits.getheader(paths[0]), fits.getheader(paths[1])
    if any(header[key] != other[key] for key in ("NAXIS1", "NAXIS2")):
        return None
    plt = _pyplot()
    factor, difference = reduced_image(
        paths, lambda a, b, weight: np.where(weight > 0, a - b, np.nan)
    )
    difference -= np.nanmedian(difference)  # the methods differ by a constant sky too
    limit = np.nanpercentile(np.abs(difference), 99)
    wcs = _display_wcs(header, factor)
    fig = plt.figure(figsize=(8, 7))
    ax = fig.add_subplot(projection=wcs)
    shown = ax.imshow(difference, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(shown, ax=ax, label="e-/s, relative to the median difference")
    _sky_axes(ax, f"{first} minus {second}: the tiles are the seams {second} leaves")
    _compass(ax, wcs, difference.shape)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _match_columns(match_file: Path) -> np.ndarray | None:
    rows = [[float(value) for value in fields[:8]] for fields in match_rows(match_file)]
    return np.array(rows) if rows else None


CUTOUTS = 8
"""Matched sources shown as cutouts in an alignment figure (those with the largest residuals)."""


CUTOUT_HALF = 10
"""Half-width of a cutout, in DRZ pixels (21 pixels: 2.7 arcsec at 0.1283"/pix)."""


def _cutout_strip(image: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cutouts of ``image`` around ``positions`` (0-based x, y) side by side in one array,
    each scaled to 0..1 between its own 5th and 99.5th percentiles (blank outside the
    image); and where each position lies in the strip."""
    side = 2 * CUTOUT_HALF + 1
    gap = 3
    strip = np.full((side, len(positions) * (side + gap)), np.nan)
    centres = []
    for number, (x, y) in enumerate(positions):
        column, row = round(x), round(y)
        stamp = np.full((side, side), np.nan)
        rows = slice(max(row - CUTOUT_HALF, 0), min(row + CUTOUT_HALF + 1, image.shape[0]))
        columns = slice(max(column - CUTOUT_HALF, 0), min(column + CUTOUT_HALF + 1, image.shape[1]))
        cut = image[rows, columns]
        top, left = rows.start - (row - CUTOUT_HALF), columns.start - (column - CUTOUT_HALF)
        stamp[top : top + cut.shape[0], left : left + cut.shape[1]] = cut
        if np.isfinite(stamp).any():
            low, high = np.nanpercentile(stamp, [5, 99.5])
            stamp = np.clip((stamp - low) / (high - low if high > low else 1.0), 0.0, 1.0)
        offset = number * (side + gap)
        strip[:, offset : offset + side] = stamp
        centres.append((offset + CUTOUT_HALF + (x - column), CUTOUT_HALF + (y - row)))
    return strip, np.array(centres).reshape(-1, 2)


def figure_alignment(drz_path: Path, match_file: Path, path: Path) -> Path | None:
    """The visit DRZ on RA/Dec axes with its matched sources numbered, cutouts of the
    sources with the largest fit residuals (where each star is seen at full resolution),
    and the fit residuals (pixels) as arrows."""
    from astropy.io import fits

    matched = _match_columns(match_file) if match_file.is_file() else None
    if matched is None:
        return None
    plt = _pyplot()
    image = _read_mosaic(drz_path, ("SCI", 1))
    ny, nx = image.shape
    factor = _display_factor(image.shape, ALIGNMENT_DISPLAY_PIXELS)
    shown = _block_average(image, ALIGNMENT_DISPLAY_PIXELS)
    wcs = _display_wcs(fits.getheader(drz_path, ("SCI", 1)), factor)
    # Columns 11, 12 of a TweakReg match file are the sources' original input pixels
    # (1-based); columns 7, 8 their fit residuals.
    original = _original_positions(match_file) - 1.0
    residual = np.hypot(matched[:, 6], matched[:, 7])
    fig = plt.figure(figsize=(13, 8.2))
    grid = fig.add_gridspec(3, 2, height_ratios=[1, 1, 0.62], hspace=0.45)
    left = fig.add_subplot(grid[0:2, 0], projection=wcs)
    low, high = np.nanpercentile(shown[shown != 0], [5, 99.5])
    left.imshow(shown, origin="lower", cmap="gray", vmin=low, vmax=high)
    left.scatter(original[:, 0] / factor, original[:, 1] / factor, s=60, facecolors="none",
                 edgecolors="red", linewidths=0.8)  # fmt: skip
    worst = np.argsort(-residual)[:CUTOUTS]
    for rank, index in enumerate(worst, start=1):
        left.text(original[index, 0] / factor + 6, original[index, 1] / factor + 6, str(rank),
                  color="yellow", fontsize=8)  # fmt: skip
    _sky_axes(left, f"{drz_path.name}: {len(matched)} matched sources (red)")
    _compass(left, wcs, shown.shape)
    right = fig.add_subplot(grid[0:2, 1])
    # Residual arrows at the sources' image positions, magnified: 0.1 pix draws 100 pix.
    magnify = 1000.0
    arrows = right.quiver(
        original[:, 0], original[:, 1], matched[:, 6], matched[:, 7],
        angles="xy", scale_units="xy", scale=1 / magnify, color="tab:red",
    )  # fmt: skip
    right.quiverkey(arrows, 0.85, 1.08, 0.05, "0.05 pix", labelpos="E")
    right.set_xlim(0, nx)
    right.set_ylim(0, ny)
    right.set_title(
        f"fit residuals x{magnify:.0f}; rms x {np.std(matched[:, 6]):.3f}, "
        f"y {np.std(matched[:, 7]):.3f} pix",
        loc="left",
        fontsize=9,
    )
    right.set_xlabel("x (DRZ pixels)")
    right.set_ylabel("y (DRZ pixels)")
    right.set_aspect("equal")
    strip, centres = _cutout_strip(image, original[worst])
    ax = fig.add_subplot(grid[2, :])
    ax.imshow(strip, origin="lower", cmap="gray", vmin=0.0, vmax=1.0)
    ax.scatter(centres[:, 0], centres[:, 1], s=250, facecolors="none", edgecolors="red",
               linewidths=0.8)  # fmt: skip
    for rank, (index, (x, _)) in enumerate(zip(worst, centres, strict=True), start=1):
        ax.text(x, strip.shape[0] + 1, f"{rank}: residual {residual[index]:.3f} pix",
                ha="center", va="bottom", fontsize=7)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_frame_on(False)
    fig.suptitle(
        f"Sources TweakReg matched in {drz_path.name}; cutouts: the {len(worst)} with the "
        f"largest fit residuals, {2 * CUTOUT_HALF + 1} pixels a side",
        fontsize=10,
    )
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _original_positions(match_file: Path) -> np.ndarray:
    return np.array([[float(fields[10]), float(fields[11])] for fields in match_rows(match_file)])


SEAM_COLOUR_LIMIT = 0.5
"""Seams are coloured from -this to +this (x pixel noise); larger ones saturate."""


def exposure_footprints(flt_paths) -> dict[str, np.ndarray]:
    """Each FLT's four corners on the sky (RA, Dec in degrees), by rootname."""

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    footprints = {}
    for path in flt_paths:
        # Headers only: the corners need the SIP WCS, no lookup table and no pixels.
        with fits.open(path) as hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            corners = [
                WCS(hdu.header).calc_footprint() for hdu in hdul if hdu.name == "SCI"
            ]  # (x, y) = (1, 1), (1, ny), (nx, ny), (nx, 1) of each chip
            rootname = rootname_of(hdul[0].header, Path(path))
        if len(corners) == 2:  # [SCI,1] below the gap, [SCI,2] above: the outer corners
            below, above = corners
            corners = [np.array([below[0], above[1], above[2], below[3]])]
        footprints[rootname] = corners[0]
    return footprints


def figure_seams(seams, methods: list[str], footprints: dict, path: Path) -> Path | None:
    """Per method, the exposures' footprints on the sky, each overlapping pair drawn as a
    bar between the two exposures' centres, coloured by its seam (x pixel noise)."""
    if seams is None or len(seams) == 0 or not footprints:
        return None
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    corners = np.concatenate(list(footprints.values()))
    ra0, dec0 = np.mean(corners[:, 0]), np.mean(corners[:, 1])
    cos_dec = np.cos(np.radians(dec0))

    def arcsec(points: np.ndarray) -> np.ndarray:
        # East to the left, as on the sky.
        return np.column_stack(
            [(points[:, 0] - ra0) * cos_dec * 3600.0, (points[:, 1] - dec0) * 3600.0]
        )

    outlines = {name: arcsec(points) for name, points in footprints.items()}
    centres = {name: outline.mean(axis=0) for name, outline in outlines.items()}
    known = seams[seams["exposure_a"].isin(centres) & seams["exposure_b"].isin(centres)]
    fig, axes = plt.subplots(1, len(methods), figsize=(5.0 * len(methods), 5.4), squeeze=False)
    colours = plt.get_cmap("RdBu_r")
    for ax, method in zip(axes[0], methods, strict=True):
        for outline in outlines.values():
            ax.fill(outline[:, 0], outline[:, 1], facecolor="none", edgecolor="0.7", lw=0.6)
        segments = [
            [centres[a], centres[b]]
            for a, b in zip(known["exposure_a"], known["exposure_b"], strict=True)
        ]
        bars = LineCollection(segments, cmap=colours, linewidths=3.5)
        bars.set_array(known[method].to_numpy(dtype=float))
        bars.set_clim(-SEAM_COLOUR_LIMIT, SEAM_COLOUR_LIMIT)
        ax.add_collection(bars)
        # Exposures of one visit overlap almost wholly: their bar is short, so each pair
        # is also a dot at its midpoint.
        middles = np.array([(a + b) / 2 for a, b in segments]).reshape(-1, 2)
        ax.scatter(middles[:, 0], middles[:, 1], c=known[method].to_numpy(dtype=float),
                   cmap=colours, vmin=-SEAM_COLOUR_LIMIT, vmax=SEAM_COLOUR_LIMIT, s=28,
                   edgecolors="0.3", linewidths=0.4, zorder=3)  # fmt: skip
        worst = known[method].abs().idxmax() if known[method].notna().any() else None
        if worst is not None:
            pair = known.loc[worst]
            middle = (centres[pair["exposure_a"]] + centres[pair["exposure_b"]]) / 2
            ax.annotate(
                f"worst {pair['exposure_a']}-{pair['exposure_b']}: {pair[method]:+.3f}",
                middle, xytext=(0, 12), textcoords="offset points", fontsize=7, ha="center",
                arrowprops={"arrowstyle": "-", "lw": 0.5},
            )  # fmt: skip
        ax.set_title(f"{method}: seam of each overlap (x pixel noise)", fontsize=9)
        ax.set_xlabel("RA offset (arcsec, east left)")
        ax.set_ylabel("Dec offset (arcsec)")
        ax.invert_xaxis()
        ax.set_aspect("equal")
        ax.autoscale_view()
        fig.colorbar(bars, ax=ax, fraction=0.046, extend="both")
    fig.suptitle(
        "Footprints of the exposures (grey); bars join overlapping exposures, coloured by "
        "their seam after each method's MDRIZSKY",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
