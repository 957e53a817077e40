"""deploy/gunicorn.conf.py, loaded by gunicorn's own loader: its settings, and its hooks that keep
the Prometheus multiprocess files right."""

from __future__ import annotations

import os
import subprocess
import sys
import types

from tests.e2e.deploy.files import DEPLOY


def gunicorn_config(monkeypatch, **env):
    """The settings gunicorn itself reads from the file, through its own loader."""
    from gunicorn.app.base import Application
    from gunicorn.config import Config

    class Probe(Application):
        def __init__(self):  # no argv parsing, no app
            self.cfg = Config()

        def init(self, parser, opts, args):
            return None

        def load(self):
            raise AssertionError("the config file must not load the app")

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "__config__", raising=False)
    probe = Probe()
    probe.load_config_from_module_name_or_filename(str(DEPLOY / "gunicorn.conf.py"))
    monkeypatch.delitem(sys.modules, "__config__", raising=False)
    return probe.cfg


def test_gunicorn_config(monkeypatch, base):
    monkeypatch.delenv("WHISTLE_BIND", raising=False)
    monkeypatch.delenv("WHISTLE_WEB_WORKERS", raising=False)
    monkeypatch.delenv("WHISTLE_WEB_MAX_REQUESTS", raising=False)
    cfg = gunicorn_config(monkeypatch)
    assert cfg.bind == ["127.0.0.1:8000"]
    assert cfg.workers == 2
    assert cfg.preload_app is False  # no broker or engine before fork
    assert (cfg.timeout, cfg.max_requests, cfg.max_requests_jitter) == (30, 20000, 2000)
    assert (cfg.accesslog, cfg.errorlog) == ("-", "-")
    grace = int(base["x-app"]["stop_grace_period"].rstrip("s"))
    assert cfg.graceful_timeout < grace, "Docker would SIGKILL before gunicorn finished"

    cfg = gunicorn_config(
        monkeypatch, WHISTLE_BIND="0.0.0.0:8123", WHISTLE_WEB_WORKERS="5", WHISTLE_WEB_MAX_REQUESTS="500"
    )
    assert (cfg.bind, cfg.workers, cfg.max_requests, cfg.max_requests_jitter) == (["0.0.0.0:8123"], 5, 500, 50)


_WRITE_METRICS = """
from prometheus_client import Counter, Gauge
Counter("whistle_test_requests", "requests").inc()
Gauge("whistle_test_busy", "busy", multiprocess_mode="livesum").set(1)
import os; print(os.getpid())
"""


def test_gunicorn_metrics_add_up_and_dead_workers_leave(monkeypatch, tmp_path):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left over from the last run")
    cfg = gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))

    cfg.on_starting(None)
    assert list(metrics_dir.iterdir()) == []

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    pids = [
        int(
            subprocess.run(
                [sys.executable, "-c", _WRITE_METRICS], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(2)
    ]

    def scrape() -> str:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(metrics_dir))
        return generate_latest(registry).decode()

    assert "whistle_test_requests_total 2.0" in scrape()  # two "workers", one total
    assert "whistle_test_busy 2.0" in scrape()

    cfg.child_exit(None, types.SimpleNamespace(pid=pids[0]))
    assert "whistle_test_busy 1.0" in scrape()  # the dead worker is not busy
    assert "whistle_test_requests_total 2.0" in scrape()  # but what it counted stays
