"""Instructions an event costs a service's consumer, counted rather than timed.

bench/submissions.py counts what a submission costs intake's web app; this counts the other side of
the bus, for the same reason (the machine's speed moves, instruction counts do not). In this
process, on fresh PostgreSQL databases, it first makes the events a burst of the load generator's
cases puts on the bus: ``case.reported`` from intake's app, ``case.dispatched`` and ``task.assigned``
from dispatch's consumer, and one ``notification.sent`` a task as notify's sender writes it (its
fields, built here: the sender would need a webhook receiver). The same events every run, whatever
is measured. Then ``--service S`` applies a warm-up and then the events S consumes, in the order
they were made, in batches of 50 (``--batch``; under load a batch holds what arrives within the
consumer's linger), through S's consumer (``Consumer.apply``: the transaction, the inbox, the
preloading and the handlers; not the broker, which RabbitMQ's floor in `make bench` measures).
Run it twice under callgrind, with ``--count 0`` and without:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv-bench/bin/python -m bench.consumers --service audit --count 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv-bench/bin/python -m bench.consumers --service audit

The difference in "Collected", divided by the events the second run applied (it prints how many),
is one event's instructions in S's consumer. The runs' own variation (the random ids in the
billions of instructions both spend making the events) is 1–3 % of that difference with all the
events S consumes (500–700 for notify and audit), and up to about 8 % with 100–200.
Without valgrind it prints the CPU time an event took, as noisy as the machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import tempfile
import time

from services.common.events import build_event, encode, parse_event

from .loadgen import case_body
from .micro_infra import JWT_SECRET, Databases, migrate
from .submissions import staff_headers

SERVICES = ("intake", "dispatch", "notify", "audit")
CASES = 200  # made every run, whatever --service and --count: the runs differ only in what is applied
WARM_UP = 100  # events applied first: pools, prepared statements and caches filled
BATCH = 50


class Delivery:
    """What Consumer.apply reads of a kombu message: its body and its routing key (the event's type)."""

    def __init__(self, event: tuple[str, str]):
        self.delivery_info = {"routing_key": event[0]}
        self.body = event[1].encode()


def outbox_events(runtime) -> list[tuple[str, str]]:
    """The events a service has written, (type, body) in the order written, taken out of its outbox."""
    table = runtime.outbox.table
    with runtime.transaction() as session:
        rows = session.execute(table.select().where(table.c.status == "pending").order_by(table.c.seq)).all()
        session.execute(table.update().where(table.c.status == "pending").values(status="sent"))
    return [(row.type, row.body) for row in rows]


def apply_in_batches(worker, events: list[tuple[str, str]], batch: int = BATCH) -> None:
    for start in range(0, len(events), batch):
        outcomes = worker.consumer.apply([Delivery(event) for event in events[start : start + batch]])
        failed = [error for _message, outcome, error in outcomes if outcome != "ack"]
        assert not failed, failed


def submit_cases(count: int) -> list[tuple[str, str]]:
    from services.intake.app import create_app

    app = create_app()
    client = app.test_client()
    headers = staff_headers()
    for n in range(count):
        assert client.post("/v1/cases", data=case_body(n), headers=headers).status_code == 201
    events = outbox_events(app.extensions["whistle"])
    app.extensions["whistle"].engine.dispose()
    return events


def notification_sent(task_assigned: str) -> tuple[str, str]:
    """The notice notify's sender writes once a task's webhook was received (sender._notice)."""
    cause = parse_event(task_assigned)
    return "notification.sent", encode(
        build_event(
            "notification.sent",
            {
                "delivery_id": cause.id,
                "event_id": cause.id,
                "event_type": cause.type,
                "channel": "webhook",
                "recipient": "http://127.0.0.1:9/hooks/" + cause.data["department"],
                "address": None,
                "attempts": 1,
                "case_id": cause.case_id,
                "department": cause.data["department"],
                "community": cause.data.get("community"),
                "error": None,
            },
            service="notify",
            correlation_id=cause.correlation_id,
        )
    ).decode()


def make_events(dispatch) -> list[tuple[str, str]]:
    """Every event of CASES cases, (type, body) in the order the bus would carry them, case by case;
    ``dispatch`` is the worker that routes them."""
    reported = submit_cases(CASES)
    apply_in_batches(dispatch, reported)
    dispatched = outbox_events(dispatch.runtime)
    notices = [notification_sent(body) for event_type, body in dispatched if event_type == "task.assigned"]
    by_case: dict[str, list[tuple[str, str]]] = {}
    for event in [*reported, *dispatched, *notices]:
        by_case.setdefault(parse_event(event[1]).case_id, []).append(event)
    return [event for events in by_case.values() for event in events]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", choices=SERVICES, required=True, help="whose consumer applies the events")
    parser.add_argument(
        "--count", type=int, default=None, help="events applied after the warm-up (default: all the service consumes)"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help="events a batch (default: %(default)s)")
    args = parser.parse_args()
    dbs = Databases()
    for service in SERVICES:
        url = dbs.create(service)
        migrate(service, url)
        os.environ[f"WHISTLE_{service.upper()}_DATABASE_URL"] = url
    data_dir = tempfile.mkdtemp(prefix="whistle-consumers-")  # audit's checkpoint key, say
    os.environ.update({"WHISTLE_JWT_SECRET": JWT_SECRET, "WHISTLE_LOG_LEVEL": "WARNING", "WHISTLE_DATA_DIR": data_dir})

    def build(service: str, config: dict | None = None):
        return importlib.import_module(f"services.{service}.worker").build_worker(
            config, **({"send": False} if service == "notify" else {})
        )

    # The events are made by a dispatch worker of their own: measured on the same database, dispatch
    # would find every case.reported applied already and count only what skipping a duplicate costs.
    migrate("dispatch", dbs.create("dispatch_maker"))
    maker = build("dispatch", {"DISPATCH_DATABASE_URL": dbs.urls["dispatch_maker"]})
    workers = {"maker": maker, args.service: build(args.service)}
    try:
        events = make_events(maker)
        worker = workers[args.service]
        mine = [event for event in events if event[0] in worker.consumer.handlers]
        apply_in_batches(worker, mine[:WARM_UP], args.batch)
        measured = mine[WARM_UP:] if args.count is None else mine[WARM_UP : WARM_UP + args.count]
        started = time.process_time()
        apply_in_batches(worker, measured, args.batch)
        spent = time.process_time() - started
        print(
            f"{args.service}: {len(measured)} events applied after {WARM_UP}: "
            f"{1000 * spent / max(len(measured), 1):.3f} ms of CPU each"
        )
    finally:
        for worker in workers.values():
            worker.runtime.engine.dispose()
        dbs.drop_all()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
