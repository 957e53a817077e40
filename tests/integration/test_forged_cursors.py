"""Every keyset-paged list answers a cursor it did not issue with 400 BAD_CURSOR."""

from __future__ import annotations

import base64
import json

import pytest

from tests.platform import Platform, dev_config

FORGED = [["yesterday", "x"], ["seven"], [], [None, None, None]]
LISTS = [
    ("intake", "/v1/cases", "staff"),
    ("dispatch", "/v1/tasks", "admin"),
    ("notify", "/v1/deliveries", "admin"),
    ("audit", "/v1/events", "auditor"),
    ("audit", "/v1/checkpoints", "auditor"),
    ("audit", "/v1/access-log", "admin"),
    ("audit", "/v1/cases/00000000-0000-4000-8000-000000000000/timeline", "auditor"),
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    running = Platform(dev_config(tmp_path_factory.mktemp("cursors")))
    yield running
    running.stop()


@pytest.mark.parametrize("service, path, role", LISTS)
@pytest.mark.parametrize("key", FORGED)
def test_a_forged_cursor_is_a_400(platform, service, path, role, key):
    token = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    response = platform.client(service).get(f"{path}?cursor={token}", headers=platform.headers(role))
    assert (response.status_code, response.json["code"]) == (400, "BAD_CURSOR"), response.json
