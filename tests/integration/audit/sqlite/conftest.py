"""Audit on SQLite with its real migrations: the app (test client) and its runtime."""

from __future__ import annotations

import pytest

from tests.platform import Platform, dev_config


@pytest.fixture
def audit(tmp_path):
    platform = Platform(dev_config(tmp_path, AUDIT_CHECKPOINT_DIR=str(tmp_path / "cps")), services=("audit",))
    yield platform
    platform.stop()


@pytest.fixture
def rt(audit):
    return audit.runtime("audit")


@pytest.fixture
def signer(audit):
    return audit.apps["audit"].extensions["whistle_audit"]


@pytest.fixture
def client(audit):
    return audit.client("audit")


@pytest.fixture
def auditor(audit):
    return audit.headers("auditor")
