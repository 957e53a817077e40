"""The four services in the test process: their Flask apps (test clients) and their workers."""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from services.common.auth import issue_token
from services.common.config import SERVICES, Settings
from services.common.events import encode
from services.common.migrations import upgrade


class Platform:
    def __init__(self, config: dict[str, Any], services: tuple[str, ...] = SERVICES):
        self.config = config
        self.services = services
        self.apps = {}
        self.workers = {}
        for service in services:
            upgrade(service, Settings.load(service, config).database_url)
            self.apps[service] = importlib.import_module(f"services.{service}.app").create_app(config)
        self.secret = Settings.load("intake", config).jwt_secret

    def start_workers(self, *services: str, **kwargs) -> Platform:
        for service in services or self.services:
            worker = importlib.import_module(f"services.{service}.worker").build_worker(self.config, **kwargs)
            self.workers[service] = worker.start()
        for worker in self.workers.values():
            assert worker.wait_ready(30), f"{worker.runtime.service} consumer did not start"
        return self

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop(timeout=15)
            worker.runtime.engine.dispose()
        for app in self.apps.values():
            app.extensions["whistle"].engine.dispose()

    def client(self, service: str):
        return self.apps[service].test_client()

    def token(self, role: str, **claims) -> str:
        return issue_token(self.secret, role=role, **claims)

    def headers(self, role: str, **claims) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **claims)}"}

    def runtime(self, service: str):
        return self.apps[service].extensions["whistle"]


class Clock:
    """A clock the test moves by hand (a runtime's now() and a consumer's ctx.now read it)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def wait_for(condition: Callable[[], Any], timeout: float = 20, interval: float = 0.05, what: str = ""):
    """Poll until ``condition()`` is truthy; return its value or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def bus_message(envelope: dict) -> SimpleNamespace:
    """A delivery from the bus as a consumer's ``apply`` reads it: the body and the routing key."""
    return SimpleNamespace(body=encode(envelope), delivery_info={"routing_key": envelope["type"]})


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


def dev_config(tmp_path, **extra) -> dict[str, Any]:
    """SQLite files under tmp_path and the in-process memory:// bus with a private topology."""
    config = {
        "DATA_DIR": str(tmp_path),
        "BROKER_URL": "memory://",
        "TOPOLOGY_PREFIX": unique_prefix(),
        "JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "RELAY_POLL": 0.02,
        "RETRY_DELAYS": "0.1s,0.2s",
    }
    config.update(extra)
    return config
