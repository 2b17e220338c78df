"""The report's display helpers."""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skyqa.report.display import _block_average, _display_factor


def _nanmean_blocks(image, factor):
    ny, nx = (size // factor * factor for size in image.shape)
    blocks = image[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: NaN
        return np.nanmean(blocks, axis=(1, 3), dtype=np.float64)


@settings(max_examples=60, deadline=None)
@given(
    ny=st.integers(1, 60),
    nx=st.integers(1, 60),
    limit=st.integers(1, 20),
    blank=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_block_average_is_the_mean_of_each_blocks_finite_pixels(ny, nx, limit, blank, seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 30.0, (ny, nx)).astype(np.float32)
    image[rng.random((ny, nx)) < blank] = np.nan
    image[rng.random((ny, nx)) < blank / 4] = np.inf
    shown = _block_average(image, limit)
    factor = _display_factor(image.shape, limit)
    if factor == 1:
        assert shown is image
        return
    expected = _nanmean_blocks(np.where(np.isfinite(image), image, np.nan), factor)
    assert shown.shape == expected.shape
    assert max(shown.shape) <= limit
    np.testing.assert_allclose(shown, expected, rtol=1e-12, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(
    ny=st.integers(1, 70),
    nx=st.integers(1, 50),
    limit=st.integers(1, 12),
    strip_blocks=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_images_reduced_strip_by_strip_equal_the_whole_images_reduced(
    tmp_path_factory, ny, nx, limit, strip_blocks, seed
):
    """`reduced_image` reads a few rows of blocks at a time: the same numbers as the
    whole images block-averaged, for one image and for a combination of three."""
    from unittest import mock

    from astropy.io import fits

    from skyqa.report import display

    folder = tmp_path_factory.mktemp("reduced")
    rng = np.random.default_rng(seed)
    images = [rng.normal(1.0, 0.3, (ny, nx)).astype(np.float32) for _ in range(3)]
    images[0][rng.random((ny, nx)) < 0.2] = np.nan
    paths = []
    for number, image in enumerate(images):
        paths.append(folder / f"{number}.fits")
        fits.PrimaryHDU(image).writeto(paths[-1])

    def combine(a, b, weight):
        return np.where(weight > 1.0, a - b, np.nan)

    with mock.patch.object(display, "STRIP_BLOCKS", strip_blocks):
        factor, single = display.reduced_image(paths[:1], limit=limit)
        _, combined = display.reduced_image(paths, combine, limit=limit)
    assert factor == _display_factor((ny, nx), limit)
    np.testing.assert_array_equal(single, _block_average(images[0], limit))
    np.testing.assert_array_equal(combined, _block_average(combine(*images), limit))


def _check(verdicts, status="passed"):
    from skyqa.summary import rank_check, verdict_record

    record = {
        "id": "test_seam_free[f-match]",
        "name": "test_seam_free",
        "status": status,
        "message": "",
        "verdicts": [verdict_record(v) for v in verdicts],
    }
    rank_check(record, verdicts)
    return record


def _seam(pair, value, passed=True):
    from skyqa.verdict import Verdict

    return Verdict(
        "Overlap is seam-free", f"pair {pair}", passed, f"{value:+.3f} x pixel noise",
        "|difference| <= 0.1 x pixel noise", "look.", item="match", value=value, limit=0.1,
    )  # fmt: skip


def _summary(checks):
    from skyqa.summary import build_summary

    environment = {"label": "here", "versions": {"drizzlepac": "3.11.0"}}
    return build_summary("f", checks, environment, {}, {})


def test_the_row_of_a_check_shows_its_worst_verdict_not_its_first(tmp_path):
    from skyqa.report import check_line, write_index

    check = _check([_seam("a-b", 0.005), _seam("c-d", -0.092), _seam("e-f", 0.03)])
    assert (check["worst"], check["within"]) == (1, 3)
    line = check_line(check)
    assert line == (
        "PASSED     test_seam_free[f-match]: worst pair c-d: -0.092 x pixel noise (required "
        "|difference| <= 0.1 x pixel noise; 0.92 of the way to the threshold); "
        "3 of 3 within threshold"
    )
    page = write_index(tmp_path / "index.html", _summary([check]), "", [], []).read_text()
    row = page[page.index('<tr class="passed"><td>test_seam_free[f-match]') :]
    row = row[: row.index("</tr>")]
    assert "<td>pair c-d</td><td>-0.092 x pixel noise</td>" in row
    assert "0.92 of the way to the threshold" in row
    assert "3 of 3 within threshold" in page
    assert "all 3 verdicts, worst first" in page
    folded = page[page.index("all 3 verdicts, worst first") :]
    assert folded.index("pair c-d") < folded.index("pair e-f") < folded.index("pair a-b")


def test_a_failed_verdict_is_shown_before_a_nearer_passed_one(tmp_path):
    from skyqa.report import check_line

    check = _check(
        [_seam("a-b", 0.099), _seam("c-d", 0.05, passed=False), _seam("e-f", 0.0)], "failed"
    )
    assert check["worst"] == 1
    assert "worst pair c-d" in check_line(check)
    assert check_line(check).endswith("2 of 3 within threshold")


def test_a_nan_verdict_is_the_worst_and_long_messages_wrap(tmp_path):
    import math

    from skyqa.report import write_index

    check = _check([_seam("a-b", 0.2, passed=False), _seam("c-d", math.nan, passed=False)])
    assert check["worst"] == 1
    check["status"], check["message"] = "failed", "Next: " + "x" * 500
    page = write_index(tmp_path / "i.html", _summary([check]), "", [], []).read_text()
    assert "white-space:pre-wrap" in page
    assert "Verdict: <b>FAILED</b>" in page


def test_the_display_wcs_of_block_averages_places_each_block_where_its_pixels_are():
    from astropy.wcs import WCS

    from skyqa.report.drawing import _display_wcs

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [85.25, -2.45]
    wcs.wcs.crpix = [500.0, 400.0]
    wcs.wcs.cd = [[-2.0e-5, 1.0e-5], [1.0e-5, 2.0e-5]]
    header = wcs.to_header()
    for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        header.remove(key, ignore_missing=True)
    header["CD1_1"], header["CD1_2"], header["CD2_1"], header["CD2_2"] = -2e-5, 1e-5, 1e-5, 2e-5
    for factor in (1, 4, 5):
        shown = _display_wcs(header, factor)
        for column, row in ((0.0, 0.0), (7.0, 14.0), (123.0, 3.0)):
            # The mean position of the block's pixels, in the full image.
            centre = [index * factor + (factor - 1) / 2 for index in (column, row)]
            expected = WCS(header).wcs_pix2world([centre], 0)[0]
            got = shown.wcs_pix2world([[column, row]], 0)[0]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_difference_figure_needs_one_pixel_grid(tmp_path):
    """Two mosaics on one grid are drawn; on two grids, the figure is left out (judged
    from the headers, before any pixel is read)."""
    from types import SimpleNamespace

    from astropy.io import fits
    from astropy.wcs import WCS

    from skyqa.report.drawing import figure_difference

    def mosaic(name, shape):
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [85.0, -2.45]
        wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
        wcs.wcs.cdelt = [-3.5e-5, 3.5e-5]
        sci, wht = tmp_path / f"{name}_sci.fits", tmp_path / f"{name}_wht.fits"
        fits.PrimaryHDU(np.full(shape, 1.0, np.float32), wcs.to_header()).writeto(sci)
        fits.PrimaryHDU(np.ones(shape, np.float32), wcs.to_header()).writeto(wht)
        return SimpleNamespace(sci_path=sci, wht_path=wht)

    same = {"match": mosaic("a", (40, 60)), "localmin": mosaic("b", (40, 60))}
    assert figure_difference(same, tmp_path / "same.png") == tmp_path / "same.png"
    assert (tmp_path / "same.png").is_file()
    other = {"match": same["match"], "localmin": mosaic("c", (40, 61))}
    assert figure_difference(other, tmp_path / "other.png") is None
    assert not (tmp_path / "other.png").exists()


def test_the_page_opens_with_the_recommendation_and_a_figure_index_and_folds_passed_rows(
    tmp_path,
):
    """Issue 31: the figures started 7,000 px down, below an 89-row table."""
    from skyqa.report import write_index

    passed = _check([_seam("a-b", 0.05)])
    failed = {**_check([_seam("c-d", 0.3, passed=False)], "failed"), "id": "test_x[f-match]"}
    summary = _summary([passed, failed])
    summary["recommendation"] = {
        "recommended": ["match"],
        "sentence": "Recommended: match: worst seam 0.050.",
        "methods": [
            {
                "method": "match",
                "fit": True,
                "failed": [],
                "worst_seam": 0.05,
                "rms_seam": 0.02,
                "oracle": 0.01,
                "recorded_sky": None,
                "truth": None,
                "cosmic_ray_max": None,
            },
        ],
    }
    figure = tmp_path / "seams.png"
    figure.write_bytes(b"\x89PNG")
    page = write_index(tmp_path / "index.html", summary, "", [figure], []).read_text()
    order = [
        page.index('id="recommendation"'),
        page.index('id="figure-index"'),
        page.index('id="failures"'),
        page.index('id="checks"'),
        page.index('id="passed-checks"'),
        page.index('id="figure-seams"'),
    ]
    assert order == sorted(order)
    assert '<a href="#figure-seams">seams</a>' in page
    assert "Recommended: match: worst seam 0.050." in page
    folded = page[page.index('id="passed-checks"') :]
    assert "1 checks passed or not applicable (unfold)" in folded
    assert "test_seam_free[f-match]" in folded
    assert "test_x[f-match]" not in folded


def test_a_product_not_released_has_its_findings_apart_from_the_failures(tmp_path):
    from skyqa.report import write_index

    unfit = {
        **_check([_seam("c-d", 0.3, passed=False)], "failed"),
        "id": "test_seam_free[f-localmin]",
        "product": "localmin",
        "released": False,
    }
    summary = _summary([_check([_seam("a-b", 0.05)]), unfit])
    assert summary["verdict"] == "passed"
    page = write_index(tmp_path / "index.html", summary, "", [], []).read_text()
    assert 'id="failures"' not in page
    findings = page[page.index('id="not-released"') :]
    assert "<b>test_seam_free[f-localmin]</b>: pair c-d: +0.300 x pixel noise" in findings


def test_a_script_writes_the_field_report_the_plugin_writes(tmp_path):
    """`write_field_report`: the summary and the page, as the plugin's ledger writes them;
    without a pipeline the page says nothing it cannot know, and nothing is raised."""
    import json

    from skyqa.report.field_report import write_field_report

    summary = _summary([_check([_seam("a-b", 0.005)])])
    written = write_field_report(tmp_path / "f", summary, None)
    assert written == [tmp_path / "f" / "summary.json", tmp_path / "f" / "index.html"]
    assert json.loads(written[0].read_text())["verdict"] == summary["verdict"]
    page = written[1].read_text()
    assert "test_seam_free[f-match]" in page
    assert "<img" not in page
