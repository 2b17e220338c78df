import pandas as pd

from skyqa.checks.inspection import check_delivered_wcs, check_uniform_setup
from skyqa.verdict import failures

# The delivered WCS of the real Horsehead visit DRZs (published run, 2025-11-21).
PUBLISHED_WCS = [
    ("ibxl50030", "IDC_w3m18525i-FIT_REL_GSC242", 18, 66.6, 52.5),
    ("ibxl51030", "IDC_w3m18525i-FIT_REL_GSC242", 31, 73.7, 86.3),
    ("ibxl52030", "IDC_w3m18525i-FIT_IMG_GSC242", 20, 58.5, 66.1),
    ("ibxl53030", "IDC_w3m18525i-FIT_REL_GSC242", 12, 55.6, 75.8),
    ("ibxl54030", "IDC_w3m18525i-FIT_REL_GSC242", 14, 72.8, 88.0),
    ("ibxl55030", "IDC_w3m18525i-FIT_REL_GSC242", 19, 63.5, 86.9),
    ("ibxl56030", "IDC_w3m18525i-FIT_REL_GSC242", 18, 61.9, 93.4),
    ("ibxl57030", "IDC_w3m18525i-FIT_REL_GAIAeDR3", 12, 5.8, 6.5),
    ("ibxl58030", "IDC_w3m18525i-FIT_REL_GAIAeDR3", 15, 11.5, 6.8),
]


def _wcs_table(rows):
    table = pd.DataFrame(rows, columns=["visit", "WCSNAME", "NMATCHES", "RMS_RA", "RMS_DEC"])
    table["FILENAME"] = table.pop("visit") + "_drz.fits"
    table["RMS_RA_pix"] = table["RMS_RA"] / 1000 / 0.1283
    table["RMS_DEC_pix"] = table["RMS_DEC"] / 1000 / 0.1283
    return table


def test_published_delivered_wcs_reports_the_seven_gsc_visits():
    failed = failures(check_delivered_wcs(_wcs_table(PUBLISHED_WCS), rms_max_pix=0.5))
    assert [v.item for v in failed] == [f"ibxl5{i}030" for i in range(7)]
    assert (
        "WCSNAME IDC_w3m18525i-FIT_REL_GSC242, 31 matches, RMS 0.57 x 0.67 pix"
        in failed[1].message()
    )


def test_gaia_fit_with_large_rms_is_reported():
    rows = [("ibxl57030", "IDC_w3m18525i-FIT_REL_GAIAeDR3", 12, 80.0, 6.5)]
    (failed,) = failures(check_delivered_wcs(_wcs_table(rows), rms_max_pix=0.5))
    assert "RMS 0.62 x 0.05 pix" in failed.measured


def test_mixed_filters_and_missing_exposure_time_fail():
    headers = pd.DataFrame(
        {
            "FILENAME": ["a_flt.fits", "b_flt.fits", "c_flt.fits"],
            "ROOTNAME": ["a", "b", "c"],
            "DETECTOR": ["IR", "IR", "IR"],
            "FILTER": ["F160W", "F160W", "F125W"],
            "EXPTIME": [702.9, 0.0, 702.9],
        }
    )
    failed = failures(check_uniform_setup(headers))
    assert [v.check for v in failed] == [
        "All exposures share one FILTER",
        "Exposure time is positive",
    ]
    assert "FILTER F160W, except c_flt.fits" in failed[0].message()
    assert failed[1].subject == "exposure b_flt.fits"
