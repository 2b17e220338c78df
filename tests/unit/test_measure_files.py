"""skyqa's measurements read from FLT files: which pixels are usable, the detector-column
statistics, and the overlap measurement end to end, on tiny files with a plain TAN WCS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skyqa import overlaps
from skyqa.columns import column_outliers
from skyqa.measure import (
    PAIR_COLUMNS,
    SMALL_OVERLAP_PIXELS,
    ExposurePixels,
    _bilinear,
    grid_samples,
    load_exposure,
    measure_pairs,
    pair_statistics,
)
from skyqa.oracle import seam_score, solve_offsets

SCALE = 0.13 / 3600
SIZE = 64


def _wcs(ra_offset_pix=0.0, size=SIZE):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25 + ra_offset_pix * SCALE, -2.45]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cd = [[-SCALE, 0.0], [0.0, SCALE]]
    return wcs


def _flt(path, sci, err=None, dq=None, rootname="isqa01a1q", wcs=None):
    """An FLT with SCI, ERR and DQ (and a TAN WCS with CD keywords, as drizzlepac wants)."""
    header = (wcs or _wcs(size=sci.shape[0])).to_header()
    for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        header.remove(key, ignore_missing=True)
    header["CD1_1"], header["CD2_2"], header["CD1_2"], header["CD2_1"] = -SCALE, SCALE, 0.0, 0.0
    primary = fits.PrimaryHDU()
    if rootname is not None:
        primary.header["ROOTNAME"] = rootname.upper()
    err = np.full(sci.shape, 0.1, dtype=np.float32) if err is None else err
    dq = np.zeros(sci.shape, dtype=np.int16) if dq is None else dq
    fits.HDUList(
        [
            primary,
            fits.ImageHDU(sci.astype(np.float32), header, name="SCI"),
            fits.ImageHDU(err.astype(np.float32), header, name="ERR"),
            fits.ImageHDU(dq, header, name="DQ"),
        ]
    ).writeto(path)
    return path


def test_usable_pixels_leave_out_bad_dq_non_finite_values_and_sources(tmp_path):
    sci = np.ones((SIZE, SIZE))
    err = np.full((SIZE, SIZE), 0.1)
    dq = np.zeros((SIZE, SIZE), dtype=np.int16)
    dq[5, 5], dq[5, 6], dq[5, 7] = 16, 4, 16 | 512  # good by final_bits, bad, bad
    sci[6, 5] = np.nan
    err[6, 6], err[6, 7] = 0.0, np.nan
    sci[40, 40] = 1.4  # a source: 4 ERR above its neighbourhood
    sci[20, 40] = 1.25  # 2.5 ERR: not a source
    exposure = load_exposure(_flt(tmp_path / "a_flt.fits", sci, err, dq), good_bits=16)
    assert exposure.rootname == "isqa01a1q"
    assert exposure.usable[5, 5]
    assert not exposure.usable[5, 6]
    assert not exposure.usable[5, 7]
    assert not exposure.usable[6, 5]
    assert not exposure.usable[6, 6]
    assert not exposure.usable[6, 7]
    assert exposure.usable[20, 40]
    # The source and its neighbours within 2 pixels (4-connected growth) are left out.
    for row, column in [(40, 40), (42, 40), (40, 38), (41, 41), (39, 39)]:
        assert not exposure.usable[row, column], (row, column)
    for row, column in [(43, 40), (40, 37), (42, 41), (38, 39)]:
        assert exposure.usable[row, column], (row, column)
    assert exposure.usable.sum() == SIZE * SIZE - 5 - 13
    assert exposure.usable_noise == pytest.approx(0.1)
    assert exposure.sci.dtype == np.float64


def test_rootname_comes_from_the_header_else_the_file_name(tmp_path):
    sci = np.ones((16, 16))
    exposure = load_exposure(_flt(tmp_path / "isqa02b1q_flt.fits", sci, rootname=None), 16)
    assert exposure.rootname == "isqa02b1q"


def test_an_exposure_with_no_good_pixel_has_none_usable(tmp_path):
    sci = np.ones((16, 16))
    dq = np.full((16, 16), 4, dtype=np.int16)
    exposure = load_exposure(_flt(tmp_path / "a_flt.fits", sci, dq=dq), 16)
    assert not exposure.usable.any()


def test_grid_samples_map_through_the_sip_distortion():
    from astropy.wcs import Sip

    wcs = _wcs(size=32)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    a = np.zeros((3, 3))
    a[2, 0] = 2e-4  # x^2: 0.05 pixel at the corners, 0.2 pixel across
    wcs.sip = Sip(a, np.zeros((3, 3)), None, None, wcs.wcs.crpix)
    exposure = ExposurePixels(
        "a", np.zeros((32, 32)), np.ones((32, 32)), np.ones((32, 32), bool), wcs
    )
    samples = grid_samples(exposure, step=4)
    ra, dec = wcs.all_pix2world(samples.x, samples.y, 0)
    np.testing.assert_allclose(samples.ra, ra, rtol=0, atol=1e-10)
    np.testing.assert_allclose(samples.dec, dec, rtol=0, atol=1e-10)


def test_grid_samples_take_every_step_th_usable_pixel_to_the_sky():
    usable = np.ones((8, 8), dtype=bool)
    usable[0, 2] = False
    exposure = ExposurePixels("a", np.zeros((8, 8)), np.ones((8, 8)), usable, _wcs(size=8))
    samples = grid_samples(exposure, step=2)
    assert samples.x.size == 16 - 1
    assert (samples.x[:3], samples.y[:3]) == (pytest.approx([0, 4, 6]), pytest.approx([0, 0, 0]))
    ra, dec = exposure.wcs.all_pix2world(samples.x, samples.y, 0)
    np.testing.assert_allclose(samples.ra, ra, rtol=0, atol=1e-10)
    np.testing.assert_allclose(samples.dec, dec, rtol=0, atol=1e-10)


def test_bilinear_reproduces_a_plane_and_needs_all_four_neighbours():
    y, x = np.mgrid[0:6, 0:6].astype(float)
    plane = 2.0 + 0.5 * x - 0.25 * y
    usable = np.ones(plane.shape, dtype=bool)
    usable[3, 4] = False
    value, ok, _ = _bilinear(plane, usable, np.array([1.25, 3.5, 2.0]), np.array([2.75, 2.5, 1.0]))
    np.testing.assert_allclose(
        value, 2.0 + 0.5 * np.array([1.25, 3.5, 2.0]) - 0.25 * np.array([2.75, 2.5, 1.0])
    )
    assert ok.tolist() == [True, False, True]


def _exposure(name, ra_offset_pix, level, size=SIZE):
    sci = np.full((size, size), level)
    return ExposurePixels(
        name, sci, np.full(sci.shape, 0.02), np.ones(sci.shape, bool), _wcs(ra_offset_pix, size)
    )


def test_pair_statistics_at_its_minimum_number_of_pixels():
    # b at 0: its interpolated values are exactly 0, so no difference is clipped and
    # n_pixels is the number of differences the minimum applies to.
    a, b = _exposure("a", 0, 1.0), _exposure("b", -32, 0.0)
    row = pair_statistics(a, b, step=1, min_pixels=1)
    assert row["raw_median_e_s"] == 1.0
    assert row["uncertainty_e_s"] == 0.0
    assert row["pixel_noise_e_s"] == pytest.approx(0.02)
    assert (row["exposure_a"], row["exposure_b"]) == ("a", "b")
    count = row["n_pixels"]
    assert 31 * 63 <= count <= 33 * 64
    assert pair_statistics(a, b, step=1, min_pixels=count)["n_pixels"] == count
    assert pair_statistics(a, b, step=1, min_pixels=count + 1) is None
    # An overlap this small (about 2,000 pixels) is measured at every pixel at step 2 too.
    assert count < SMALL_OVERLAP_PIXELS
    assert pair_statistics(a, b, step=2, min_pixels=1)["n_pixels"] == count


def test_pair_statistics_clips_outliers_and_scales_the_uncertainty():
    rng = np.random.default_rng(3)
    a, b = _exposure("a", 0, 1.0), _exposure("b", -32, 0.9)
    noisy = ExposurePixels("a", a.sci + rng.normal(0, 0.01, a.sci.shape), a.err, a.usable, a.wcs)
    noisy.sci[10, 40:60] = 50.0  # a streak the median and the clipping must ignore
    row = pair_statistics(noisy, b, step=1, min_pixels=1)
    assert row["raw_median_e_s"] == pytest.approx(0.1, abs=0.002)
    assert row["n_pixels"] < pair_statistics(a, b, step=1, min_pixels=1)["n_pixels"]
    expected = 1.2533 * 0.01 / np.sqrt(row["n_pixels"])
    assert row["uncertainty_e_s"] == pytest.approx(expected, rel=0.1)


def test_pair_statistics_of_exposures_that_do_not_overlap_is_none():
    assert pair_statistics(_exposure("a", 0, 1.0), _exposure("b", -200, 1.0), min_pixels=1) is None


def test_measure_overlaps_reads_the_files_in_rootname_order(tmp_path):
    paths = [
        _flt(tmp_path / "b_flt.fits", np.full((SIZE, SIZE), 0.9), rootname="isqa01b1q",
             wcs=_wcs(-32)),
        _flt(tmp_path / "a_flt.fits", np.full((SIZE, SIZE), 1.0), rootname="isqa01a1q"),
    ]  # fmt: skip
    pairs = overlaps.measure_overlaps(paths, "16", min_pixels=100, step=2)
    assert pairs[["exposure_a", "exposure_b"]].values.tolist() == [["isqa01a1q", "isqa01b1q"]]
    assert pairs.loc[0, "raw_median_e_s"] == pytest.approx(0.1)
    # Every pixel: the overlap (33 x 64) is below SMALL_OVERLAP_PIXELS.
    assert pairs.loc[0, "n_pixels"] > 33 * 64 / 2
    assert overlaps.measure_overlaps(paths, "16", min_pixels=2000, step=2).empty
    every_pixel = overlaps.measure_overlaps(paths, "16", min_pixels=100, step=1)
    assert every_pixel.loc[0, "n_pixels"] == pairs.loc[0, "n_pixels"]


def _tiles(tmp_path, columns=4, rows=3, spacing=48):
    """``columns`` x ``rows`` exposures ``spacing`` pixels apart (16 pixels of overlap
    with each neighbour), each at its own sky level, named so that rootname order is
    not the order of the files."""
    rng = np.random.default_rng(7)
    paths = []
    for index in range(columns * rows):
        row, column = divmod(index, columns)
        wcs = _wcs(-column * spacing)
        wcs.wcs.crval[1] += row * spacing * SCALE
        sci = 1.0 + 0.01 * index + rng.normal(0, 0.02, (SIZE, SIZE))
        name = f"isqa{(7 * index) % (columns * rows):02d}q1q"
        paths.append(_flt(tmp_path / f"{index}_flt.fits", sci, rootname=name, wcs=wcs))
    return paths


def test_overlap_parts_together_are_every_pair_measured_at_once(tmp_path, monkeypatch):
    """The pairs kept from the headers' caps hold every overlapping pair; the parts,
    each holding two exposures at most, give together exactly the table of all pairs."""
    paths = _tiles(tmp_path)
    every = measure_pairs([load_exposure(path, 16) for path in paths], step=2, min_pixels=100)
    assert len(every) == 17  # 3 x 3 side by side, 4 x 2 one above the other
    monkeypatch.setattr(overlaps, "EXPOSURES_HELD", 2)
    for parts in (1, 3, 5):
        tables = [
            overlaps.measure_overlaps(paths, "16", 100, 2, part=part, parts=parts)
            for part in range(parts)
        ]
        assert sum(not table.empty for table in tables) >= min(parts, 2)  # the work is split
        pd.testing.assert_frame_equal(overlaps.join_parts(tables), every)
    caps = sorted((overlaps.footprint_cap(path) for path in paths), key=lambda c: c.rootname)
    candidates = overlaps.candidate_pairs(caps)
    assert len(candidates) < len(paths) * (len(paths) - 1) / 2  # far pairs are not read
    assert len(candidates) >= len(every)


def test_an_overlap_part_out_of_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="part 3 of 3: parts are numbered 0 to 2"):
        overlaps.measure_overlaps([], "16", part=3, parts=3)


def test_overlap_parts_grow_with_the_exposures():
    assert [overlaps.overlap_parts(n) for n in (1, 8, 18, 36, 72, 288)] == [1, 1, 1, 1, 2, 6]


def test_column_outliers_from_files_find_an_unflagged_hot_column(tmp_path):
    rng = np.random.default_rng(4)
    sci = 0.5 + rng.normal(0, 0.03, (SIZE, SIZE))
    sci[:, 17] += 0.3
    dq = np.zeros((SIZE, SIZE), dtype=np.int16)
    path = _flt(tmp_path / "a_flt.fits", sci, dq=dq)
    table = column_outliers([path], "16")
    assert table.columns.tolist() == ["rootname", "column", "deviation_e_s", "score"]
    row = table.iloc[0]
    assert (row["rootname"], row["column"]) == ("isqa01a1q", 17)
    assert row["deviation_e_s"] == pytest.approx(0.3, abs=0.02)
    assert row["score"] > 30
    dq[:, 17] = 4  # flagged bad: no longer an outlier
    flagged = _flt(tmp_path / "b_flt.fits", sci, dq=dq)
    assert column_outliers([flagged], "16").iloc[0]["score"] < 5
    dq[:, 17] = 16  # flagged, but with a bit final_bits calls good: still an outlier
    kept = _flt(tmp_path / "c_flt.fits", sci, dq=dq)
    assert column_outliers([kept], "16").iloc[0]["column"] == 17


def test_seam_score_is_the_pixel_weighted_rms():
    import pandas as pd

    seams = pd.DataFrame({"n_pixels": [100, 300], "match": [0.2, -0.1]})
    assert seam_score(seams, "match") == pytest.approx(np.sqrt((100 * 0.04 + 300 * 0.01) / 400))
    assert np.isnan(seam_score(seams.iloc[:0], "match"))


def test_solve_offsets_fixes_each_group_at_zero():
    import pandas as pd

    pairs = pd.DataFrame(
        {
            "exposure_a": ["a", "c"], "exposure_b": ["b", "d"],
            "raw_median_e_s": [0.02, -0.05], "uncertainty_e_s": [1e-4, 1e-4],
        }
    )  # fmt: skip
    offsets = solve_offsets(pairs, ["a", "b", "c", "d"])
    np.testing.assert_allclose(offsets[["a", "b", "c", "d"]], [0.02, 0.0, 0.0, 0.05], atol=1e-12)


def _offset_wcs(dx_pix, dy_pix, size=SIZE):
    wcs = _wcs(size=size)
    wcs.wcs.crval = [85.25 + dx_pix * SCALE / np.cos(np.radians(-2.45)), -2.45 + dy_pix * SCALE]
    return wcs


@pytest.mark.parametrize(
    ("dx", "dy", "columns", "rows"), [(32.5, 0.5, 31, 63), (-32.5, -0.5, 31, 63)]
)
def test_pair_statistics_counts_exactly_the_pixels_inside_the_other_exposure(dx, dy, columns, rows):
    """b is offset by half pixels, so no sample falls on b's edges: with every pixel usable
    and no difference clipped, the count is the overlap's geometry."""
    a = ExposurePixels("a", np.ones((SIZE, SIZE)), np.full((SIZE, SIZE), 0.02),
                       np.ones((SIZE, SIZE), bool), _offset_wcs(0, 0))  # fmt: skip
    b = ExposurePixels("b", np.zeros((SIZE, SIZE)), np.full((SIZE, SIZE), 0.02),
                       np.ones((SIZE, SIZE), bool), _offset_wcs(dx, dy))  # fmt: skip
    row = pair_statistics(a, b, step=1, min_pixels=1)
    # b's pixel x is a's x - dx: inside while 0 <= x_b < 63 (its last column has no right
    # neighbour to interpolate with); likewise y.
    assert row["n_pixels"] == columns * rows


