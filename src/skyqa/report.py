"""The QA report of a run: figures (PNG) and one self-contained ``index.html``.

Written beside ``summary.json`` in ``<report dir>/<field>/``. The page embeds its figures
(data URIs), so it can be mailed or archived as one file. Figures:

- ``mdrizsky.png``: MDRIZSKY per exposure, one line per sky method (as in the tutorial);
- ``mosaics.png``: each method's mosaic and weight image, the mosaics with one shared
  stretch;
- ``difference.png``: ``match`` minus ``localmin`` mosaic, which shows the seams that
  sky matching removed;
- ``alignment_<visit>.png``: the visit DRZ with the sources TweakReg matched, and their
  fit residuals;
- ``seams.png``: per method, a heat map of the pair sky differences (x pixel noise).
"""

from __future__ import annotations

import base64
import html
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skyqa.pipeline.stages import ALIGNMENT, EXPOSURES, MOSAICS, OVERLAPS

MAX_DISPLAY_PIXELS = 900
"""Mosaics are block-averaged to at most this many pixels a side for display."""
ALIGNMENT_DISPLAY_PIXELS = 500
"""Visit DRZs likewise (their panel is about 450 pixels wide)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _display_factor(shape: tuple[int, ...], limit: int) -> int:
    return max(1, int(np.ceil(max(shape) / limit)))


def _block_sums(image: np.ndarray, factor: int, dtype) -> np.ndarray:
    """Sums over ``factor`` x ``factor`` blocks, as ``factor`` strided additions per axis
    (several times faster than summing a reshaped array over its short axes)."""
    columns = image[:, 0::factor].astype(dtype)
    for offset in range(1, factor):
        columns += image[:, offset::factor]
    sums = columns[0::factor].copy()
    for offset in range(1, factor):
        sums += columns[offset::factor]
    return sums


def _block_average(image: np.ndarray, limit: int = MAX_DISPLAY_PIXELS) -> np.ndarray:
    """Mean of the finite pixels in blocks, to at most ``limit`` pixels a side.

    Blocks with no finite pixel (wholly outside the footprint) are NaN: blank on purpose.
    """
    factor = _display_factor(image.shape, limit)
    if factor == 1:
        return image
    ny, nx = (size // factor * factor for size in image.shape)
    trimmed = image[:ny, :nx]
    finite = np.isfinite(trimmed)
    sums = _block_sums(np.where(finite, trimmed, 0), factor, np.float64)
    counts = _block_sums(finite.view(np.uint8), factor, np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.where(counts > 0, sums / counts, np.nan)


def _read_mosaic(path: Path, extension=0) -> np.ndarray:
    """An image as native-order float32 (drizzled images are float32 already)."""
    from astropy.io import fits

    return fits.getdata(path, extension).astype(np.float32)


def _display_wcs(header, factor: int):
    """The celestial WCS of an image header, for its ``factor`` x ``factor`` block averages
    (`_block_average`: block 0 covers pixels 0 .. factor - 1)."""
    import warnings

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
        full = _read_mosaic(mosaic.sci_path)
        factor = _display_factor(full.shape, MAX_DISPLAY_PIXELS)
        image = _block_average(full)
        # match keeps the absolute sky: shown relative to its median, every method gets
        # the same contrast under one stretch.
        images[method] = image - np.nanmedian(image[image != 0])
        weights[method] = _block_average(_read_mosaic(mosaic.wht_path))
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
    a, b = _read_mosaic(mosaics[first].sci_path), _read_mosaic(mosaics[second].sci_path)
    if a.shape != b.shape:
        return None
    plt = _pyplot()
    weight = _read_mosaic(mosaics[first].wht_path) > 0
    difference = _block_average(np.where(weight, a - b, np.nan))
    difference -= np.nanmedian(difference)  # the methods differ by a constant sky too
    limit = np.nanpercentile(np.abs(difference), 99)
    wcs = _display_wcs(
        fits.getheader(mosaics[first].sci_path), _display_factor(a.shape, MAX_DISPLAY_PIXELS)
    )
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
    from skyqa.align import match_rows

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
    from skyqa.align import match_rows

    return np.array([[float(fields[10]), float(fields[11])] for fields in match_rows(match_file)])


SEAM_COLOUR_LIMIT = 0.5
"""Seams are coloured from -this to +this (x pixel noise); larger ones saturate."""


def exposure_footprints(flt_paths) -> dict[str, np.ndarray]:
    """Each FLT's four corners on the sky (RA, Dec in degrees), by rootname."""
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    from skyqa.headers import rootname_of

    footprints = {}
    for path in flt_paths:
        # Headers only: the corners need the SIP WCS, no lookup table and no pixels.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(fits.getheader(path, ("SCI", 1)))
        footprints[rootname_of(fits.getheader(path, 0), Path(path))] = wcs.calc_footprint()
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


