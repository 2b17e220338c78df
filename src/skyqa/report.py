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
from pathlib import Path

import numpy as np

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


def figure_mdrizsky(table, path: Path) -> Path:
    """MDRIZSKY (e-/s) per exposure, one line per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for method in [column for column in table.columns if column != "rootname"]:
        ax.plot(table["rootname"], table[method], marker="o", label=method)
    ax.set_xlabel("exposure")
    ax.set_ylabel("MDRIZSKY (e-/s)")
    ax.set_title("Sky subtracted by AstroDrizzle, per exposure and sky method")
    ax.tick_params(axis="x", rotation=60)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def figure_mosaics(mosaics: dict, path: Path) -> Path:
    """Each method's mosaic (one shared stretch) above its weight image."""
    plt = _pyplot()
    images = {}
    for method, mosaic in mosaics.items():
        image = _block_average(_read_mosaic(mosaic.sci_path))
        # match keeps the absolute sky: shown relative to its median, every method gets
        # the same contrast under one stretch.
        images[method] = image - np.nanmedian(image[image != 0])
    weights = {method: _block_average(_read_mosaic(m.wht_path)) for method, m in mosaics.items()}
    from astropy.visualization import AsinhStretch, ImageNormalize

    pooled = np.concatenate([image[image != 0].ravel() for image in images.values()])
    low, high = np.nanpercentile(pooled, [0.5, 99.7])
    # One stretch for all methods; asinh keeps the faint nebula and the stars both visible.
    norm = ImageNormalize(vmin=low, vmax=high, stretch=AsinhStretch(0.05))
    fig, axes = plt.subplots(2, len(images), figsize=(4.2 * len(images), 8.4), squeeze=False)
    for column, method in enumerate(images):
        shown = axes[0][column].imshow(images[method], origin="lower", cmap="gray", norm=norm)
        axes[0][column].set_title(f"{method} (e-/s)")
        fig.colorbar(shown, ax=axes[0][column], fraction=0.046)
        weight = axes[1][column].imshow(weights[method], origin="lower", cmap="viridis")
        axes[1][column].set_title(f"{method} weight")
        fig.colorbar(weight, ax=axes[1][column], fraction=0.046)
        for ax in (axes[0][column], axes[1][column]):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        f"Mosaics minus their median sky, one asinh stretch for all: {low:.3f} to "
        f"{high:.3f} e-/s. Seams show as steps at tile edges."
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def figure_difference(mosaics: dict, path: Path, first="match", second="localmin") -> Path | None:
    """``first`` minus ``second`` mosaic; None when the two are not on one pixel grid."""
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
    fig, ax = plt.subplots(figsize=(8, 7))
    shown = ax.imshow(difference, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(shown, ax=ax, label="e-/s, relative to the median difference")
    ax.set_title(f"{first} minus {second}: the tiles are the seams {second} leaves")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _match_columns(match_file: Path) -> np.ndarray | None:
    rows = []
    for line in match_file.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append([float(value) for value in line.split()[:8]])
    return np.array(rows) if rows else None


def figure_alignment(drz_path: Path, match_file: Path, path: Path) -> Path | None:
    """The visit DRZ with its matched sources, and the fit residuals (pixels)."""

    matched = _match_columns(match_file) if match_file.is_file() else None
    if matched is None:
        return None
    plt = _pyplot()
    image = _read_mosaic(drz_path, ("SCI", 1))
    ny, nx = image.shape
    shown = _block_average(image, ALIGNMENT_DISPLAY_PIXELS)
    # Columns 11, 12 of a TweakReg match file are the sources' original input pixels;
    # only the first 8 are read here: 3, 4 = input X, Y in the fit frame, 7, 8 = residuals.
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5))
    low, high = np.nanpercentile(shown[shown != 0], [5, 99.5])
    # Block-averaged for display; the extent keeps the axes in DRZ pixels.
    factor = _display_factor(image.shape, ALIGNMENT_DISPLAY_PIXELS)
    extent = (-0.5, shown.shape[1] * factor - 0.5, -0.5, shown.shape[0] * factor - 0.5)
    left.imshow(shown, origin="lower", cmap="gray", vmin=low, vmax=high, extent=extent)
    original = _original_positions(match_file)
    left.scatter(original[:, 0] - 1, original[:, 1] - 1, s=80, facecolors="none", edgecolors="red")
    left.set_title(f"{drz_path.name}: {len(matched)} matched sources")
    left.set_xticks([])
    left.set_yticks([])
    # Residual arrows at the sources' image positions, magnified: 0.1 pix draws 100 pix.
    magnify = 1000.0
    arrows = right.quiver(
        original[:, 0] - 1, original[:, 1] - 1, matched[:, 6], matched[:, 7],
        angles="xy", scale_units="xy", scale=1 / magnify, color="tab:red",
    )  # fmt: skip
    right.quiverkey(arrows, 0.8, 1.03, 0.05, "0.05 pix", labelpos="E")
    right.set_xlim(0, nx)
    right.set_ylim(0, ny)
    right.set_title(
        f"fit residuals x{magnify:.0f}; rms x {np.std(matched[:, 6]):.3f}, "
        f"y {np.std(matched[:, 7]):.3f} pix",
        loc="left",
    )
    right.set_xlabel("x (DRZ pixels)")
    right.set_ylabel("y (DRZ pixels)")
    right.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _original_positions(match_file: Path) -> np.ndarray:
    rows = []
    for line in match_file.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            fields = line.split()
            rows.append([float(fields[10]), float(fields[11])])
    return np.array(rows)


