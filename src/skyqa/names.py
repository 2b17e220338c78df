"""How HST file names name things: one place for it (no imports beyond the standard library).

``ibxl50030_drz.fits`` is the visit mosaic of association ``ibxl50030``;
``ibxl50clq_flt.fits`` the calibrated exposure ``ibxl50clq``. Ids are lower-case.
"""

from __future__ import annotations

from pathlib import Path


def visit_of(image: str | Path) -> str:
    """The visit id of a visit DRZ's file name (or path): its first part, lower-case."""
    return Path(image).name.split("_")[0].lower()


def rootname_of_name(name: str | Path) -> str:
    """The rootname a product's file name gives (``<rootname>_<kind>.fits``), lower-case."""
    return Path(name).name.split("_")[0].lower()