def _draw(task: tuple) -> tuple[Path | None, str | None]:
    """Draw one figure: (its path or None, a problem or None); never raises."""
    name, make, args = task
    try:
        return make(*args), None
    except Exception as error:  # a figure must never sink the report
        return None, f"figure {name} could not be made: {type(error).__name__}: {error}"


def _draw_all(tasks: list[tuple], workers: int) -> list[tuple[Path | None, str | None]]:
    """`_draw` every task, in ``workers`` processes when there are several; in order."""
    if workers < 2 or len(tasks) < 2:
        return [_draw(task) for task in tasks]
    from concurrent.futures.process import BrokenProcessPool

    from skyqa.workers import worker_pool

    try:
        with worker_pool(min(workers, len(tasks))) as pool:
            return list(pool.map(_draw, tasks))
    except BrokenProcessPool:  # a worker died (memory?): draw them here instead
        return [_draw(task) for task in tasks]


FIGURE_GROUPS = {
    "mosaics": (MOSAICS, EXPOSURES),
    "alignment": (ALIGNMENT,),
    "seams": (MOSAICS, OVERLAPS, ALIGNMENT),
}
"""The figures are drawn and cached in groups, each from the results it names (keys of
`skyqa.pipeline.Pipeline.computed`), in this order on the report page. A group whose
results a session did not compute is left out."""


