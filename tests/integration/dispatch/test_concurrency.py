"""Concurrent changes on PostgreSQL: two acknowledges never both win, a stale UPDATE is refused at
the database, and two scanning workers never fire the same timer."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from services.dispatch import timers
from services.dispatch.models import Task, metadata
from services.dispatch.worker import build_worker

pytestmark = [pytest.mark.postgres, pytest.mark.broker]


def water_task(desk) -> str:
    (case_id,) = desk.report_in_the_past(1, category="water_supply", days_ago=0)
    with desk.runtime.transaction() as session:
        return session.scalar(select(Task.id).where(Task.case_id == case_id))


def outbox_types(desk) -> Counter:
    outbox = metadata.tables["outbox"]
    with desk.runtime.transaction() as session:
        return Counter(session.scalars(select(outbox.c.type)))


def test_of_many_simultaneous_acknowledges_exactly_one_wins(pg_desk):
    task_id = water_task(pg_desk)
    headers = pg_desk.platform.headers("department", department="water")
    barrier, answers = threading.Barrier(8), []

    def acknowledge():
        client = pg_desk.platform.client("dispatch")
        barrier.wait()
        answers.append(client.post(f"/v1/tasks/{task_id}/acknowledge", json={}, headers=headers))

    threads = [threading.Thread(target=acknowledge) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in answers) == [200] + [409] * 7
    assert outbox_types(pg_desk)["task.acknowledged"] == 1
    task = pg_desk.client.get(f"/v1/tasks/{task_id}", headers=headers).json
    assert (task["status"], task["version"], len(task["history"])) == ("acknowledged", 2, 2)


def test_an_update_from_a_stale_read_is_refused_by_the_version_check(pg_desk):
    task_id = water_task(pg_desk)
    first, second = pg_desk.runtime.sessions(), pg_desk.runtime.sessions()
    try:
        mine, theirs = first.get(Task, task_id), second.get(Task, task_id)  # both read version 1
        mine.status = "acknowledged"
        first.commit()
        theirs.status = "returned"
        with pytest.raises(StaleDataError):
            second.commit()
    finally:
        first.close()
        second.close()
    with pg_desk.runtime.transaction() as session:
        task = session.get(Task, task_id)
        assert (task.status, task.version) == ("acknowledged", 2)


def test_two_workers_scanning_at_once_fire_each_timer_once(pg_desk, real_config):
    pg_desk.report_in_the_past(60, category="water_supply")  # 240 due timers
    workers = [build_worker(real_config) for _ in range(2)]
    now, start, fired = datetime.now(UTC), threading.Barrier(2), []

    def scan(worker):
        start.wait()
        fired.append(timers.fire_due(worker.runtime, now, batch=20))

    threads = [threading.Thread(target=scan, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for worker in workers:
        worker.runtime.engine.dispose()
    assert sum(fired) == 240 and pg_desk.timer_counts() == (0, 240)
    outbox = metadata.tables["outbox"]
    with pg_desk.runtime.transaction() as session:
        bodies = session.scalars(select(outbox.c.body).where(outbox.c.type.in_(("task.due_soon", "task.overdue"))))
        alarms = Counter((e["type"], e["data"]["task_id"], e["data"]["deadline"]) for e in map(json.loads, bodies))
    assert len(alarms) == 240 and set(alarms.values()) == {1}
