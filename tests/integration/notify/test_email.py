"""E-mail to departments and community staff through a real SMTP server, bilingual, masked in the
delivery log and in the trail."""

from __future__ import annotations

from tests.integration.notify.conftest import CASE_ID, case_event, task_assigned


def test_department_and_community_staff_get_bilingual_mail(notify, mailbox):
    admin = notify.platform.headers("admin")
    assert (
        notify.client.put("/v1/subscriptions/water", headers=admin, json={"emails": ["duty@water.example"]}).status_code
        == 200
    )
    assert (
        notify.client.put(
            "/v1/community-subscriptions/武泰闸社区",
            headers=admin,
            json={"emails": ["staff@wutaizha.example"], "events": ["task.assigned", "case.resolved"]},
        ).status_code
        == 200
    )
    event = task_assigned()
    notify.feed(event)
    notify.feed(task_assigned(community="别的社区", case_id="1b7e3f6a-4c1d-4f7e-9a55-2f1c8d9e0a11"))
    assert notify.send() == 3  # duty mail twice (two cases), staff mail once (their community only)

    to_staff = [m for m in mailbox.messages if m["to"] == ["staff@wutaizha.example"]]
    assert len(to_staff) == 1
    message = to_staff[0]["message"]
    assert message["Subject"] == "[Whistle] 新任务 New task WS-2026-000001: 地下车库自来水主管网渗漏"
    assert message["From"] == "whistle@test.example"
    assert message["Whistle-Event-Id"] == event["id"]
    text = message.get_content()
    assert "请于 2026-06-03 18:00 (UTC+8) 前报到" in text and "Acknowledge by 2026-06-03 18:00 (UTC+8)" in text
    assert "伟业佳苑地下停车场" in text and "牵头" in text and "water 收到案件" in text

    deliveries = notify.deliveries(channel="email", event_id=event["id"])
    assert sorted(d["recipient"] for d in deliveries) == ["d***@water.example", "s***@wutaizha.example"]
    assert {d["status"] for d in deliveries} == {"sent"}
    notices = [n["data"] for n in notify.outbox("notification.sent") if n["data"]["event_id"] == event["id"]]
    assert sorted(n["recipient"] for n in notices) == ["d***@water.example", "s***@wutaizha.example"]
    assert "wutaizha.example" not in str([n["recipient"].split("@")[0] for n in notices])


def test_case_level_mail_reaches_the_community_learnt_from_the_task(notify, mailbox):
    admin = notify.platform.headers("admin")
    notify.client.put(
        "/v1/community-subscriptions/武泰闸社区",
        headers=admin,
        json={"emails": ["staff@wutaizha.example"], "events": ["case.resolved"]},
    )
    notify.feed(task_assigned())
    notify.feed(case_event("case.resolved"))
    notify.feed(case_event("case.resolved", case_id="2b7e3f6a-4c1d-4f7e-9a55-2f1c8d9e0a11"))  # unknown case
    assert notify.send() == 1
    [mail] = mailbox.messages
    assert mail["message"]["Subject"].startswith("[Whistle] 待核验 Resolved WS-2026-000001")
    assert CASE_ID not in mail["message"]["Subject"]


def test_the_same_event_twice_sends_one_mail(notify, mailbox):
    notify.client.put(
        "/v1/subscriptions/water", headers=notify.platform.headers("admin"), json={"emails": ["duty@water.example"]}
    )
    event = task_assigned()
    notify.feed(event)
    notify.send()
    notify.feed(event)  # e.g. a copy from another source id: the delivery's key refuses it
    assert notify.send() == 0
    assert len(mailbox.messages) == 1


def test_a_dead_mail_server_is_retried_then_failed(notify, mailbox):
    notify.client.put(
        "/v1/subscriptions/water", headers=notify.platform.headers("admin"), json={"emails": ["duty@water.example"]}
    )
    mailbox.close()
    notify.feed(task_assigned())
    for wait in (0, 5, 30, 300, 1800):
        notify.clock.advance(seconds=wait)
        assert notify.send() == 1
    [failed] = notify.deliveries(status="failed")
    assert failed["attempts"] == 5 and "Connection" in failed["last_error"]
    [notice] = notify.outbox("notification.failed")
    assert notice["data"]["recipient"] == "d***@water.example"
