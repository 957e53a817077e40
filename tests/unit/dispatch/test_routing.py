"""Routing: the most specific matching rule wins."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.dispatch.routing import Rule, choose_rule

RULES = [
    Rule(category="building_safety", lead="housing", assists=("urban_mgmt",), fallback=("street_office",)),
    Rule(category="building_safety", street="紫阳街道", lead="street_office"),
    Rule(category="building_safety", street="紫阳街道", community="武泰闸社区", lead="property"),
    Rule(category="water_supply", lead="water"),
]


@pytest.mark.parametrize(
    "category, street, community, lead",
    [
        ("building_safety", None, None, "housing"),
        ("building_safety", "其他街道", "某社区", "housing"),
        ("building_safety", "紫阳街道", None, "street_office"),
        ("building_safety", "紫阳街道", "别的社区", "street_office"),
        ("building_safety", "紫阳街道", "武泰闸社区", "property"),
        ("water_supply", "紫阳街道", "武泰闸社区", "water"),
    ],
)
def test_most_specific_rule_wins(category, street, community, lead):
    assert choose_rule(RULES, category, street, community).lead == lead


def test_no_rule_means_none():
    assert choose_rule(RULES, "parking", None, None) is None


def test_a_community_rule_needs_its_street_when_it_names_one():
    rule = Rule(category="trees", street="A街道", community="X社区", lead="landscaping")
    assert not rule.matches("trees", "B街道", "X社区")


def test_the_shipped_rules_route_the_skeleton_categories():
    config = yaml.safe_load((Path(__file__).parents[3] / "services/dispatch/rules.yaml").read_text())
    rules = [Rule.from_dict(r) for r in config["rules"]]
    building = choose_rule(rules, "building_safety", None, None)
    assert (building.lead, building.assists, building.fallback) == ("housing", ("urban_mgmt",), ("street_office",))
    assert choose_rule(rules, "water_supply", None, None).lead == "water"
    assert choose_rule(rules, "ev_charging", None, None).lead == "urban_mgmt"
    assert choose_rule(rules, "drainage", None, None).lead == "drainage"
    codes = {d["code"] for d in config["departments"]}
    assert {
        "water",
        "housing",
        "urban_mgmt",
        "drainage",
        "landscaping",
        "power",
        "fire",
        "police",
        "property",
        "street_office",
    } <= codes
    for rule in rules:
        assert {rule.lead, *rule.assists, *rule.fallback} <= codes, rule
