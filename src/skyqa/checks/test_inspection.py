"""QA: the data as delivered (tutorial sections 1.1 and 1.2)."""

from skyqa.checks.inspection import (
    check_delivered_wcs,
    check_unflagged_columns,
    check_uniform_setup,
)
from skyqa.verdict import about, report, require


def test_uniform_setup(header_table):
    """Every exposure has the same detector and filter, and a positive EXPTIME."""
    require(check_uniform_setup(header_table))


def test_delivered_wcs(delivered_wcs_table, visit, skyqa_field):
    """The archive's visit alignment is a Gaia fit within the RMS limit; reported as a
    warning (delivered_wcs_policy = "warn") or a failure ("fail")."""
    limits = skyqa_field.thresholds
    verdicts = about(
        check_delivered_wcs(delivered_wcs_table, limits.delivered_wcs_rms_max_pix), visit
    )
    assert verdicts, f"no visit DRZ found for visit {visit}"
    if limits.delivered_wcs_policy == "fail":
        require(verdicts)
    report(verdicts)


def test_no_unflagged_bad_columns(raw_exposures, skyqa_field):
    """No exposure has a detector column that stands out without a DQ flag."""
    from astropy.io import fits

    from skyqa.measure import parse_bits

    good_bits = parse_bits(skyqa_field.astrodrizzle.final_bits)
    verdicts = []
    for path in raw_exposures.flt_paths:
        with fits.open(path) as hdul:
            verdicts += check_unflagged_columns(
                path.name[:9],
                hdul["SCI", 1].data,
                hdul["DQ", 1].data,
                good_bits,
                skyqa_field.thresholds.unflagged_column_max_sigma,
            )
    require(verdicts)
