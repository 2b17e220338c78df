"""WFC3/IR facts used to make synthetic exposures look like real ones.

Numbers here are instrument facts, each with its source. The distortion is the SIP
representation of IDCTAB ``w3m18525i`` (the solution the Horsehead data carry), as
written by the HST pipeline into the SCI header of the real F110W FLT ``ib4606cpq``.
"""

from __future__ import annotations

import numpy as np

FULL_FRAME_PIX = 1014
"""Size of a trimmed WFC3/IR FLT (the 1024-pixel array less 5 reference pixels a side)."""

PLATE_SCALE_ARCSEC = 0.1283
"""Nominal WFC3/IR plate scale (arcsec/pixel), used to turn RMS in mas into pixels."""

SIP_CRPIX = (507.0, 507.0)
"""Reference pixel of the distortion solution (IDCXREF, IDCYREF), full-frame pixels."""

REFERENCE_CD = np.array(
    [
        [1.8928049593667e-05, -2.8974841708956e-05],
        [-3.2500456615417e-05, -1.7002088611783e-05],
    ]
)
"""CD matrix of ib4606cpq (deg/pixel): the non-square, slightly skewed IR pixel grid.

Synthetic exposures use it rotated to their own ORIENTAT.
"""

SIP_A = {
    (0, 2): 5.36543879655039e-08,
    (0, 3): 3.57608124801564e-11,
    (0, 4): -2.0298654411109e-13,
    (1, 1): 2.44567998516218e-05,
    (1, 2): 5.99977055536005e-11,
    (1, 3): 6.20421897334776e-13,
    (2, 0): -1.9767903795896e-07,
    (2, 1): 1.12426213281082e-10,
    (2, 2): -2.0999805662514e-14,
    (3, 0): -1.4547443693903e-10,
    (3, 1): 5.61137882880728e-13,
    (4, 0): -3.350311477329e-13,
}
SIP_B = {
    (0, 2): 3.00207750656021e-05,
    (0, 3): -1.6773547445182e-10,
    (0, 4): 7.74735188487937e-13,
    (1, 1): -1.7469718445787e-07,
    (1, 2): 4.26550075268506e-11,
    (1, 3): -9.0688431239891e-14,
    (2, 0): 6.98027411532913e-06,
    (2, 1): -2.6338747532099e-10,
    (2, 2): -6.9630146722556e-14,
    (3, 0): 5.31541345421763e-11,
    (3, 1): 1.00135300774332e-13,
    (4, 0): -6.1398288616439e-13,
}
SIP_ORDER = 4

IDC_KEYWORDS = {
    "IDCSCALE": 0.1282500028610229,
    "IDCTHETA": 45.0,
    "IDCXREF": 507.0,
    "IDCYREF": 507.0,
    "IDCV2REF": 1.019,
    "IDCV3REF": -0.507,
    "OCX10": 0.000776120403315872,
    "OCX11": 0.1354107111692429,
    "OCY10": 0.1209510564804077,
    "OCY11": -0.00042132250382564,
}
"""The IDCTAB summary keywords stwcs needs to rebuild the distortion model from SIP
when ``IDCTAB`` is 'N/A' (`stwcs.wcsutil.HSTWCS.readModel`)."""

DISTORTION_NAME = "IDC_w3m18525i"
"""WCSNAME the pipeline gives a WCS built from IDCTAB w3m18525i, before any alignment."""

F160W_PHOTOMETRY = {
    "PHOTMODE": "WFC3 IR F160W",
    "PHOTFLAM": 1.9275e-20,
    "PHOTFNU": 1.5187e-07,
    "PHOTZPT": -21.1,
    "PHOTPLAM": 15369.176,
    "PHOTBW": 826.25,
}
F160W_AB_ZEROPOINT = 25.946
"""AB magnitude of a source giving 1 e-/s in F160W (WFC3 instrument handbook, 2012)."""

AMPLIFIERS = {
    "ATODGNA": 2.34,
    "ATODGNB": 2.37,
    "ATODGNC": 2.31,
    "ATODGND": 2.38,
    "READNSEA": 20.2,
    "READNSEB": 19.8,
    "READNSEC": 19.9,
    "READNSED": 20.1,
}
"""Calibrated gains (e-/DN) and read noise (e-) per amplifier, as in real IR FLTs."""

SDQFLAGS = 31743
"""Serious DQ flags of WFC3/IR FLTs."""

DQ_BAD_DETECTOR = 4
DQ_HOT = 16
DQ_BLOB = 512
"""WFC3/IR DQ bits used by the simulator: bad (dead) pixel, hot pixel, IR blob."""

SPARS50_NSAMP = 15
"""MULTIACCUM samples of an SPARS50 ramp whose EXPTIME is 702.938 s (the Horsehead's)."""


def sip_distortion(u: np.ndarray, v: np.ndarray, coefficients: dict) -> np.ndarray:
    """Evaluate one SIP polynomial at pixel offsets ``u, v`` from CRPIX."""
    total = np.zeros(np.broadcast(u, v).shape)
    for (p, q), value in coefficients.items():
        total += value * u**p * v**q
    return total


def rotation_matrix(angle_deg: float) -> np.ndarray:
    """Matrix turning (east, north) offsets by ``angle_deg`` from North through East."""
    theta = np.deg2rad(angle_deg)
    return np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])


def position_angle_of_y(cd: np.ndarray) -> float:
    """ORIENTAT of a CD matrix: position angle of the detector +y axis (deg, E of N)."""
    return float(np.rad2deg(np.arctan2(cd[0, 1], cd[1, 1])))


def cd_for_orientat(orientat_deg: float) -> np.ndarray:
    """The reference CD matrix turned so that its +y axis points at ``orientat_deg``."""
    turn = orientat_deg - position_angle_of_y(REFERENCE_CD)
    return rotation_matrix(turn) @ REFERENCE_CD
