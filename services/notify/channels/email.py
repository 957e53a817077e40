"""E-mail over SMTP (smtplib), optionally with STARTTLS and a login."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from ..masking import mask_email
from ..rendering import render_email
from . import Channel, Job, PermanentError, SendError


class EmailChannel(Channel):
    name = "email"

    def __init__(self, host: str, port: int, *, starttls: bool, user: str, password: str, sender: str, timeout: float):
        self.host, self.port, self.starttls = host, port, starttls
        self.user, self.password, self.sender, self.timeout = user, password, sender, timeout

    def send(self, job: Job) -> str:
        if not self.host:
            raise PermanentError("e-mail is not configured (WHISTLE_SMTP_HOST)")
        subject, text = render_email(job)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = job.recipient
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="whistle")
        message["Whistle-Event-Id"] = job.event_id  # mail filters dedupe on it, as webhooks do
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"recipient refused: {mask_email(job.recipient)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}"[:500]) from exc
        return mask_email(job.recipient)
