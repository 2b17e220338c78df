"""QA: the four final mosaics exist and hold data."""

from skyqa.checks.mosaics import check_mosaic_exists
from skyqa.verdict import require


def test_mosaic_exists(mosaic):
    """The sky method's mosaic has a science and a weight image with data."""
    require(check_mosaic_exists(mosaic))
