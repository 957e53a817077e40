"""What Docker Compose itself makes of the compose files, alone and with the cluster overlay.
Skips where no Compose v2 is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from tests.e2e.deploy.files import CLUSTER_NODES, DEPLOY, ROOT


def _compose_command() -> list[str]:
    """Compose v2 (the Compose Specification); v1 rejects these files' `name` and `configs`."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        probe = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2"):
            return ["docker-compose"]
    pytest.skip(
        "Docker Compose v2 not installed (neither the `docker compose` plugin nor a v2 "
        "`docker-compose`); the files were checked as YAML by test_compose.py and test_cluster_overlay.py"
    )


@pytest.mark.parametrize(
    "files", [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cluster.yml"]], ids=["base", "cluster"]
)
def test_compose_config_validates(files):
    """`docker compose config` needs no daemon: it validates and resolves the files as given
    `cp .env.example .env`."""
    command = _compose_command()
    args = [*command, "--env-file", str(DEPLOY / ".env.example")]
    for name in files:
        args += ["-f", str(DEPLOY / name)]
    result = subprocess.run([*args, "config", "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]
    assert resolved["intake-web"]["command"] == ["whistle", "serve", "intake"]
    assert resolved["audit-grant"]["command"] == ["whistle", "audit", "grant", "whistle_audit_app"]
    assert resolved["audit-grant"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for process in ("audit-web", "audit-worker"):
        assert resolved[process]["depends_on"]["audit-grant"]["condition"] == "service_completed_successfully"
        app = urlsplit(resolved[process]["environment"]["WHISTLE_AUDIT_APP_DATABASE_URL"])
        assert (app.username, app.password) == ("whistle_audit_app", "change-me-whistle")
    hosts = [urlsplit(u).hostname for u in resolved["audit-worker"]["environment"]["WHISTLE_BROKER_URL"].split(";")]
    assert hosts == (list(CLUSTER_NODES) if len(files) == 2 else ["rabbitmq"])
