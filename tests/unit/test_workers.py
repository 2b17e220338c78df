"""Worker pools: their workers end with the process that owns them."""

import signal
import subprocess
import sys

import pytest

from ..processes import PROC, children, still_running_after

OWNER = """
import time
from skyqa.workers import worker_pool
pool = worker_pool(2)
futures = [pool.submit(time.sleep, 600) for _ in range(2)]  # both workers busy
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not PROC.is_dir(), reason="finds the workers through /proc (Linux)")
def test_workers_exit_when_their_owner_is_killed():
    """A pool's owner killed with SIGKILL (no clean-up runs) leaves no worker behind,
    even one busy with a task."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        workers = children(owner.pid)
        assert len(workers) == 2
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        owner.stdout.close()
    assert still_running_after(workers, 30) == [], "orphaned workers are still running"
