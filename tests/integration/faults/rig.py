"""The test side of the fault tests: start and kill harness processes, emit events into the
harness outbox, and count what was applied (outages.py takes the servers down)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select

from services.common.db import make_engine, make_sessionmaker
from services.common.outbox import Outbox
from tests import infra
from tests.integration.faults import harness
from tests.platform import wait_for

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Checker:
    """Every id sent is applied exactly once."""

    lost: list[str]
    twice: dict[str, int]

    def __str__(self) -> str:
        return f"{len(self.lost)} lost, {len(self.twice)} applied more than once"


@dataclass
class Rig:
    workdir: Path
    database_url: str
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    stats_files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.database_url)
        harness.metadata.create_all(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.outbox = Outbox(harness.SERVICE, harness.outbox_table)

    # ---- processes ------------------------------------------------------------------------
    def start(self, role: str, **env: str) -> subprocess.Popen:
        number = len(self.processes)
        stats = self.workdir / f"{role}-{number}.json"
        log = self.workdir / f"{role}-{number}.log"
        with open(log, "ab") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.faults.harness", role],
                env={**os.environ, **self.env, "HARNESS_STATS": str(stats), **env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        process.log = log  # type: ignore[attr-defined]
        process.stats = stats  # type: ignore[attr-defined]
        self.processes.append(process)
        self.stats_files.append(stats)
        return process

    def start_consumer(self, **env: str) -> subprocess.Popen:
        process = self.start("consume", **env)
        wait_for(
            lambda: self.stats_of(process).get("ready") or process.poll() is not None,
            timeout=30,
            what="the harness consumer to consume",
        )
        assert process.poll() is None, self.log_of(process)
        return process

    def stats_of(self, process: subprocess.Popen) -> dict:
        try:
            return json.loads(process.stats.read_text())  # type: ignore[attr-defined]
        except (FileNotFoundError, ValueError):
            return {}

    def total(self, key: str) -> float:
        """A counter summed over every process incarnation (a killed one leaves its last count)."""
        total = 0.0
        for path in self.stats_files:
            try:
                total += json.loads(path.read_text()).get(key, 0)
            except (FileNotFoundError, ValueError):
                pass
        return total

    @staticmethod
    def log_of(process: subprocess.Popen) -> str:
        return process.log.read_text(errors="replace")[-4000:]  # type: ignore[attr-defined]

    @staticmethod
    def stop(process: subprocess.Popen, timeout: float = 20) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.engine.dispose()

    # ---- events ---------------------------------------------------------------------------
    def emit(self, count: int, *, tag: str = "e", slow: float | None = None, poison: bool = False) -> list[str]:
        """``count`` events written to the harness outbox in one transaction; their ids. ``slow``
        makes the handler sleep that long on each; ``poison`` makes it refuse them."""
        ids = []
        with self.sessions() as session, session.begin():
            for n in range(count):
                envelope = self.outbox.emit(
                    session, harness.EVENT_TYPE, {"code": f"{tag}{n}", "name_zh": "测试部门", "name_en": f"{tag} {n}"}
                )
                ids.append(envelope["id"])
                if slow:
                    session.execute(insert(harness.slow_events).values(event_id=envelope["id"], seconds=slow))
                if poison:
                    session.execute(insert(harness.poison).values(event_id=envelope["id"]))
        return ids

    def mark(self, table, event_id: str, **values) -> None:
        with self.sessions() as session, session.begin():
            session.execute(insert(table).values(event_id=event_id, **values))

    def applied(self) -> Counter:
        with self.sessions() as session:
            rows = session.execute(
                select(harness.applications.c.event_id, func.count()).group_by(harness.applications.c.event_id)
            ).all()
        return Counter(dict(rows))

    def applied_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(harness.applications))

    def check(self, sent: list[str]) -> Checker:
        applied = self.applied()
        return Checker(lost=[i for i in sent if applied[i] == 0], twice={i: n for i, n in applied.items() if n > 1})

    def wait_applied(self, sent: list[str], timeout: float = 60) -> Checker:
        """Wait until every id is applied (or time runs out), then a little longer so that a late
        second application would be seen too."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.check(sent).lost:
            time.sleep(0.2)
        time.sleep(1.0)
        return self.check(sent)

    def outbox_rows(self, event_id: str) -> dict:
        t = harness.outbox_table
        with self.sessions() as session:
            return session.execute(select(t).where(t.c.event_id == event_id)).one()._asdict()


def new_rig(tmp_path: Path, broker_url: str, **env: str) -> tuple[Rig, str]:
    name = f"whistle_{infra.RUN_ID}_fault_{uuid.uuid4().hex[:6]}"
    url = infra.create_database(name)
    prefix = f"f{uuid.uuid4().hex[:8]}."
    rig = Rig(
        tmp_path,
        url,
        {
            "WHISTLE_BROKER_URL": broker_url,
            "WHISTLE_AUDIT_DATABASE_URL": url,
            "WHISTLE_TOPOLOGY_PREFIX": prefix,
            "WHISTLE_RELAY_POLL": "0.02",
            "WHISTLE_BROKER_HEARTBEAT": "5",
            **env,
        },
    )
    return rig, name
