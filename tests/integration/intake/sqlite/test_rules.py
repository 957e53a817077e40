"""Intake's small pure rules: distances, addresses, categories, markup and phone masks."""

from __future__ import annotations

import pytest

from services.intake.categories import DEFAULT_CATEGORIES, BadCategoriesFile, load_categories, merge_categories
from services.intake.duplicates import haversine_m, normalise_address
from services.intake.schemas import normalise_phone
from services.intake.text import has_markup, mask_phones_in_text


@pytest.mark.parametrize(
    "a, b, metres",
    [
        ((30.52, 114.31), (30.52, 114.31), 0),
        ((30.52, 114.31), (30.5218, 114.31), 200),  # 0.0018° of latitude ≈ 200 m
        ((0.0, 0.0), (0.0, 1.0), 111_195),  # one degree on the equator
        ((39.9042, 116.4074), (31.2304, 121.4737), 1_067_000),  # Beijing – Shanghai
    ],
)
def test_haversine_distances(a, b, metres):
    assert haversine_m(*a, *b) == pytest.approx(metres, rel=0.01, abs=1)


def test_addresses_compare_without_spacing_width_or_case():
    assert normalise_address(" 伟业佳苑 3栋 ") == normalise_address("伟业佳苑３栋") == "伟业佳苑3栋"
    assert normalise_address("Block A") == normalise_address("block  a")
    assert normalise_address("伟业佳苑3栋") != normalise_address("伟业佳苑4栋")


def test_categories_file_extends_and_adjusts_the_defaults(tmp_path):
    path = tmp_path / "categories.yaml"
    path.write_text(
        "lift_failure: {name_zh: 电梯故障, name_en: Lift failure, severity: emergency}\nparking: {severity: urgent}\n",
        encoding="utf-8",
    )
    categories = load_categories(path)
    assert categories["lift_failure"] == {"name_zh": "电梯故障", "name_en": "Lift failure", "severity": "emergency"}
    assert categories["parking"] == {**DEFAULT_CATEGORIES["parking"], "severity": "urgent"}
    assert set(DEFAULT_CATEGORIES) < set(categories)
    assert DEFAULT_CATEGORIES["parking"]["severity"] == "normal", "the defaults themselves are untouched"


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        (["water_supply"], "must map"),
        ({"Lift Failure": {"name_zh": "电梯", "name_en": "Lift", "severity": "urgent"}}, "use 1-32"),
        ({"lift": {"name_zh": "电梯", "severity": "urgent"}}, "missing name_en"),
        ({"lift": {"name_zh": "电梯", "name_en": "Lift", "severity": "whenever"}}, "severity must be"),
        ({"parking": {"colour": "blue"}}, "give only"),
    ],
)
def test_malformed_categories_are_refused(overrides, complaint):
    with pytest.raises(BadCategoriesFile, match=complaint):
        merge_categories(overrides)


def test_an_unreadable_categories_file_is_refused(tmp_path):
    with pytest.raises(BadCategoriesFile):
        load_categories(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("lift: [unclosed", encoding="utf-8")
    with pytest.raises(BadCategoriesFile):
        load_categories(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    "text, markup",
    [
        ("<script>alert(1)</script>", True),
        ("路灯<br>不亮", True),
        ("</p>", True),
        ("<!-- x -->", True),
        ('<img src="x" onerror="y">', True),
        ("<?xml version='1.0'?>", True),
        ("水压 < 0.1 MPa", False),
        ("3<5 and 6>4", False),
        ("a <= b", False),
        ("<<紧急>>", False),
    ],
)
def test_markup_detection(text, markup):
    assert has_markup(text) is markup


def test_phone_numbers_in_free_text_are_masked():
    text = "请联系13800138000或027-87654321，+86 13912345678；单号 20261234567890 不是电话"
    assert mask_phones_in_text(text) == "请联系138****8000或027****4321，+86****5678；单号 20261234567890 不是电话"
    assert mask_phones_in_text(None) is None


@pytest.mark.parametrize(
    "given, kept",
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("027-87654321", "027-87654321"),
        ("01012345678", "01012345678"),
    ],
)
def test_phones_are_kept_in_one_form(given, kept):
    assert normalise_phone(given) == kept
