"""Failpoints cost nothing unset, and kill the process at the N+1th pass when armed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

SCRIPT = """
from services.common import failpoints
for n in range(5):
    print(n, flush=True)
    failpoints.hit("relay.after_publish")
"""


def run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**os.environ, **env}, capture_output=True, text=True, timeout=30
    )


def test_unarmed_the_point_passes():
    done = run(WHISTLE_FAILPOINT="consumer.after_commit")
    assert done.returncode == 0 and done.stdout.split() == ["0", "1", "2", "3", "4"]


def test_armed_the_process_kills_itself_after_the_allowed_passes():
    done = run(WHISTLE_FAILPOINT="relay.after_publish", WHISTLE_FAILPOINT_AFTER="2")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["0", "1", "2"]
    assert "failpoint relay.after_publish: killing" in done.stderr