def test_pair_statistics_samples_the_other_exposure_where_the_wcs_puts_it():
    """b rises by 0.01 e-/s a pixel in x: the median difference tells where a's pixels land."""
    x = np.mgrid[0:SIZE, 0:SIZE][1]
    a = ExposurePixels("a", np.zeros((SIZE, SIZE)), np.full((SIZE, SIZE), 0.02),
                       np.ones((SIZE, SIZE), bool), _offset_wcs(0, 0))  # fmt: skip
    b = ExposurePixels("b", 0.01 * x.astype(float), np.full((SIZE, SIZE), 0.02),
                       np.ones((SIZE, SIZE), bool), _offset_wcs(32.5, 0.5))  # fmt: skip
    row = pair_statistics(a, b, step=1, min_pixels=1)
    # b lies east of a, where x falls: a's columns 0..30 land on b's x = 32.5 .. 62.5,
    # median 47.5, so b reads 0.475 there.
    assert row["raw_median_e_s"] == pytest.approx(-0.475, abs=1e-6)


def test_measure_pairs_of_exposures_that_do_not_overlap_has_the_columns():
    from skyqa.measure import PAIR_COLUMNS, measure_pairs

    far = [_exposure("a", 0, 1.0), _exposure("b", -500, 1.0)]
    table = measure_pairs(far, step=2, min_pixels=1)
    assert table.empty
    assert table.columns.tolist() == PAIR_COLUMNS
    assert column_outliers([], "16").columns.tolist() == [
        "rootname",
        "column",
        "deviation_e_s",
        "score",
    ]


