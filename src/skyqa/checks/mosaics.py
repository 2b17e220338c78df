"""Checks that the final mosaics exist and hold data."""

from __future__ import annotations

from skyqa.drizzle import Mosaic
from skyqa.verdict import Verdict


def check_mosaic_exists(mosaic: Mosaic) -> list[Verdict]:
    """The mosaic's science and weight images exist and have positive weight somewhere.

    Returns one verdict per image (science, weight). What the images hold is the
    mosaic's `Mosaic.coverage` (measured once, when its cache entry was made).
    """
    verdicts = []
    coverage = mosaic.coverage
    for kind, path in (("science", mosaic.sci_path), ("weight", mosaic.wht_path)):
        subject = f"the {mosaic.skymethod} mosaic's {kind} image {path.name}"
        if not path.is_file() or kind not in coverage:
            verdicts.append(
                Verdict(
                    "Mosaic image exists",
                    subject,
                    False,
                    "file missing",
                    "a FITS image",
                    f"read the AstroDrizzle log {mosaic.log_path}.",
                )
            )
            continue
        pixels, fraction = coverage[kind]["pixels"], coverage[kind]["fraction"]
        verdicts.append(
            Verdict(
                "Mosaic image holds data",
                subject,
                fraction > 0,
                f"{fraction:.1%} of {pixels} pixels "
                + ("with positive weight" if kind == "weight" else "finite"),
                "> 0%",
                f"an empty mosaic means no input pixel was drizzled: read {mosaic.log_path} "
                "and check the inputs' DQ arrays against final_bits.",
            )
        )
    return verdicts
