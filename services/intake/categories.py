"""Case categories: code → names and the severity a case gets when the reporter gives none."""

from __future__ import annotations

CATEGORIES: dict[str, dict[str, str]] = {
    "water_supply": {"name_zh": "供水", "name_en": "Water supply", "severity": "urgent"},
    "drainage": {"name_zh": "排水", "name_en": "Drainage and sewers", "severity": "urgent"},
    "building_safety": {"name_zh": "房屋安全", "name_en": "Building safety", "severity": "urgent"},
    "ev_charging": {"name_zh": "电动车充电", "name_en": "E-bike charging", "severity": "normal"},
    "parking": {"name_zh": "停车", "name_en": "Parking", "severity": "normal"},
    "trees": {"name_zh": "园林树木", "name_en": "Trees", "severity": "normal"},
    "street_lighting": {"name_zh": "路灯照明", "name_en": "Street lighting", "severity": "normal"},
    "heating": {"name_zh": "供暖", "name_en": "Heating", "severity": "urgent"},
    "sanitation": {"name_zh": "环境卫生", "name_en": "Sanitation", "severity": "normal"},
    "neighbour_dispute": {"name_zh": "邻里纠纷", "name_en": "Neighbour dispute", "severity": "complex"},
    "other": {"name_zh": "其他", "name_en": "Other", "severity": "normal"},
}
