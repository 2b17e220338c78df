import math

import pytest

from skyqa.align import count_matches, parse_shift_file
from skyqa.errors import PipelineStepError

SHIFT_FILE = """# frame: output
# refimage: shifts_wcs.fits[wcs]
# form: delta
# units: pixels
ibxl50030_drz.fits    -0.914800  -0.443400    0.022802     1.000451   0.051000  0.082000
ibxl51030_drz.fits    nan  nan    nan     nan   nan  nan
"""


def test_shift_file_keeps_nan_and_line_numbers(tmp_path):
    path = tmp_path / "shift_drz.txt"
    path.write_text(SHIFT_FILE)
    table = parse_shift_file(path)
    assert list(table["image"]) == ["ibxl50030_drz.fits", "ibxl51030_drz.fits"]
    assert list(table["line"]) == [5, 6]
    assert table.loc[0, "xsh_pix"] == pytest.approx(-0.9148)
    assert table.loc[0, "rot_deg"] == pytest.approx(0.022802)
    assert table.loc[0, "yrms_pix"] == pytest.approx(0.082)
    assert math.isnan(table.loc[1, "xrms_pix"])


def test_shift_file_with_a_short_line_is_refused(tmp_path):
    path = tmp_path / "shift_drz.txt"
    path.write_text("ibxl50030_drz.fits -0.91 -0.44\n")
    with pytest.raises(PipelineStepError, match=r"shift_drz.txt line 1 has 3 columns, expected 7"):
        parse_shift_file(path)


def test_count_matches_counts_data_lines(tmp_path):
    path = tmp_path / "x_catalog_fit.match"
    path.write_text("# header\n#\n  -1.0 2.0 3.0\n  4.0 5.0 6.0\n\n")
    assert count_matches(path) == 2
    assert count_matches(tmp_path / "absent.match") == 0