def test_overlap_groups_follow_chains_and_list_the_largest_first():
    import pandas as pd

    from skyqa.oracle import overlap_groups

    pairs = pd.DataFrame({"exposure_a": ["a", "c", "b"], "exposure_b": ["b", "d", "d"]})
    assert overlap_groups(pairs, ["a", "b", "c", "d", "e"]) == [["a", "b", "c", "d"], ["e"]]
    pairs = pd.DataFrame({"exposure_a": ["c", "d"], "exposure_b": ["d", "e"]})
    assert overlap_groups(pairs, ["a", "b", "c", "d", "e"]) == [["c", "d", "e"], ["a"], ["b"]]


def test_final_bits_with_a_plus():
    from skyqa.measure import parse_bits

    assert parse_bits("16+64") == 80
    assert parse_bits(" 16 , 512 ") == 528


def test_column_outlier_of_a_flat_or_wholly_flagged_exposure():
    from skyqa.columns import column_outlier

    flat = np.full((32, 32), 0.5)
    good = np.zeros((32, 32), dtype=np.int16)
    assert column_outlier(flat, good, 16) == (0, 0.0, 0.0)
    column, deviation, score = column_outlier(flat, np.full((32, 32), 4, np.int16), 16)
    assert column == 0
    assert np.isnan(deviation)
    assert np.isnan(score)


