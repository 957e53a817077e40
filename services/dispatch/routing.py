"""Choosing departments for a case: the most specific matching rule wins (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    category: str
    lead: str
    street: str | None = None
    community: str | None = None
    assists: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    severity: str = "normal"

    @property
    def specificity(self) -> int:
        return 2 if self.community else 1 if self.street else 0

    def matches(self, category: str, street: str | None, community: str | None) -> bool:
        return (
            self.category == category
            and (self.street is None or self.street == street)
            and (self.community is None or self.community == community)
        )

    def as_dict(self) -> dict:
        return {
            "category": self.category,
            "street": self.street,
            "community": self.community,
            "lead": self.lead,
            "assists": list(self.assists),
            "fallback": list(self.fallback),
            "severity": self.severity,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Rule:
        return cls(
            category=raw["category"],
            lead=raw["lead"],
            street=raw.get("street"),
            community=raw.get("community"),
            assists=tuple(raw.get("assists") or ()),
            fallback=tuple(raw.get("fallback") or ()),
            severity=raw.get("severity") or "normal",
        )


def choose_rule(rules: list[Rule], category: str, street: str | None, community: str | None) -> Rule | None:
    candidates = [r for r in rules if r.matches(category, street, community)]
    return max(candidates, key=lambda r: r.specificity, default=None)
