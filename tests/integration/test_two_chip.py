"""A two-chip synthetic field through AstroDrizzle: the ACS/WFC test field's exposures and
visit mosaics, made offline as the archive makes them (cosmic-ray rejection on)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from skyqa.acquire import acquire_exposures
from skyqa.field import resolve_field

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def acs_exposures(tmp_path_factory):
    field = resolve_field("acs-mini-sim")
    folder = tmp_path_factory.mktemp("acs-mini-sim")
    return field, acquire_exposures(field, folder, lambda message: None, workers=2)


def test_the_field_is_flcs_and_visit_drcs(acs_exposures):
    field, exposures = acs_exposures
    assert [path.name for path in exposures.flt_paths] == [
        f"{exposure.rootname}_flc.fits" for exposure in field.synthetic.exposures
    ]
    assert [path.name for path in exposures.visit_drz_paths] == [
        f"{visit}_drc.fits" for visit in field.visit_ids()
    ]
    with fits.open(exposures.visit_drz_paths[0]) as drc:
        assert drc["SCI"].header["BUNIT"] == "ELECTRONS/S"
        rows = drc["HDRTAB"].data
        assert sorted(zip(rows["ROOTNAME"], rows["CCDCHIP"], strict=True)) == [
            ("jsqa01a1q", 1), ("jsqa01a1q", 2), ("jsqa01a2q", 1), ("jsqa01a2q", 2),
        ]  # fmt: skip


def test_both_chips_carry_the_visits_one_sky_in_electrons(acs_exposures):
    _, exposures = acs_exposures
    for path in exposures.flt_paths:
        with fits.open(path) as hdul:
            skies = {hdul["SCI", n].header["MDRIZSKY"] for n in (1, 2)}
        assert len(skies) == 1, path.name


def test_cosmic_ray_rejection_flags_about_the_injected_hits(acs_exposures):
    """The visit drizzle flags 4096 about as many pixels as the simulator hit (the rest of
    the injected tracks fall off the chip or where only one exposure covers the sky)."""
    _, exposures = acs_exposures
    truth = json.loads(exposures.truth_path.read_text())
    for entry in truth["exposures"]:
        injected = sum(hit["length"] for hit in entry["unflagged_hits"])
        with fits.open(exposures.directory / f"{entry['rootname']}_flc.fits") as hdul:
            flagged = int(np.count_nonzero(hdul["DQ", entry["extver"]].data & 4096))
        assert 0.3 * injected < flagged < 1.3 * injected, (entry["rootname"], entry["extver"])


def _visit_pair(exposures, visit="jsqa01"):
    return [path for path in exposures.flt_paths if path.name.startswith(visit)]


def test_overlaps_are_measured_chip_by_chip_in_e_s(acs_exposures):
    """The two dithered exposures of a visit (whose relative WCS is right: one pointing
    error moves them both) overlap chip 1 on chip 1 and chip 2 on chip 2; each pair's sky
    difference, in e-/s, is the injected pedestals' difference."""
    from skyqa.overlaps import measure_overlaps

    _, exposures = acs_exposures
    truth = json.loads(exposures.truth_path.read_text())
    pedestal = {entry["rootname"]: entry["sky_pedestal_e_s"] for entry in truth["exposures"]}
    pairs = measure_overlaps(_visit_pair(exposures), "64, 16", 500, chips=2)
    assert sorted(zip(pairs["chip_a"], pairs["chip_b"], strict=True)) == [(1, 1), (2, 2)]
    expected = pedestal["jsqa01a1q"] - pedestal["jsqa01a2q"]
    for pair in pairs.itertuples():
        assert abs(pair.raw_median_e_s - expected) < 4 * pair.uncertainty_e_s + 0.001


def test_a_sky_offset_on_one_chip_shows_only_in_that_chips_pairs(acs_exposures, tmp_path):
    """What match cannot fit (one sky per exposure): a chip-to-chip offset, seen where the
    offset chip overlaps another exposure."""
    import shutil

    from skyqa.overlaps import measure_overlaps

    _, exposures = acs_exposures
    paths = [Path(shutil.copy(path, tmp_path)) for path in _visit_pair(exposures)]
    before = measure_overlaps(paths, "64, 16", 500, chips=2)
    offset_e_s = 0.05
    with fits.open(paths[0], mode="update") as hdul:  # chip 1 ([SCI,2]) of jsqa01a1q
        hdul["SCI", 2].data += np.float32(offset_e_s * hdul[0].header["EXPTIME"])
    after = measure_overlaps(paths, "64, 16", 500, chips=2)
    moved = dict(
        zip(after["chip_a"], after["raw_median_e_s"] - before["raw_median_e_s"], strict=True)
    )
    assert moved[1] == pytest.approx(offset_e_s, abs=0.002)
    assert moved[2] == pytest.approx(0.0, abs=1e-9)
