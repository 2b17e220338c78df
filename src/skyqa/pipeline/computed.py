"""What a pipeline has computed so far, typed (`Computed`, from `Pipeline.computed`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from skyqa.acquire import ExposureSet
    from skyqa.align import AlignmentResult
    from skyqa.astrometry import AlignmentPlacement
    from skyqa.catalog import ReferenceCatalog
    from skyqa.drizzle import Mosaic
    from skyqa.products import FieldInputs, ProductMeasures


@dataclass(frozen=True)
class Computed:
    """A pipeline's results so far: each stage's (None where not built), the mosaics by
    sky method in the spec's order (those built), and their seams once the overlaps and a
    mosaic are built. The fields are named as the results are (`skyqa.results`)."""

    exposures: ExposureSet | None = None
    catalog: ReferenceCatalog | None = None
    alignment: AlignmentResult | None = None
    columns: pd.DataFrame | None = None
    emission: pd.DataFrame | None = None
    residuals: pd.DataFrame | None = None
    placement: AlignmentPlacement | None = None
    sources: pd.DataFrame | None = None
    overlaps: pd.DataFrame | None = None
    skies: pd.DataFrame | None = None
    stars: FieldInputs | None = None
    products: ProductMeasures | None = None
    mosaics: dict[str, Mosaic] = field(default_factory=dict)
    seams: pd.DataFrame | None = None

    def of(self, name: str) -> Any:
        """The result named ``name`` (one of `skyqa.results`' names)."""
        if name not in RESULT_NAMES:
            raise KeyError(f"no result named {name!r}; known: {', '.join(RESULT_NAMES)}")
        return getattr(self, name)

    def built(self) -> dict[str, Any]:
        """The results present (not None, not empty), by name."""
        values = {name: getattr(self, name) for name in RESULT_NAMES}
        return {
            name: value
            for name, value in values.items()
            if value is not None and (not isinstance(value, dict) or value)
        }


RESULT_NAMES = tuple(f.name for f in dataclasses.fields(Computed))
"""The names of the results a pipeline computes, in the order it computes them."""
