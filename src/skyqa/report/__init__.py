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

The figures are in `skyqa.report.drawing` (one function each) and `skyqa.report.groups`
(drawn and cached by group); the page in `skyqa.report.page`.
"""

from skyqa.report.display import ALIGNMENT_DISPLAY_PIXELS, MAX_DISPLAY_PIXELS
from skyqa.report.drawing import (
    CUTOUT_HALF,
    CUTOUTS,
    SEAM_COLOUR_LIMIT,
    compass_vectors,
    exposure_footprints,
    figure_alignment,
    figure_difference,
    figure_mdrizsky,
    figure_mosaics,
    figure_seams,
)
from skyqa.report.groups import (
    FIGURE_GROUPS,
    FigureError,
    available_groups,
    draw_group,
    figure_tasks,
)
from skyqa.report.page import (
    HEADER_VERSIONS,
    STATUS_ORDER,
    check_line,
    field_facts,
    shown_verdict,
    write_index,
)

__all__ = [
    "ALIGNMENT_DISPLAY_PIXELS",
    "CUTOUTS",
    "CUTOUT_HALF",
    "FIGURE_GROUPS",
    "HEADER_VERSIONS",
    "MAX_DISPLAY_PIXELS",
    "SEAM_COLOUR_LIMIT",
    "STATUS_ORDER",
    "FigureError",
    "available_groups",
    "check_line",
    "compass_vectors",
    "draw_group",
    "exposure_footprints",
    "field_facts",
    "figure_alignment",
    "figure_difference",
    "figure_mdrizsky",
    "figure_mosaics",
    "figure_seams",
    "figure_tasks",
    "shown_verdict",
    "write_index",
]
