"""The one synchronous call between services: a reporter's phone, fetched from intake when a text
is sent (claim check), so that no number rides the bus or stays in notify."""

from __future__ import annotations

import requests

from services.common.auth import issue_token

from .channels import PermanentError, SendError


class Contacts:
    """Port: the phone number of a case's reporter."""

    def phone(self, case_id: str) -> str:
        raise NotImplementedError


class IntakeContacts(Contacts):
    def __init__(self, intake_url: str, jwt_secret: str, timeout: tuple[float, float]):
        self.intake_url, self.jwt_secret, self.timeout = intake_url, jwt_secret, timeout

    def phone(self, case_id: str) -> str:
        token = issue_token(self.jwt_secret, role="service", sub="notify", ttl=300)
        try:
            response = requests.get(
                f"{self.intake_url}/v1/cases/{case_id}/contact",
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SendError(f"intake contact: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise PermanentError("intake knows no such case")
        if response.status_code != 200:
            raise SendError(f"intake contact: HTTP {response.status_code}")
        phone = (response.json() or {}).get("phone")
        if not phone:
            raise PermanentError("the reporter left no phone number")
        return phone
