"""The whole platform as real processes on one machine — a web (gunicorn) and a worker per service —
against a given RabbitMQ and PostgreSQL. Used by the end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from .auth import issue_token
from .config import SERVICES

WHISTLE = str(Path(sys.executable).with_name("whistle"))
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [WHISTLE, *args], env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT
        )


def wait_http(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LocalStack:
    """A web and a worker per service. ``databases`` maps ``<SERVICE>_DATABASE_URL`` to URLs."""

    def __init__(
        self,
        workdir: Path,
        broker_url: str,
        databases: dict[str, str],
        *,
        web_workers: int = 2,
        topology_prefix: str = "",
        extra_env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.jwt_secret = "stack-" + uuid.uuid4().hex
        self.web_ports = {s: free_port() for s in SERVICES}
        self.worker_ports = {s: free_port() for s in SERVICES}
        self.env = {
            "WHISTLE_JWT_SECRET": self.jwt_secret,
            "WHISTLE_BROKER_URL": broker_url,
            "WHISTLE_TOPOLOGY_PREFIX": topology_prefix,
            "WHISTLE_DATA_DIR": str(workdir / "var"),
            "WHISTLE_INTAKE_URL": f"http://127.0.0.1:{self.web_ports['intake']}",
            "WHISTLE_WEB_WORKERS": str(web_workers),
            **{f"WHISTLE_{k}": v for k, v in databases.items()},
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.web_ports[service]}"

    def worker_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.worker_ports[service]}"

    def start_web(self, service: str) -> None:
        metrics_dir = self.workdir / f"prometheus-{service}"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "WHISTLE_BIND": f"127.0.0.1:{self.web_ports[service]}",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        self.processes[f"{service}-web"] = start(["serve", service], env, self.workdir / f"{service}-web.log")

    def start_worker(self, service: str) -> None:
        self.processes[f"{service}-worker"] = start(
            ["worker", service, "--port", str(self.worker_ports[service])],
            self.env,
            self.workdir / f"{service}-worker.log",
        )

    def wait_worker(self, service: str) -> None:
        wait_http(f"{self.worker_url(service)}/readyz", process=self.processes[f"{service}-worker"])

    def up(self) -> LocalStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [WHISTLE, "migrate", "all"], env={**os.environ, **self.env}, check=True, capture_output=True, timeout=180
        )
        for service in SERVICES:
            self.start_web(service)
            self.start_worker(service)
        for service in SERVICES:
            wait_http(f"{self.url(service)}/readyz", process=self.processes[f"{service}-web"])
            self.wait_worker(service)
        return self

    def down(self) -> None:
        for process in self.processes.values():
            stop(process)

    def headers(self, role: str, **claims) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.jwt_secret, role=role, **claims)}"}
