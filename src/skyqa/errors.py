"""Exceptions raised by skyqa.

Every error skyqa raises on purpose is a subclass of `SkyQAError`, so a caller can tell a
problem in the data or configuration (reported with a sentence that says what to do)
from a bug (any other exception).
"""


class SkyQAError(Exception):
    """Base class of every error skyqa raises on purpose."""


class FieldSpecError(SkyQAError):
    """A field spec is missing, malformed, or holds a value outside its allowed set."""


class UnknownFieldError(FieldSpecError):
    """``--field`` named neither a registered field nor an existing spec file."""


class AcquisitionError(SkyQAError):
    """The exposures of a field could not be obtained (generated, found or downloaded)."""


class NetworkUnavailableError(AcquisitionError):
    """A step needs the network, and the network is not to be used or not reachable."""


class PipelineStepError(SkyQAError):
    """A drizzlepac step (AstroDrizzle, TweakReg, tweakback) failed or produced no output."""


class UnknownDetectorError(SkyQAError):
    """An exposure's INSTRUME/DETECTOR is not one skyqa models (`skyqa.detectors`)."""


class CacheError(SkyQAError):
    """The on-disk cache cannot be used (unwritable, or an entry is inconsistent)."""


class ClusterError(SkyQAError):
    """The Dask cluster of ``--skyqa-scheduler`` cannot be used (not reachable, no
    workers, or workers that do not share the cache)."""


class SkyQAWarning(UserWarning):
    """A finding reported without failing (the policy of a check says "warn")."""


class NetworkBlockedError(SkyQAError, ConnectionError):
    """Code tried to open a network connection while skyqa runs offline.

    A `ConnectionError`, so that libraries treat it as the unreachable network it stands for.
    """