class FigureError(Exception):
    """Some figures of a group could not be drawn (``problems``: one sentence each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def figure_tasks(group: str, results: dict, directory: Path) -> list[tuple]:
    """The figures of ``group`` as ``(name, function, arguments)``, drawn into ``directory``.

    ``results`` holds what `FIGURE_GROUPS` names for the group (as `Pipeline.computed`).
    """
    from skyqa.drizzle import mdrizsky_by_method
    from skyqa.measure import seam_table

    mosaics = results.get(MOSAICS, {})
    if group == "mosaics":
        truth_path = getattr(results.get(EXPOSURES), "truth_path", None)
        truth = None
        if truth_path is not None:
            from skyqa.simulate import load_truth

            truth = load_truth(truth_path).pedestals_e_s
        return [
            (
                "mdrizsky",
                figure_mdrizsky,
                (mdrizsky_by_method(mosaics), directory / "mdrizsky.png", truth),
            ),
            ("mosaics", figure_mosaics, (mosaics, directory / "mosaics.png")),
            ("difference", figure_difference, (mosaics, directory / "difference.png")),
        ]
    if group == "alignment":
        from skyqa.align import match_file as align_match_file
        from skyqa.names import visit_of

        alignment = results[ALIGNMENT]
        tasks = []
        for drz in alignment.visit_drz_paths:
            visit = visit_of(drz)
            match_file = align_match_file(alignment.directory, drz)
            tasks.append(
                (
                    f"alignment {visit}",
                    figure_alignment,
                    (drz, match_file, directory / f"alignment_{visit}.png"),
                )
            )
        return tasks
    if group == "seams":
        seams = seam_table(results[OVERLAPS], {m: v.mdrizsky for m, v in mosaics.items()})
        footprints = exposure_footprints(results[ALIGNMENT].aligned_flt_paths)
        return [
            ("seams", figure_seams, (seams, list(mosaics), footprints, directory / "seams.png"))
        ]
    raise ValueError(f"unknown figure group {group!r}; known: {', '.join(FIGURE_GROUPS)}")


def available_groups(results: dict) -> list[str]:
    """The figure groups whose results are all in ``results``, in page order."""

    def present(name: str) -> bool:
        value = results.get(name)
        return bool(value) if isinstance(value, dict) else value is not None

    return [group for group, needs in FIGURE_GROUPS.items() if all(map(present, needs))]


def _draw_group(
    group: str, results: dict, directory: Path, workers: int
) -> tuple[list[Path], list[str]]:
    directory.mkdir(parents=True, exist_ok=True)
    drawn = _draw_all(figure_tasks(group, results, directory), workers)
    return (
        [path for path, _ in drawn if path is not None],
        [problem for _, problem in drawn if problem is not None],
    )


def draw_group(group: str, results: dict, directory: Path, workers: int = 1) -> list[Path]:
    """Draw one group's figures into ``directory``; the paths of those drawn.

    Raises
    ------
    FigureError
        If any figure could not be drawn (the others are drawn all the same).
    """
    made, problems = _draw_group(group, results, directory, workers)
    if problems:
        raise FigureError(problems)
    return made


def cached_figures(pipeline, figures_dir: Path) -> tuple[list[Path], list[str]]:
    """Every figure the pipeline's results allow, copied from the pipeline's cache where
    it has them (`Pipeline.figures`), drawn now where it has not; problems are returned.

    A group with a problem is not cached (the next run tries again): it is drawn here,
    and what could be drawn of it is shown.
    """
    import shutil

    figures_dir.mkdir(parents=True, exist_ok=True)
    results = pipeline.computed()
    made, problems = [], []
    for group in available_groups(results):
        try:
            cached = pipeline.figures(group)
        except FigureError:
            group_made, group_problems = _draw_group(group, results, figures_dir, pipeline.workers)
            made += group_made
            problems += group_problems
            continue
        made += [Path(shutil.copy2(path, figures_dir / path.name)) for path in cached]
    return made, problems


def _embed(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def shown_verdict(check: dict) -> dict | None:
    """The verdict a check's row shows: its worst (`skyqa.verdict.worst`), if any."""
    verdicts = check.get("verdicts", [])
    index = check.get("worst")
    if index is None or not 0 <= index < len(verdicts):
        return None
    return verdicts[index]


def _nearness(verdict: dict) -> str:
    ratio = verdict.get("ratio")
    if ratio is None:
        return ""
    if ratio > 1:
        return f"{ratio:.2f} x the threshold: past it"
    return f"{ratio:.2f} of the way to the threshold"


def _within(check: dict) -> str:
    count = len(check.get("verdicts", []))
    return f"{check.get('within', 0)} of {count} within threshold" if count else ""


def check_line(check: dict) -> str:
    """One line of the console list: status, id, the worst verdict, n of m within."""
    head = f"{check['status'].upper():10} {check['id']}"
    shown = shown_verdict(check)
    if shown is None:
        message = check.get("message", "").strip().splitlines()
        return f"{head}: {message[-1][:200]}" if message else head
    nearness = _nearness(shown)
    return (
        f"{head}: worst {shown['subject']}: {shown['measured']} (required "
        f"{shown['threshold']}{'; ' + nearness if nearness else ''}); {_within(check)}"
    )


HEADER_VERSIONS = ("drizzlepac", "stwcs", "stsci.skypac", "spherical_geometry", "astropy", "skyqa")
"""The package versions the report's header block names (all are in its Versions table)."""


