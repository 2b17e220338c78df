"""QA: sky levels (MDRIZSKY) per sky method."""

import pytest

from skyqa.checks.sky import check_mdrizsky_finite, check_pedestals_recovered
from skyqa.verdict import require


def test_mdrizsky_finite(mosaic):
    """Every exposure has one finite MDRIZSKY under this sky method."""
    require(check_mdrizsky_finite(mosaic.mdrizsky, mosaic.skymethod))


@pytest.mark.parametrize("skymethod", ["match", "globalmin+match"], indirect=True)
def test_match_recovers_injected_pedestals(mosaic, truth, skyqa_field):
    """On a synthetic field, the matched sky reproduces the injected pedestals."""
    if truth is None:
        pytest.skip(f"field {skyqa_field.name} is real data: no injected truth to compare with")
    require(
        check_pedestals_recovered(
            mosaic.mdrizsky,
            truth.pedestals_e_s,
            skyqa_field.thresholds.match_truth_tolerance_e_s,
            mosaic.skymethod,
        )
    )
