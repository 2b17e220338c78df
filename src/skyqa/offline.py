"""Refusing network connections: skyqa's synthetic fields and tests must run offline."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterator

from skyqa.errors import NetworkBlockedError


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # type: ignore[arg-type]
    except ValueError:
        return False


@contextlib.contextmanager
def block_network() -> Iterator[None]:
    """Within the block, opening a connection to anything but loopback raises.

    Raises
    ------
    NetworkBlockedError
        From any ``socket.connect`` to a non-loopback address.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded(method):
        def connect(self, address, *args, **kwargs):
            if not _is_local(address):
                raise NetworkBlockedError(
                    f"skyqa runs offline here, but something tried to connect to {address!r}."
                )
            return method(self, address, *args, **kwargs)

        return connect

    socket.socket.connect = guarded(original_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(original_connect_ex)  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]


def is_network_error(error: BaseException) -> bool:
    """Whether an exception means the network (or the service) could not be reached."""
    import requests

    return isinstance(error, (requests.ConnectionError, requests.Timeout, OSError))


@contextlib.contextmanager
def astrometry_db_off(allow_astrometry_db: bool = False) -> Iterator[None]:
    """Within the block, stwcs does not query the MAST astrometry database, unless the
    user opts in (``allow_astrometry_db``); the environment is restored after it.

    With ``ASTROMETRY_STEP_CONTROL`` unset, an updatewcs call tries the database three
    times with 60 s waits when there is no network. Each stage's build runs in this block,
    in the process that builds it (`skyqa.pipeline.Pipeline`).
    """
    if allow_astrometry_db:
        yield
        return
    previous = os.environ.get("ASTROMETRY_STEP_CONTROL")
    os.environ["ASTROMETRY_STEP_CONTROL"] = "OFF"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ASTROMETRY_STEP_CONTROL", None)
        else:
            os.environ["ASTROMETRY_STEP_CONTROL"] = previous
