"""`whistle dev` as a real process, with checkpoints signed after every new row."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import WHISTLE, free_port, start, stop, wait_http


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    env = {
        "WHISTLE_JWT_SECRET": "e2e-audit-secret-0123456789abcdef",
        "WHISTLE_BROKER_URL": "memory://",
        "WHISTLE_AUDIT_CHECKPOINT_EVERY": "1",
        "WHISTLE_AUDIT_CHECKPOINT_DIR": str(tmp_path / "cps"),
    }
    process = start(["dev", "--port", str(port), "--data-dir", str(tmp_path / "var")], env, tmp_path / "dev.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/audit/readyz", process=process)
        yield base, env
    finally:
        stop(process)
    assert "Traceback" not in (tmp_path / "dev.log").read_text()


@pytest.fixture
def auditor(dev_server):
    _base, env = dev_server
    token = subprocess.run(
        [WHISTLE, "token", "--role", "auditor"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    return {"Authorization": f"Bearer {token}"}
