import socket

import pytest

from skyqa.errors import NetworkBlockedError
from skyqa.offline import block_network


def test_outbound_connection_is_refused():
    with block_network(), socket.socket() as sock, pytest.raises(NetworkBlockedError):
        sock.connect(("192.0.2.1", 443))


def test_the_test_session_itself_blocks_the_network():
    with socket.socket() as sock, pytest.raises(NetworkBlockedError):
        sock.connect(("198.51.100.7", 80))


def test_loopback_is_allowed():
    with block_network(), socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
