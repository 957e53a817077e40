"""The two compose files, parsed once per module that asks for them."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.deploy.files import DEPLOY


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.cluster.yml").read_text())
