"""Notify's figures: webhook deliveries per second through the real sender (services/notify/sender.py:
claim, sign, POST on its thread pool, record the outcome and its event) to a fast receiver in another
process, against bare signed POSTs from the same number of threads; then the fast receiver's rate
again while two other subscribers take 2 s per webhook."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

from services.common.config import Settings
from services.common.runtime import Runtime
from services.notify.models import metadata
from services.notify.signing import sign
from services.notify.worker import build_sender

from .micro_infra import ROOT, Databases, Web, migrate, result

TARGET_PER_S = 200.0
SLOW_S = 2.0
THREADS = 16  # WHISTLE_NOTIFY_THREADS' default
SECRET = "micro-webhook-secret-0123456789abcdef!!"


class ReceiverProcess:
    def __init__(self, delay: float):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.micro_receiver", "--delay", str(delay)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stats(self, reset: bool = False) -> dict:
        return requests.get(f"{self.url}/{'reset' if reset else 'stats'}", timeout=5).json()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def envelope(n: int) -> str:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/whistle/dispatch",
        "type": "task.assigned",
        "subject": str(uuid.uuid4()),
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": "urn:whistle:task.assigned:v1",
        "correlationid": str(uuid.uuid4()),
        "actorrole": "service",
        "actorid": "dispatch",
        "actordept": "",
        "data": {
            "case_id": str(uuid.uuid4()),
            "task_id": str(uuid.uuid4()),
            "department": "water",
            "role": "lead",
            "severity": "urgent",
            "title": f"地下车库自来水主管网渗漏 #{n}",
            "address": "伟业佳苑地下停车场",
            "community": "武泰闸社区",
            "version": 1,
        },
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def seed(url: str, plan: list[tuple[str, str]], start: datetime) -> None:
    """One pending webhook delivery per (department, receiver URL) in ``plan``, due in plan order."""
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(
            "COPY deliveries (id, event_id, event_type, department, channel, recipient, body, status, attempts, "
            "next_attempt_at, created_at) FROM STDIN"
        ) as copy,
    ):
        for i, (department, recipient) in enumerate(plan):
            body = envelope(i)
            copy.write_row(
                (
                    str(uuid.uuid4()),
                    json.loads(body)["id"],
                    "task.assigned",
                    department,
                    "webhook",
                    recipient,
                    body,
                    "pending",
                    0,
                    start + timedelta(microseconds=i),
                    start,
                )
            )


def subscribe(url: str, departments: dict[str, str]) -> None:
    with psycopg.connect(url) as conn:
        for department, hook in departments.items():
            conn.execute(
                "INSERT INTO subscriptions (department, webhook_url, secrets, emails, sms, events, "
                "updated_at) VALUES (%s, %s, %s, '[]', '[]', '[\"task.assigned\"]', now())",
                (department, hook, json.dumps([SECRET])),
            )


def deliver(runtime: Runtime, fast: ReceiverProcess, expected: int, timeout: float) -> dict:
    """Run the sender loop until the fast receiver has ``expected`` webhooks; its rate from the start."""
    sender = build_sender(runtime)
    stop = threading.Event()
    fast.stats(reset=True)
    started = time.time()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while time.time() - started < timeout:
            stats = fast.stats()
            if stats["count"] >= expected:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    elapsed = (stats["last"] or time.time()) - started
    return {
        "delivered": stats["count"],
        "seconds": round(elapsed, 2),
        "per_s": round(stats["count"] / elapsed, 1) if elapsed > 0 else None,
    }


def bare_posts(hook: str, count: int) -> dict:
    """The floor: signed POSTs of the same bodies from THREADS keep-alive sessions, no database."""
    local = threading.local()
    bodies = [envelope(i).encode() for i in range(count)]

    def post(body: bytes) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        headers = {
            "Content-Type": "application/cloudevents+json",
            "Whistle-Event-Id": "x",
            "Whistle-Signature": sign([SECRET], body, int(time.time())),
        }
        return local.session.post(hook, data=body, headers=headers, timeout=10).status_code

    started = time.time()
    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(post, bodies))
    elapsed = time.time() - started
    return {
        "delivered": sum(1 for c in codes if c == 204),
        "seconds": round(elapsed, 2),
        "per_s": round(count / elapsed, 1),
    }


def run(dbs: Databases, workdir: Path, quick: bool, echo: Web) -> dict:
    url = dbs.create("notify")
    migrate("notify", url)
    count = 2000 if quick else 10000
    slow_each = 8 if quick else 30
    receivers = {"fast": ReceiverProcess(0.0), "slow1": ReceiverProcess(SLOW_S), "slow2": ReceiverProcess(SLOW_S)}
    try:
        hooks = {name: f"{r.url}/hooks" for name, r in receivers.items()}
        subscribe(url, hooks)
        settings = Settings.load(
            "notify",
            {
                "NOTIFY_DATABASE_URL": url,
                "DATA_DIR": str(workdir / "var"),
                "NOTIFY_THREADS": THREADS,
                "LOG_LEVEL": "WARNING",
            },
        )
        runtime = Runtime.build(settings, metadata)
        floor = bare_posts(hooks["fast"], count)
        seed(url, [("fast", hooks["fast"])] * count, datetime.now(UTC) - timedelta(seconds=5))
        alone = deliver(runtime, receivers["fast"], count, timeout=120)
        # The slow subscribers' deliveries are spread evenly among the fast one's, as events would come.
        step = count // (2 * slow_each)
        plan = []
        for i in range(count):
            plan.append(("fast", hooks["fast"]))
            if i % step == 0 and i // step < 2 * slow_each:
                name = "slow1" if (i // step) % 2 == 0 else "slow2"
                plan.append((name, hooks[name]))
        seed(url, plan, datetime.now(UTC) - timedelta(seconds=1))
        beside = deliver(runtime, receivers["fast"], count, timeout=120)
        runtime.engine.dispose()
        ratio = round(beside["per_s"] / alone["per_s"], 2) if alone["per_s"] and beside["per_s"] else None
        return {
            "notify.webhooks_per_s": result(
                alone["per_s"],
                "deliveries/s",
                TARGET_PER_S,
                higher_is_better=True,
                floor=floor["per_s"],
                floor_name=f"bare signed POSTs, {THREADS} threads",
                threads=THREADS,
                run=alone,
                floor_run=floor,
            ),
            "notify.fast_rate_beside_slow": result(
                ratio,
                "× alone",
                0.9,
                higher_is_better=True,
                floor=1.0,
                floor_name=f"fast receiver's rate alone ({alone['per_s']}/s) = 1.0",
                slow_receivers=2,
                slow_s=SLOW_S,
                slow_deliveries=2 * slow_each,
                run=beside,
                alone=alone,
            ),
        }
    finally:
        for receiver in receivers.values():
            receiver.close()
