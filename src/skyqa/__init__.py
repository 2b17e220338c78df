"""skyqa: a pytest-based validation and regression harness for HST mosaics built with
drizzlepac.

The library is flat and plain: `skyqa.field` (specs), the stage modules (`acquire`,
`mast`, `catalog`, `align`, `drizzle`, `measure`, `astrometry`, `simulate`), the checks
(`skyqa.checks`), `skyqa.pipeline` (stages, cache, scheduling) and the pytest plugin
(`skyqa.plugin`). Importing this package imports none of them.
"""

from importlib import metadata

try:
    __version__ = metadata.version("skyqa")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
