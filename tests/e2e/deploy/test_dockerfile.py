"""deploy/Dockerfile: its stages, user, ports and environment, and the paths it copies."""

from __future__ import annotations

import re

from tests.e2e.deploy.files import DEPLOY, ROOT, WEBS, WORKERS


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_and_unprivileged():
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    assert len(stages) >= 2
    assert stages[-1] == "python:3.11-slim"
    assert any(arg.startswith("--from=") for op, arg in instructions if op == "COPY")
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8000 9000") in instructions
    # Compose states each whole command; an ENTRYPOINT would prefix (and hide) it.
    assert "ENTRYPOINT" not in {op for op, _ in instructions}


def test_dockerfile_copies_files_that_exist_and_sets_the_metrics_dir(base):
    instructions = dockerfile_instructions()
    for op, arg in instructions:
        if op == "COPY" and not arg.startswith("--from="):
            *sources, _ = arg.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(arg for op, arg in instructions if op == "ENV")))
    # Healthchecks, the gateway and a scraper on the compose network reach these ports.
    assert env["WHISTLE_BIND"] == "0.0.0.0:8000"
    assert (env["WHISTLE_WORKER_HOST"], env["WHISTLE_WORKER_PORT"]) == ("0.0.0.0", "9000")
    assert env["WHISTLE_GUNICORN_CONFIG"] == "/app/deploy/gunicorn.conf.py"
    metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics_dir == "/tmp/prometheus"
    # compose mounts a fresh tmpfs exactly there, for every app container
    for name in [*WEBS, *WORKERS]:
        assert any(t.split(":")[0] == metrics_dir for t in base["services"][name]["tmpfs"]), name
