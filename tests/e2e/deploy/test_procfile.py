"""Procfile (the bare-machine way to run the processes, under honcho): a web and a worker per
service, each with its own port. Skips where honcho is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.deploy.files import ROOT, SERVICES, WEBS, WORKERS


def procfile() -> dict[str, str]:
    honcho = pytest.importorskip("honcho.environ")
    return honcho.parse_procfile((ROOT / "Procfile").read_text()).processes


def test_procfile_has_a_web_and_a_worker_per_service():
    processes = procfile()
    assert set(processes) == set(WEBS + WORKERS)
    for name, command in processes.items():
        service, kind = name.split("-")
        verb = "serve" if kind == "web" else "worker"
        assert command.endswith(f" whistle {verb} {service}"), name


def test_procfile_processes_get_their_own_ports_and_a_real_broker(tmp_path):
    """Run each line as honcho would (through the shell), with a stand-in `whistle` that
    records its arguments and environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "whistle"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f'json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, sys.stdout)\n'
    )
    stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "WHISTLE_BROKER_URL"}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "PROMETHEUS_MULTIPROC_DIR": "/elsewhere"}

    seen = {}
    for name, command in procfile().items():
        result = subprocess.run(command, shell=True, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        seen[name] = json.loads(result.stdout)

    for index, service in enumerate(SERVICES, start=1):
        web, worker = seen[f"{service}-web"], seen[f"{service}-worker"]
        assert web["argv"] == ["serve", service]
        assert web["env"]["WHISTLE_BIND"] == f"127.0.0.1:{8000 + index}"
        assert web["env"]["PROMETHEUS_MULTIPROC_DIR"] == f"var/prometheus/{service}-web"
        assert worker["argv"] == ["worker", service]
        assert worker["env"]["WHISTLE_WORKER_PORT"] == str(9000 + index)
        assert "PROMETHEUS_MULTIPROC_DIR" not in worker["env"]
        assert worker["env"]["WHISTLE_BROKER_URL"].startswith("amqp://")  # never memory://
    assert (
        seen["notify-worker"]["env"]["WHISTLE_INTAKE_URL"]
        == seen["notify-web"]["env"]["WHISTLE_INTAKE_URL"]
        == "http://127.0.0.1:8001"
    )
