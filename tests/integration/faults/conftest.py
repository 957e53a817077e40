"""Fault tests: real harness processes killed by signal, real servers stopped and started.
They run serially (one process) and each outage holds the exclusive outage lock."""

from __future__ import annotations

import pytest

from tests import infra
from tests.integration.faults import outages
from tests.integration.faults import rig as rigging


@pytest.fixture
def make_rig(tmp_path, broker_url):
    made = []

    def make(**env: str) -> rigging.Rig:
        rig, database = rigging.new_rig(tmp_path, broker_url, **env)
        made.append((rig, database))
        return rig

    yield make
    for rig, database in made:
        rig.close()
        infra.drop_database(database)


@pytest.fixture(scope="session", autouse=True)
def servers_left_running():
    """Last line of defence: whatever a test did, the servers are up when the session ends."""
    yield
    if outages.rabbit_running() and outages.pg_running():
        return
    with outages.outage_lock():
        if not outages.rabbit_running():
            outages.rabbit_start()
        if not outages.pg_running():
            outages.pg_ctl("start")
