"""Outages for the fault tests: the exclusive outage lock, and RabbitMQ or PostgreSQL taken down
and always brought back."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import infra

OUTAGE_LOCK = "/tmp/whistle-outage.lock"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rpartition(")")[2].split()[1])  # the field after the command name is the ppid
    return pids


def _held_by_this_run(handle) -> bool:
    """Whether this process or one it descends from (``flock -s … pytest``) holds the lock: an
    exclusive lock would then wait for ourselves for ever."""
    inode = os.fstat(handle.fileno()).st_ino
    try:
        locks = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    holders = {
        int(f[4])
        for f in (line.split() for line in locks)
        if len(f) > 5 and f[1] == "FLOCK" and f[5].rsplit(":", 1)[-1] == str(inode)
    }
    return bool(holders & _ancestors())


@contextmanager
def outage_lock(timeout: float = 600) -> Iterator[None]:
    """Exclusive hold on the lock other test runs share while they use the servers, so that an
    outage never lands in the middle of someone else's run (free when nobody else is running).
    A run started under ``flock -s`` cannot take it: its outage tests skip, saying why."""
    with open(OUTAGE_LOCK, "a+") as handle:
        if _held_by_this_run(handle):
            pytest.skip(
                f"this run holds {OUTAGE_LOCK} shared (flock -s): outage tests need it exclusive; "
                "run tests/integration/faults without the flock wrapper"
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no exclusive {OUTAGE_LOCK} within {timeout}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check(done: subprocess.CompletedProcess) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{done.args}: {done.stderr or done.stdout}")


def rabbit_stop() -> None:
    _check(infra.rabbitmqctl("stop_app"))


def rabbit_start() -> None:
    _check(infra.rabbitmqctl("start_app"))
    _check(infra.rabbitmqctl("await_startup", timeout=120))


def rabbit_running() -> bool:
    return infra.rabbitmqctl("await_startup", "--timeout", "5", timeout=30).returncode == 0


def pg_ctl(action: str) -> None:
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", action],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _check(done)


def pg_running() -> bool:
    return (
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "status"], capture_output=True, timeout=30
        ).returncode
        == 0
    )


@contextmanager
def rabbit_down() -> Iterator[None]:
    """RabbitMQ's application stopped for the block, started again whatever happens."""
    try:
        rabbit_stop()
        yield
    finally:
        rabbit_start()


@contextmanager
def postgres_down() -> Iterator[None]:
    """PostgreSQL stopped for the block, started again whatever happens."""
    try:
        pg_ctl("stop")
        yield
    finally:
        pg_ctl("start")
