"""Notify's worker: its relay, its consumer (planning deliveries) and its sender loop."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from services.common.config import Settings
from services.common.db import signal_on_commit
from services.common.runtime import Runtime
from services.common.worker import Worker

from .channels.email import EmailChannel
from .channels.sms import FileSmsSink, HttpSmsGateway, SmsChannel, SmsProvider
from .channels.webhook import WebhookChannel
from .config import NotifyConfig
from .contacts import IntakeContacts
from .handlers import HANDLERS, preload
from .models import metadata
from .planning import PLANNED
from .sender import Sender


@dataclass
class NotifyWorker(Worker):
    sender: Sender | None = None

    def start(self) -> NotifyWorker:
        super().start()
        if self.sender is not None:
            # Stopped through the worker's stop_event like every other loop; it finishes the
            # sends under way (bounded by their timeouts) and hands back what it had claimed.
            thread = threading.Thread(
                target=self.sender.run, args=(self.stop_event,), name=f"{self.runtime.service}-sender", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        return self


def sms_provider(config: NotifyConfig) -> SmsProvider:
    if config.sms_provider == "http":
        return HttpSmsGateway(
            config.sms_gateway_url, config.sms_gateway_key, (config.connect_timeout, config.read_timeout)
        )
    if config.sms_provider == "file":
        return FileSmsSink(config.sms_file)
    raise ValueError(f"WHISTLE_SMS_PROVIDER: {config.sms_provider!r} is neither 'http' nor 'file'")


def build_sender(runtime: Runtime, provider: SmsProvider | None = None) -> Sender:
    config = NotifyConfig.load(runtime.settings)
    timeout = (config.connect_timeout, config.read_timeout)
    contacts = IntakeContacts(config.intake_url, config.jwt_secret, timeout)
    channels = {
        "webhook": WebhookChannel(config.connect_timeout, config.read_timeout, pool_size=config.threads),
        "email": EmailChannel(
            config.smtp_host,
            config.smtp_port,
            starttls=config.smtp_starttls,
            user=config.smtp_user,
            password=config.smtp_password,
            sender=config.smtp_from,
            timeout=config.read_timeout,
        ),
        "sms": SmsChannel(provider or sms_provider(config), contacts),
    }
    return Sender(runtime, config, channels)


def build_worker(config: dict | None = None, *, send: bool = True, **kwargs) -> NotifyWorker:
    """``send=False`` leaves the sender out (tests drive ``build_sender(...).send_due(now)``)."""
    runtime = Runtime.build(Settings.load("notify", config), metadata, worker=True)
    kwargs.setdefault("preload", preload)
    kwargs.setdefault("sole_writer", True)  # only the sender writes the outbox; the web app never does
    sender = build_sender(runtime) if send else None
    if sender is not None:
        signal_on_commit(runtime.sessions, PLANNED, sender.wake)  # new deliveries wake the sender
    return NotifyWorker(runtime, HANDLERS, sender=sender, **kwargs)
