"""The detector models: which detector an exposure is, its chips in file order, and its
sky values as rates."""

from __future__ import annotations

import pytest

from skyqa import wfc3ir
from skyqa.detectors import ACS_WFC, DETECTORS, WFC3_IR, WFC3_UVIS, detector_of
from skyqa.errors import UnknownDetectorError


@pytest.mark.parametrize(
    ("instrument", "detector", "model"),
    [("WFC3", "IR", WFC3_IR), ("WFC3", "UVIS", WFC3_UVIS), ("ACS", "WFC", ACS_WFC)],
)
def test_an_exposure_is_routed_by_instrument_and_detector(instrument, detector, model):
    assert detector_of({"INSTRUME": instrument, "DETECTOR": f" {detector.lower()} "}) is model


@pytest.mark.parametrize(
    ("primary", "said"),
    [
        ({"INSTRUME": "ACS", "DETECTOR": "HRC"}, "INSTRUME=ACS DETECTOR=HRC"),
        ({"INSTRUME": "WFC3"}, "INSTRUME=WFC3 DETECTOR=(missing)"),
        ({}, "INSTRUME=(missing) DETECTOR=(missing)"),
    ],
)
def test_an_unknown_detector_is_one_sentence_naming_what_was_found(primary, said):
    with pytest.raises(UnknownDetectorError) as raised:
        detector_of(primary, "ibxl50clq_flt.fits")
    message = str(raised.value)
    assert message.startswith(f"ibxl50clq_flt.fits is {said}: skyqa models WFC3/IR, ")
    assert "WFC3/UVIS" in message and "ACS/WFC" in message  # noqa: PT018


def test_two_chip_detectors_hold_chip_2_first():
    """``[SCI,1]`` is CCDCHIP 2 on both CCDs (measured with drizzlepac 3.11)."""
    for model in (WFC3_UVIS, ACS_WFC):
        assert model.sci_extensions() == [("SCI", 1), ("SCI", 2)]
        assert dict(zip(model.sci_extensions(), model.chips, strict=True)) == {
            ("SCI", 1): 2,
            ("SCI", 2): 1,
        }
        assert model.cosmic_rays
        assert model.in_electrons
        assert model.chip_gap_rows > 0
    assert WFC3_IR.sci_extensions() == [("SCI", 1)]
    assert not WFC3_IR.cosmic_rays
    assert WFC3_IR.chip_gap_rows == 0


def test_sky_values_become_rates_in_electrons_per_second():
    assert WFC3_UVIS.rate(57.35, 500.0) == pytest.approx(0.1147)
    assert ACS_WFC.rate(45.88, 400.0) == pytest.approx(0.1147)
    assert WFC3_IR.rate(0.77, 702.9) == 0.77  # already e-/s
    with pytest.raises(ValueError, match=r"needs a positive EXPTIME to be a rate, got 0\.0"):
        ACS_WFC.rate(10.0, 0.0)


def test_the_ir_model_agrees_with_the_simulators_facts():
    assert WFC3_IR.plate_scale_arcsec == wfc3ir.PLATE_SCALE_ARCSEC
    assert WFC3_IR.chip_shape == (wfc3ir.FULL_FRAME_PIX, wfc3ir.FULL_FRAME_PIX)
    assert set(DETECTORS) == {("WFC3", "IR"), ("WFC3", "UVIS"), ("ACS", "WFC")}
