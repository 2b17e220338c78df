"""The bare pipeline: the tutorial's calls in sequence, no harness (for the benchmark).

    python benchmarks/bare_pipeline.py FIELD_DIR FIELD_SPEC

FIELD_DIR holds the field's FLTs, visit DRZs and ``reference_catalog.ecsv``, as skyqa
generated them; they are edited in place (the benchmark gives this script a copy).
TweakReg (fit, then update), tweakback (``apply_tweak``) on every visit, AstroDrizzle
once per sky method with the field spec's parameters, each on its own copy of the
aligned FLTs.
"""

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("ASTROMETRY_STEP_CONTROL", "OFF")


def main(directory: Path, spec_path: str) -> None:
    from astropy.table import Table
    from drizzlepac import astrodrizzle, tweakback, tweakreg

    from skyqa.field import resolve_field

    field = resolve_field(spec_path)
    os.chdir(directory)
    drzs = sorted(str(path.name) for path in directory.glob("*_drz.fits"))
    flts = sorted(str(path.name) for path in directory.glob("*_flt.fits"))
    catalog = Table.read("reference_catalog.ecsv", format="ascii.ecsv")
    catalog[["ra", "dec"]].write("refcat.txt", format="ascii.no_header", overwrite=True)
    params = field.tweakreg
    common = dict(
        imagefindcfg={"threshold": params.threshold, "conv_width": params.conv_width},
        refcat="refcat.txt",
        searchrad=params.searchrad,
        searchunits="arcseconds",
        minobj=params.minobj,
        ylimit=params.ylimit,
        nclip=params.nclip,
        fitgeometry=params.fitgeometry,
        interactive=False,
        see2dplot=False,
        residplot="No plot",
        shiftfile=True,
        outshifts="shift_drz.txt",
        wcsname="BARE_GAIA",
        reusename=True,
    )
    from astropy.io import fits

    tweakreg.TweakReg(drzs, updatehdr=False, **common)
    # tweakback needs the WCS name from before the update (named after it, it does nothing).
    before = {drz: fits.getval(drz, "WCSNAME", ("SCI", 1)) for drz in drzs}
    tweakreg.TweakReg(drzs, updatehdr=True, **common)
    for drz in drzs:
        tweakback.apply_tweak(f"{drz}[sci,1]", orig_wcs_name=before[drz])
    drizzle = field.astrodrizzle
    for method in drizzle.skymethods:
        own = directory / f"drizzle-{method.replace('+', '_')}"
        own.mkdir()
        for flt in flts:
            shutil.copy2(flt, own / flt)
        os.chdir(own)
        astrodrizzle.AstroDrizzle(
            flts,
            output=f"{drizzle.output_prefix}_{method.replace('+', '_')}",
            preserve=False,
            context=drizzle.context,
            build=False,
            clean=True,
            driz_separate=False,
            median=False,
            blot=False,
            driz_cr=False,
            skysub=True,
            skymethod=method,
            final_bits=drizzle.final_bits,
            final_wcs=drizzle.final_wcs,
            final_rot=drizzle.final_rot,
            final_scale=drizzle.final_scale,
        )
        os.chdir(directory)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), sys.argv[2])
