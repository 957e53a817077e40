"""Notify's settings: the documented defaults and their overrides."""

from __future__ import annotations

from datetime import timedelta

from services.common.config import Settings
from services.notify.config import NotifyConfig
from services.notify.masking import mask_email, mask_recipient


def load(**overrides) -> NotifyConfig:
    return NotifyConfig.load(Settings.load("notify", {"DATA_DIR": "/tmp/whistle-notify-unit", **overrides}))


def test_defaults(monkeypatch):
    for name in ("NOTIFY_BACKOFF", "SMS_GATEWAY_URL", "SMS_PROVIDER", "SECRET_ROTATION_WINDOW"):
        monkeypatch.delenv(f"WHISTLE_{name}", raising=False)
    config = load()
    assert config.backoff == (
        timedelta(0),
        timedelta(seconds=5),
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(minutes=30),
    )
    assert config.rotation_window == timedelta(hours=24)
    assert config.sms_provider == "file" and str(config.sms_file) == "/tmp/whistle-notify-unit/sms.jsonl"
    assert config.lease > timedelta(seconds=config.connect_timeout + config.read_timeout)


def test_overrides():
    config = load(
        NOTIFY_BACKOFF="0s,1m",
        SECRET_ROTATION_WINDOW="2h",
        SMS_GATEWAY_URL="https://sms.example/send",
        SMTP_STARTTLS="true",
        SMTP_PORT="587",
    )
    assert config.backoff == (timedelta(0), timedelta(minutes=1))
    assert config.rotation_window == timedelta(hours=2)
    assert config.sms_provider == "http", "a configured gateway is used"
    assert config.smtp_starttls and config.smtp_port == 587


def test_people_are_masked_urls_and_residents_are_not():
    assert mask_email("duty@water.example") == "d***@water.example"
    assert mask_recipient("sms", "13900001234") == "139****1234"
    assert mask_recipient("sms", "resident:abc") == "resident:abc"
    assert mask_recipient("webhook", "https://dept.example/h") == "https://dept.example/h"
