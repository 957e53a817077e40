"""``whistle dev``: the four apps in one process under their prefixes, workers in threads,
SQLite under the data dir, and the ``memory://`` bus unless ``WHISTLE_BROKER_URL`` says otherwise."""

from __future__ import annotations

import importlib
import os
import signal
import threading
from pathlib import Path

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from .auth import issue_token
from .config import SERVICES, Settings
from .logs import configure_logging
from .migrations import upgrade

DEMO_TOKENS = [
    ("staff", {"community": "武泰闸社区", "sub": "staff-wutaizha"}),
    ("department", {"department": "water", "sub": "water-duty"}),
    ("department", {"department": "housing", "sub": "housing-duty"}),
    ("auditor", {"sub": "auditor-1"}),
    ("admin", {"sub": "admin-1"}),
    ("service", {"sub": "notify"}),
]


def build_platform(config: dict | None = None):
    """Migrate, build the four apps and workers; returns (wsgi app, workers)."""
    config = dict(config or {})
    apps, workers = {}, []
    for service in SERVICES:
        settings = Settings.load(service, config)
        upgrade(service, settings.database_url)
        apps[f"/{service}"] = importlib.import_module(f"services.{service}.app").create_app(config)
        workers.append(importlib.import_module(f"services.{service}.worker").build_worker(config))
    return DispatcherMiddleware(_not_found, apps), workers


def _not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "application/json")])
    return [b'{"code": "NOT_FOUND", "status": 404, "message": "Use /intake, /dispatch, /notify or /audit."}']


def run_dev(port: int = 8000, data_dir: str = "var", host: str = "127.0.0.1") -> int:
    os.environ.setdefault("WHISTLE_DATA_DIR", str(Path(data_dir).resolve()))
    configure_logging()  # one process, four services: each line says its logger, not one service
    config = {"DATA_DIR": data_dir}
    if "WHISTLE_INTAKE_URL" not in os.environ:
        config["INTAKE_URL"] = f"http://{host}:{port}/intake"
    wsgi, workers = build_platform(config)
    for worker in workers:
        worker.start()
    settings = Settings.load("intake", config)
    print(f"Whistle dev server on http://{host}:{port}  (bus: {settings.broker_url}, data: {settings.data_dir})")
    print("Prefixes: /intake /dispatch /notify /audit — each with /docs, /openapi.json, /healthz")
    print("Demo tokens (12 h):")
    for role, claims in DEMO_TOKENS:
        label = claims.get("department") or claims.get("community") or ""
        token = issue_token(settings.jwt_secret, role=role, **claims)
        print(f"  {role:<10} {label:<10} {token}")
    server = make_server(host, port, wsgi, threaded=True)
    stopping = threading.Event()

    def shutdown(*_):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()
    for worker in workers:
        worker.stop(timeout=10)
    return 0