def field_facts(field, exposures, versions: dict) -> list[tuple[str, str]]:
    """What a person needs to know first about the data checked: the report's header block.

    Parameters
    ----------
    field : skyqa.field.FieldSpec
        The field's spec (name, kind, target).
    exposures : skyqa.acquire.ExposureSet or None
        The acquired exposures, where the run got that far (their primary headers are read
        for instrument, detector, filter and exposure time).
    versions : dict
        Package versions, as in the summary's environment.
    """
    from astropy.io import fits

    facts = [
        ("field", f"{field.name} ({field.kind})"),
        ("target", f"{field.target.name}, RA {field.target.ra_deg:.5f}, Dec "
                   f"{field.target.dec_deg:+.5f} (deg, ICRS)"),
    ]  # fmt: skip
    if exposures is not None and exposures.flt_paths:
        headers = [fits.getheader(path, 0) for path in exposures.flt_paths]

        def values(key: str) -> str:
            found = sorted({str(header.get(key, "?")).strip() for header in headers})
            return ", ".join(found)

        exptime = sum(float(header.get("EXPTIME", 0.0)) for header in headers)
        facts += [
            ("instrument", f"{values('TELESCOP')} {values('INSTRUME')}/{values('DETECTOR')}"),
            ("filter", values("FILTER")),
            ("exposures", f"{len(headers)} FLTs in {len(exposures.visit_drz_paths)} visits, "
                          f"{exptime:.0f} s in all"),
        ]  # fmt: skip
    else:
        facts.append(("exposures", "not acquired in this run"))
    facts.append(
        ("versions", ", ".join(f"{name} {versions.get(name, '?')}" for name in HEADER_VERSIONS))
    )
    return facts


STATUS_ORDER = {
    "failed": 0, "error": 0, "not run": 1, "warned": 2, "passed": 3, "skipped": 4,
    "deselected": 5,
}  # fmt: skip
"""Order of the checks on the page: what needs a look first."""


