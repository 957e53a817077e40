"""Whistle as an operator runs it: each service as `whistle serve` (gunicorn, two workers) plus
`whistle worker`, on the real RabbitMQ and PostgreSQL, driven through HTTP only."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.common.config import SERVICES
from services.common.localstack import LocalStack
from tests import infra
from tests.platform import unique_prefix, wait_for
from tests.receiver import WebhookReceiver

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

SECRET = "stack-webhook-secret-0123456789abcdefgh"


@pytest.fixture(scope="session")
def stack(tmp_path_factory, broker_url):
    names = {f"{s.upper()}_DATABASE_URL": f"whistle_{infra.RUN_ID}_stack_{s}" for s in SERVICES}
    databases = {key: infra.create_database(name) for key, name in names.items()}
    running = LocalStack(tmp_path_factory.mktemp("stack"), broker_url, databases, topology_prefix=unique_prefix())
    try:
        yield running.up()
    finally:
        running.down()
        for name in names.values():
            infra.drop_database(name)


@pytest.fixture
def receiver():
    r = WebhookReceiver(SECRET)
    yield r
    r.close()


def submit(stack: LocalStack, title: str, building: int = 1) -> dict:
    # Each case at its own address: the same problem at the same place would be linked as a duplicate.
    response = requests.post(
        f"{stack.url('intake')}/v1/cases",
        headers=stack.headers("staff", community="武泰闸社区"),
        json={
            "title": title,
            "category": "water_supply",
            "location": {"address": f"伟业佳苑 {building} 栋", "community": "武泰闸社区"},
            "reporter": {"name": "尹师傅", "phone": "13800138000"},
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def audit_types(stack: LocalStack, case_id: str) -> set[str]:
    items = requests.get(
        f"{stack.url('audit')}/v1/events?case_id={case_id}", headers=stack.headers("auditor"), timeout=10
    ).json()["items"]
    return {item["type"] for item in items}


def test_a_case_through_the_real_processes_and_a_worker_restart_loses_nothing(stack, receiver):
    subscribed = requests.put(
        f"{stack.url('notify')}/v1/subscriptions/water",
        headers=stack.headers("admin"),
        json={"webhook_url": receiver.url, "secret": SECRET},
        timeout=10,
    )
    assert subscribed.status_code == 200, subscribed.text

    case = submit(stack, "地下车库自来水主管网渗漏")
    water = stack.headers("department", department="water")
    tasks = wait_for(
        lambda: requests.get(
            f"{stack.url('dispatch')}/v1/tasks?case_id={case['id']}", headers=water, timeout=10
        ).json()["items"],
        what="the water company's task",
    )
    assert tasks[0]["department"] == "water"
    hook = wait_for(lambda: receiver.events_for(case["id"]), what="the signed webhook")[0]
    assert hook["verified"] and hook["event"]["type"] == "task.assigned"
    wait_for(
        lambda: {"case.reported", "case.dispatched", "task.assigned"} <= audit_types(stack, case["id"]),
        what="the audit trail",
    )

    # SIGTERM dispatch's worker while cases keep coming, then start it again: nothing is lost.
    with ThreadPoolExecutor(4) as pool:
        first = list(pool.map(lambda i: submit(stack, f"漏水 {i}", building=100 + i), range(15)))
        stack.processes["dispatch-worker"].send_signal(signal.SIGTERM)
        assert stack.processes["dispatch-worker"].wait(30) == 0, "a worker stops cleanly on SIGTERM"
        second = list(pool.map(lambda i: submit(stack, f"漏水 {15 + i}", building=200 + i), range(15)))
    stack.start_worker("dispatch")
    stack.wait_worker("dispatch")
    for submitted in first + second:
        wait_for(
            lambda c=submitted: "task.assigned" in audit_types(stack, c["id"]),
            timeout=60,
            what=f"case {submitted['number']} dispatched and audited",
        )
        wait_for(lambda c=submitted: receiver.events_for(c["id"]), what=f"webhook for {submitted['number']}")
    assert all(len(receiver.events_for(c["id"])) >= 1 for c in first + second)


def test_web_metrics_add_up_across_gunicorn_workers(stack):
    url = f"{stack.url('audit')}/healthz"
    with ThreadPoolExecutor(8) as pool:
        statuses = set(
            pool.map(lambda _: requests.get(url, headers={"Connection": "close"}, timeout=10).status_code, range(200))
        )
    assert statuses == {200}
    text = requests.get(f"{stack.url('audit')}/metrics", timeout=10).text
    total = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "whistle_http_requests_total" and sample.labels.get("endpoint") == "/healthz"
    )
    assert total >= 200
    files = {p.name for p in (stack.workdir / "prometheus-audit").glob("counter_*.db")}
    assert len(files) >= 2, f"both gunicorn workers should have counted requests: {files}"


def test_a_worker_reports_how_long_its_consumer_lets_a_batch_grow(stack):
    case = submit(stack, "楼道照明线路老化", building=300)
    wait_for(lambda: "case.reported" in audit_types(stack, case["id"]), what="the case in the audit trail")
    text = requests.get(f"{stack.worker_url('audit')}/metrics", timeout=10).text
    [linger] = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "whistle_batch_linger_seconds"
    ]
    # 40 ms with CPU to spare, up to 120 ms while the machine is saturated (this test's machine may be).
    assert 0.04 <= linger <= 0.12