def test_bad_pixels_do_not_make_their_neighbours_look_like_sources(tmp_path):
    sci = np.ones((SIZE, SIZE))
    dq = np.zeros((SIZE, SIZE), dtype=np.int16)
    dq[:, 30:33] = 4  # three dead columns, filled with the median before the local mean
    exposure = load_exposure(_flt(tmp_path / "a_flt.fits", sci, dq=dq), 16)
    assert exposure.usable[:, 28].all()
    assert exposure.usable[:, 34].all()


def _two_chip_flt(path, rootname, ra_offset_pix, level):
    """A two-chip FLT in ELECTRONS over 100 s: [SCI,1] is CCDCHIP 2, [SCI,2] CCDCHIP 1
    (as on ACS/WFC and WFC3/UVIS), both chips on one sky position."""
    header = _wcs(ra_offset_pix).to_header()
    header["BUNIT"] = "ELECTRONS"
    primary = fits.PrimaryHDU()
    primary.header["ROOTNAME"], primary.header["EXPTIME"] = rootname.upper(), 100.0
    hdus = [primary]
    for extver, ccdchip in ((1, 2), (2, 1)):
        chip = header.copy()
        chip["CCDCHIP"] = ccdchip
        sci = np.full((SIZE, SIZE), 100.0 * level, dtype=np.float32)
        for name, data in (("SCI", sci), ("ERR", np.full_like(sci, 2.0)),
                           ("DQ", np.zeros(sci.shape, np.int16))):  # fmt: skip
            hdus.append(fits.ImageHDU(data, chip, name=name, ver=extver))
    fits.HDUList(hdus).writeto(path)
    return path