def _verdicts_table(check: dict) -> str:
    """Every verdict of a check, worst first (`skyqa.verdict.severity`), folded away."""
    from skyqa.verdict import severity

    escape = html.escape
    verdicts = check.get("verdicts", [])
    if len(verdicts) < 2:
        return ""

    def rank(verdict: dict) -> tuple[bool, float]:
        return severity(verdict["passed"], verdict.get("ratio"))

    rows = [
        f"<tr class='{'passed' if v['passed'] else 'failed'}'><td>{escape(v['subject'])}</td>"
        f"<td>{escape(v['measured'])}</td><td>{escape(v['threshold'])}</td>"
        f"<td>{escape(_nearness(v))}</td></tr>"
        for v in sorted(verdicts, key=rank, reverse=True)
    ]
    return (
        f"<details><summary>all {len(verdicts)} verdicts, worst first</summary><table>"
        "<tr><th>subject</th><th>measured</th><th>threshold</th><th>nearness</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def _check_row(check: dict) -> str:
    escape = html.escape
    shown = shown_verdict(check)
    if shown is None:
        message = check.get("message", "").strip().splitlines()
        subject, measured, threshold = "", (message[-1][:300] if message else ""), ""
        nearness = ""
    else:
        subject, measured, threshold = shown["subject"], shown["measured"], shown["threshold"]
        nearness = _nearness(shown)
    return (
        f"<tr class='{escape(check['status'])}'><td>{escape(check['id'])}</td>"
        f"<td>{escape(check['status'])}</td><td>{escape(subject)}</td>"
        f"<td>{escape(measured)}</td><td>{escape(threshold)}</td>"
        f"<td>{escape(nearness)}</td><td>{escape(_within(check))}"
        f"{_verdicts_table(check)}</td></tr>"
    )


def write_index(
    path: Path,
    summary: dict,
    spec_text: str,
    figures: list[Path],
    problems: list[str],
    facts: Sequence[tuple[str, str]] = (),
) -> Path:
    """The report page: a header block (``facts``, `field_facts`), verdict, failures
    first, every check (its worst verdict first), versions, figures and the field spec."""
    escape = html.escape
    checks = summary["checks"]
    ranked = sorted(checks, key=lambda check: STATUS_ORDER.get(check["status"], 1))
    failed = [check for check in checks if check["status"] in ("failed", "error")]
    verdict = summary["verdict"]
    counts = summary["counts"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>skyqa report: {escape(summary['field'])}</title><style>",
        "body{font-family:sans-serif;margin:1.5em;max-width:1400px}",
        "table{border-collapse:collapse;margin:0.5em 0 1.5em} td,th{border:1px solid #ccc;",
        "padding:3px 6px;font-size:90%;vertical-align:top;text-align:left;",
        "overflow-wrap:anywhere}",
        ".failed,.error,.interrupted,.incomplete{background:#f4c7c3}",
        ".passed{background:#d9ead3}.skipped,.deselected,.partial{background:#eee}",
        ".warned{background:#fce8b2}",
        "#verdict{font-size:140%;padding:0.5em;border-radius:4px}",
        "img{max-width:100%;margin:0.5em 0;border:1px solid #ddd} pre{background:#f6f6f6;",
        "padding:0.5em;font-size:85%;white-space:pre-wrap;overflow-wrap:anywhere}",
        "details table{margin:0.3em 0} #checks td:nth-child(2){white-space:nowrap}",
        "#checks td:first-child{min-width:16em} #checks td:last-child{min-width:10em}",
        "</style></head><body>",
        f"<h1>skyqa report: {escape(summary['field'])}</h1>",
        "<table id='facts'>",
        *[f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in facts],
        "</table>",
        f"<p id='verdict' class='{escape(verdict)}'>Verdict: <b>{escape(verdict.upper())}</b>"
        f" &mdash; {escape(summary['headline'])}</p>",
        f"<p id='counts'>{counts['selected']} of {counts['total']} checks selected: "
        f"{counts['passed'] + counts['warned']} passed ({counts['warned']} with warnings), "
        f"{counts['failed']} failed, {counts['error']} could not be evaluated, "
        f"{counts['skipped']} not applicable, {counts['not run']} did not run. "
        f"{escape(summary['created_utc'])}, environment "
        f"{escape(summary['environment']['label'])}.</p>",
    ]
    if verdict not in ("passed", "failed"):
        parts.append(
            "<p id='not-complete' class='failed'>Not every check for this field ran: this "
            "page is no verdict on the field. The last complete report, if there was one, "
            "is kept in <code>last-complete/</code> beside this page.</p>"
        )
    fault = summary["environment"].get("injected_fault")
    if fault:
        parts.append(
            f"<p id='injected-fault' class='failed'>Injected fault <b>{escape(fault)}</b>: "
            "this run is a self-test of the harness, not QA of the field.</p>"
        )
    if failed:
        parts.append("<h2 id='failures'>Failures</h2><ul>")
        for check in failed:
            parts.append(
                f"<li class='failed'><b>{escape(check['id'])}</b><pre>"
                f"{escape(check['message'][-3000:])}</pre></li>"
            )
        parts.append("</ul>")
    parts += [
        "<h2>Checks</h2><table id='checks'><tr><th>check</th><th>status</th>",
        "<th>worst subject</th><th>measured</th><th>threshold</th><th>nearness</th>",
        "<th>verdicts</th></tr>",
        *[_check_row(check) for check in ranked],
        "</table><h2>Versions</h2><table>",
    ]
    for name, version in summary["environment"]["versions"].items():
        parts.append(f"<tr><th>{escape(name)}</th><td>{escape(str(version))}</td></tr>")
    parts.append("</table>")
    if problems:
        parts.append("<h2>Report problems</h2><ul>")
        parts += [f"<li>{escape(problem)}</li>" for problem in problems]
        parts.append("</ul>")
    parts.append("<h2>Figures</h2>")
    for figure in figures:
        parts.append(f"<h3>{escape(figure.stem)}</h3>{_embed(figure)}")
    parts.append(
        "<details><summary><h2 style='display:inline'>Field spec</h2></summary>"
        f"<pre>{escape(spec_text)}</pre></details></body></html>"
    )
    path.write_text("".join(parts), encoding="utf-8")
    return path
