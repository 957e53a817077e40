"""`whistle dev` as a real process: the four services on one port, the flow over real HTTP."""

from __future__ import annotations

import subprocess

import pytest
import requests

from tests.e2e.conftest import WHISTLE, free_port, start, stop, wait_http
from tests.platform import wait_for
from tests.receiver import WebhookReceiver

SECRET = "dev-server-test-secret-0123456789abcdef"


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    env = {"WHISTLE_JWT_SECRET": "e2e-" + SECRET, "WHISTLE_BROKER_URL": "memory://"}
    process = start(["dev", "--port", str(port), "--data-dir", str(tmp_path / "var")], env, tmp_path / "dev.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/audit/readyz", process=process)
        yield base, env
    finally:
        stop(process)
    assert "Traceback" not in (tmp_path / "dev.log").read_text()


def token(env, *args):
    return subprocess.run(
        [WHISTLE, "token", *args], env={**env}, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_dev_server_carries_a_case_end_to_end(dev_server):
    base, env = dev_server
    auth = {
        name: {"Authorization": f"Bearer {token(env, *args)}"}
        for name, args in {
            "staff": ["--role", "staff", "--community", "武泰闸社区"],
            "water": ["--role", "department", "--department", "water"],
            "auditor": ["--role", "auditor"],
            "admin": ["--role", "admin"],
        }.items()
    }
    receiver = WebhookReceiver(SECRET)
    try:
        assert (
            requests.put(
                f"{base}/notify/v1/subscriptions/water",
                headers=auth["admin"],
                json={"webhook_url": receiver.url, "secret": SECRET},
            ).status_code
            == 200
        )
        case = requests.post(
            f"{base}/intake/v1/cases",
            headers=auth["staff"],
            json={
                "title": "单元门口电动车飞线充电",
                "category": "ev_charging",
                "location": {"address": "武泰闸社区 3 栋", "community": "武泰闸社区"},
            },
        ).json()
        assert case["status"] == "reported"
        water_tasks = requests.get(f"{base}/dispatch/v1/tasks", headers=auth["water"]).json()["items"]
        assert all(t["department"] == "water" for t in water_tasks)

        urban = {"Authorization": f"Bearer {token(env, '--role', 'department', '--department', 'urban_mgmt')}"}
        tasks = wait_for(
            lambda: requests.get(f"{base}/dispatch/v1/tasks?case_id={case['id']}", headers=urban).json()["items"],
            what="urban_mgmt task",
        )
        assert tasks[0]["department"] == "urban_mgmt"
        trail = wait_for(
            lambda: requests.get(f"{base}/audit/v1/events?case_id={case['id']}", headers=auth["auditor"]).json()[
                "items"
            ],
            what="audit rows",
        )
        assert trail[0]["type"] == "case.reported"
        for prefix in ("intake", "dispatch", "notify", "audit"):
            assert requests.get(f"{base}/{prefix}/healthz").status_code == 200
            assert requests.get(f"{base}/{prefix}/openapi.json").json()["info"]["title"] == f"Whistle {prefix}"
            assert b"whistle_http_requests" in requests.get(f"{base}/{prefix}/metrics").content
    finally:
        receiver.close()