def figure_seams(seams, methods: list[str], path: Path) -> Path | None:
    """Per method, a heat map of the pair differences in units of the pixel noise."""
    if seams is None or len(seams) == 0:
        return None
    plt = _pyplot()
    names = sorted(set(seams["exposure_a"]) | set(seams["exposure_b"]))
    index = {name: position for position, name in enumerate(names)}
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 4.6), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        grid = np.full((len(names), len(names)), np.nan)
        for _, pair in seams.iterrows():
            a, b = index[pair["exposure_a"]], index[pair["exposure_b"]]
            grid[a, b], grid[b, a] = pair[method], -pair[method]
        colours = plt.get_cmap("RdBu_r").with_extremes(bad="lightgray")  # no overlap
        shown = ax.imshow(grid, cmap=colours, vmin=-1, vmax=1)
        ax.set_title(f"{method}: seams (x pixel noise); grey: no overlap", fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        fig.colorbar(shown, ax=ax, fraction=0.046)
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
    "mosaics": ("mosaics",),
    "alignment": ("alignment",),
    "seams": ("mosaics", "overlaps"),
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

    mosaics = results.get("mosaics", {})
    if group == "mosaics":
        return [
            (
                "mdrizsky",
                figure_mdrizsky,
                (mdrizsky_by_method(mosaics), directory / "mdrizsky.png"),
            ),
            ("mosaics", figure_mosaics, (mosaics, directory / "mosaics.png")),
            ("difference", figure_difference, (mosaics, directory / "difference.png")),
        ]
    if group == "alignment":
        alignment = results["alignment"]
        tasks = []
        for drz in alignment.visit_drz_paths:
            visit = drz.name.split("_")[0]
            match_file = alignment.directory / f"{drz.stem}_catalog_fit.match"
            tasks.append(
                (
                    f"alignment {visit}",
                    figure_alignment,
                    (drz, match_file, directory / f"alignment_{visit}.png"),
                )
            )
        return tasks
    if group == "seams":
        seams = seam_table(results["overlaps"], {m: v.mdrizsky for m, v in mosaics.items()})
        return [("seams", figure_seams, (seams, list(mosaics), directory / "seams.png"))]
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


STATUS_ORDER = {
    "failed": 0, "error": 0, "not run": 1, "warned": 2, "skipped": 3, "passed": 4,
    "deselected": 5,
}  # fmt: skip
"""Order of the checks on the page: what needs a look first."""


def _verdicts_table(check: dict) -> str:
    """Every verdict of a check, worst first, folded away (a <details> element)."""
    escape = html.escape
    verdicts = check.get("verdicts", [])
    if len(verdicts) < 2:
        return ""

    def rank(verdict: dict) -> tuple[bool, float]:
        ratio = verdict.get("ratio")
        return (verdict["passed"], -(ratio if ratio is not None else float("inf")))

    rows = [
        f"<tr class='{'passed' if v['passed'] else 'failed'}'><td>{escape(v['subject'])}</td>"
        f"<td>{escape(v['measured'])}</td><td>{escape(v['threshold'])}</td>"
        f"<td>{escape(_nearness(v))}</td></tr>"
        for v in sorted(verdicts, key=rank)
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
    path: Path, summary: dict, spec_text: str, figures: list[Path], problems: list[str]
) -> Path:
    """The report page: verdict, failures first, every check (its worst verdict first),
    versions, figures and the field spec."""
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
        "details table{margin:0.3em 0}",
        "</style></head><body>",
        f"<h1>skyqa report: {escape(summary['field'])}</h1>",
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
