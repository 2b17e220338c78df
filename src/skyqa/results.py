"""The pipeline's results by name, and the sky methods that name its mosaics: each
written here once. A leaf: every layer may import it, and it imports nothing of skyqa's.

A stage's name is also its folder in the cache (`skyqa.cache`); the mosaic of one sky
method is the stage `mosaic_stage_name` (``mosaic-globalmin_match``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPOSURES = "exposures"
CATALOG = "catalog"
ALIGNMENT = "alignment"
COLUMNS = "columns"
EMISSION = "emission"
RESIDUALS = "residuals"
PLACEMENT = "placement"
SOURCES = "sources"
OVERLAPS = "overlaps"
MOSAICS = "mosaics"
"""The result of the mosaic stages, one per sky method (`mosaic_stage_name`)."""
SKIES = "skies"
PRODUCTS = "products"
"""Every mosaic measured as a product (`skyqa.products`): the result of the product
stages, one per sky method (`product_stage_name`), each measured against the field's
`PRODUCT_INPUTS`."""
PRODUCT_INPUTS = "stars"
"""What every product of a field is held against, measured once from its aligned
exposures (`skyqa.products.field_inputs`): the isolated catalog stars in every exposure,
the chips' outlines, the nominal scale and the photometric keywords."""
SEAMS = "seams"
"""Each sky method's seam in every overlap (`skyqa.oracle.seam_table`): the overlaps less
the MDRIZSKY the method subtracted. Not a stage: derived by the pipeline from two
(`skyqa.pipeline.Pipeline.seams`), once, for the checks, the report, the metrics and the
reviews alike."""
FIGURES = "figures"
"""The report's figure groups, one stage each (`skyqa.report.stages`)."""

MOSAIC_PREFIX = f"{MOSAICS[:-1]}-"
OVERLAP_PART_PREFIX = f"{OVERLAPS}-part"


@dataclass(frozen=True)
class SkyMethod:
    """One of AstroDrizzle's ``skymethod`` values, as skyqa treats it.

    ``matches``: it equalises the skies of overlapping exposures (``match``,
    ``globalmin+match``), so its MDRIZSKY are offsets between exposures rather than
    each exposure's own sky; ``cost``: its mosaic's expected build time (s,
    horsehead-sim on two cores) before the cache has built it (sky matching takes
    longer).
    """

    name: str
    matches: bool
    cost: float

    @property
    def folder(self) -> str:
        """A folder name for the method ('globalmin+match' -> 'globalmin_match')."""
        return re.sub(r"[^a-z0-9]+", "_", self.name)


SKY_METHODS: dict[str, SkyMethod] = {
    method.name: method
    for method in (
        SkyMethod("localmin", matches=False, cost=7.0),
        SkyMethod("match", matches=True, cost=11.0),
        SkyMethod("globalmin+match", matches=True, cost=11.0),
        SkyMethod("globalmin", matches=False, cost=7.0),
    )
}
"""AstroDrizzle's four sky methods, in the order skyqa runs and shows them."""


def mosaic_stage_name(skymethod: str) -> str:
    """The stage (and cache folder) name of the mosaic of one sky method."""
    return f"{MOSAIC_PREFIX}{SKY_METHODS[skymethod].folder}"


PRODUCT_PREFIX = f"{PRODUCTS[:-1]}-"


def product_stage_name(skymethod: str) -> str:
    """The stage (and cache folder) name of one sky method's mosaic measured as a
    product."""
    return f"{PRODUCT_PREFIX}{SKY_METHODS[skymethod].folder}"