def test_a_two_chip_exposure_is_read_chip_by_chip_in_electrons_per_second(tmp_path):
    path = _two_chip_flt(tmp_path / "jsqa01a1q_flt.fits", "jsqa01a1q", 0.0, 0.8)
    first, second = (load_exposure(path, 0, extver) for extver in (1, 2))
    assert (first.chip, second.chip) == (2, 1)
    assert float(np.median(first.sci)) == pytest.approx(0.8)  # 80 electrons in 100 s
    assert first.usable_noise == pytest.approx(0.02)
    assert load_exposure(path, 0).chip == 0  # read as one chip: no chip number


def test_a_two_chip_pair_table_names_each_sides_chip(tmp_path):
    paths = [
        _two_chip_flt(tmp_path / f"{name}_flt.fits", name, shift, level)
        for name, shift, level in (("jsqa01a1q", 0.0, 0.8), ("jsqa01b1q", -20.0, 0.9))
    ]
    exposures = [load_exposure(path, 0, extver) for path in paths for extver in (1, 2)]
    table = measure_pairs(exposures, step=1, min_pixels=100)
    assert list(table.columns[:4]) == ["exposure_a", "exposure_b", "chip_a", "chip_b"]
    assert list(table.columns[4:]) == PAIR_COLUMNS[2:]
    assert sorted(zip(table.chip_a, table.chip_b, strict=True)) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert table.raw_median_e_s.to_numpy() == pytest.approx(-0.1)


def test_an_overlap_of_enough_pixels_stays_sampled_and_a_small_one_keeps_its_minimum():
    """A whole 80 x 80 overlap (more than `SMALL_OVERLAP_PIXELS`) is sampled every second
    pixel; a 5-column one, measured at every pixel, is held to the minimum asked for, not
    the default."""
    whole = pair_statistics(
        _exposure("a", 0, 1.0, size=80), _exposure("b", 0, 0.0, size=80), step=2, min_pixels=1
    )
    assert 1500 < whole["n_pixels"] <= 40 * 40
    a, b = _exposure("a", 0, 1.0), _exposure("b", -59, 0.0)
    sliver = pair_statistics(a, b, step=2, min_pixels=50)
    assert sliver is not None
    assert sliver["n_pixels"] < 500
