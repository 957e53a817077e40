"""Production processes: ``whistle serve`` (gunicorn) and ``whistle worker`` (consumer, relay,
timers, plus a small HTTP endpoint for health, readiness and metrics)."""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import generate_latest

from .db import ping
from .logs import configure_logging
from .worker import Worker

log = logging.getLogger(__name__)

# The checked-in gunicorn settings; an image that installs Whistle as a wheel points
# WHISTLE_GUNICORN_CONFIG at its copy.
GUNICORN_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"


def serve(service: str) -> int:
    """Replace this process with gunicorn serving ``services.<service>.app:create_app()``."""
    config = os.environ.get("WHISTLE_GUNICORN_CONFIG", str(GUNICORN_CONFIG))
    if not Path(config).is_file():
        raise SystemExit(f"whistle serve: no gunicorn config at {config}; set WHISTLE_GUNICORN_CONFIG")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    argv = [
        gunicorn if Path(gunicorn).exists() else "gunicorn",
        "--config",
        config,
        f"services.{service}.app:create_app()",
    ]
    os.execvp(argv[0], argv)
    return 1  # not reached


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # probes every few seconds would drown the logs
        pass


def health_app(worker: Worker):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        status, body, content_type = "200 OK", b"", "application/json"
        if path == "/healthz":
            body = json.dumps({"status": "ok", "service": worker.runtime.service}).encode()
        elif path == "/readyz":
            checks = {}
            try:
                ping(worker.runtime.engine)
                checks["database"] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                checks["database"] = str(exc)[:200]
            checks["broker"] = "ok" if worker.consumer.ready.is_set() or not worker.consume else "down"
            ready = all(v == "ok" for v in checks.values())
            status = "200 OK" if ready else "503 Service Unavailable"
            body = json.dumps({"status": "ready" if ready else "unavailable", "checks": checks}).encode()
        elif path == "/metrics":
            # A worker is one process: its own registry, never the web processes' shared files.
            body, content_type = generate_latest(worker.registry), "text/plain; version=0.0.4"
        else:
            status, body = "404 Not Found", b'{"code": "NOT_FOUND", "status": 404}'
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    return app


def run_worker(service: str, port: int | None = None) -> int:
    configure_logging(service)
    worker: Worker = importlib.import_module(f"services.{service}.worker").build_worker()
    port = port if port is not None else int(os.environ.get("WHISTLE_WORKER_PORT", "9000"))
    host = os.environ.get("WHISTLE_WORKER_HOST", "127.0.0.1")
    server = make_server(host, port, health_app(worker), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("worker %s: signal %s, stopping after the current batch", service, signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.start()
    log.info("worker %s started; health on %s:%s", service, host, server.server_port)
    stop.wait()
    worker.stop(timeout=30)
    server.shutdown()
    log.info("worker %s stopped", service)
    return 0
