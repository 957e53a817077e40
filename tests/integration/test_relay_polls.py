"""A relay looks at its outbox by itself every ``WHISTLE_RELAY_POLL`` where web processes write it
too (intake, dispatch); where only the worker writes it (notify's sender) or nothing does (audit),
the worker's own commits wake it and it looks by itself only every SOLE_WRITER_POLL."""

from __future__ import annotations

import importlib
import time

import pytest

from services.common.worker import SOLE_WRITER_POLL
from tests.platform import Platform, dev_config


def looks_in(service: str, config: dict, seconds: float) -> int:
    worker = importlib.import_module(f"services.{service}.worker").build_worker(config, consume=False)
    looks = []
    relay_once = worker.relay.relay_once
    worker.relay.relay_once = lambda publisher: looks.append(time.monotonic()) or relay_once(publisher)
    worker.start()
    try:
        time.sleep(seconds)
    finally:
        worker.stop()
        worker.runtime.engine.dispose()
    return len(looks)


@pytest.mark.parametrize(("service", "sole_writer"), [("intake", False), ("dispatch", False),
                                                       ("notify", True), ("audit", True)])
def test_a_relay_polls_briefly_only_where_another_process_writes_its_outbox(tmp_path, service, sole_writer):
    config = dev_config(tmp_path)  # RELAY_POLL 0.02
    platform = Platform(config, services=(service,))
    try:
        looks = looks_in(service, config, 1.0)
    finally:
        platform.stop()
    if sole_writer:
        assert looks == 1  # the first, at start; the next SOLE_WRITER_POLL later
    else:
        assert looks > 10
    assert SOLE_WRITER_POLL > 1.0
