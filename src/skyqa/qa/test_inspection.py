"""QA: the data as delivered (tutorial sections 1.1 and 1.2)."""

import pytest

from skyqa.checks.inspection import (
    check_delivered_wcs,
    check_uniform_setup,
    column_verdict,
)
from skyqa.checks.limits import grades_of
from skyqa.plugin.verdicts import require, warn
from skyqa.verdict import about


def test_uniform_setup(header_table):
    """Every exposure has the same detector and filter, and a positive EXPTIME."""
    require(check_uniform_setup(header_table))


def test_delivered_wcs(request, visit, skyqa_field):
    """The archive's visit alignment is a Gaia fit graded with HAP's limits; beyond the good
    limit reported as a warning (delivered_wcs_policy = "warn"), or graded (a warning up to
    the accepted limit, a failure beyond it, and a failure if not fit to Gaia: "fail");
    not applicable where the spec declares its visit products deliberately unaligned
    ("unaligned")."""
    limits = skyqa_field.thresholds
    if limits.delivered_wcs_policy == "unaligned":
        pytest.skip(
            f"field {skyqa_field.name} declares its visit DRZs deliberately unaligned "
            "(delivered_wcs_policy = 'unaligned'): no archive alignment to judge"
        )
    # Asked for here, not as an argument: a check that does not apply reads no DRZ header.
    delivered_wcs_table = request.getfixturevalue("delivered_wcs_table")
    verdicts = about(check_delivered_wcs(delivered_wcs_table, grades_of(limits)), visit)
    assert verdicts, f"no visit DRZ found for visit {visit}"
    if limits.delivered_wcs_policy == "fail":
        require(verdicts)
    warn(verdicts)


def test_no_unflagged_bad_columns(column_outliers, skyqa_field):
    """No exposure has a detector column that stands out without a DQ flag."""
    limit = skyqa_field.thresholds.unflagged_column_max_sigma
    verdicts = []
    for row in column_outliers.itertuples(index=False):
        verdicts += column_verdict(
            row.rootname, row.column, row.deviation_e_s, row.score, limit, getattr(row, "chip", 0)
        )
    assert verdicts, "no exposure to inspect"
    require(verdicts)
