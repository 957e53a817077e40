"""The benchmark's arithmetic on what it measured: which processes a snapshot follows, and the
ceiling a saturated phase's CPU a case sets."""

from __future__ import annotations

import pytest

from bench import procs, report
from bench.report import phase_cost


def test_a_process_tree_is_walked_depth_first_in_pid_order():
    children = {1: [5, 3], 3: [7], 9: [10]}  # a gunicorn master (1), its workers, and a stranger

    assert procs.tree(1, children) == [1, 3, 7, 5]
    assert procs.tree(5, children) == [5]


def saturated_phase(machine_ms: float, **extra) -> dict:
    return {
        "cpu": {
            "cpu_ms_per_case": {"intake-web/1": 1.56, "intake-web/2": 1.56, "intake-web": 0.001},
            "whistle_cpu_ms_per_case": 3.12,
            "infrastructure_cpu_ms_per_case": {"postgresql": 2.54, "rabbitmq": 0.97},
            "machine_cpu_ms_per_case": machine_ms,
            "machine_busy_share": 0.95,
            **extra,
        }
    }


def test_a_saturated_phase_names_the_most_cases_a_second_its_cost_leaves_room_for():
    [line] = phase_cost("Burst", saturated_phase(12.5), cpus=2)

    assert line.startswith("Burst, CPU ms a case: Whistle 3.12 (intake-web/1 1.56, intake-web/2 1.56);")
    assert "PostgreSQL 2.54, RabbitMQ 0.97;" in line
    assert line.endswith("the machine 12.5, 95 % busy: at that cost 2 cores carry at most 160 cases/s")
    assert phase_cost("Burst", saturated_phase(10.0), cpus=4)[0].endswith("at most 400 cases/s")


def test_the_measuring_is_named_when_the_results_have_it():
    measured = saturated_phase(12.5, measuring_cpu_ms_per_case={"load generator": 0.41, "receiver and bench": 0.26})

    [line] = phase_cost("Closed loop", measured, cpus=2)

    assert "RabbitMQ 0.97, load generator 0.41, receiver and bench 0.26; the machine 12.5" in line


def test_results_without_a_phase_s_cpu_figures_add_no_line():
    assert phase_cost("Burst", {"through_audit_per_s": 160.0}, cpus=2) == []


def stages(post_p99: float, webhook_p99: float) -> dict:
    return {
        "post": {"n": 300, "p50": 5.2, "p90": 8.0, "p99": post_p99, "max": 20.0},
        "accepted_to_task": {"n": 300, "p50": 60.0, "p90": 80.0, "p99": 97.0, "max": 120.0},
        "accepted_to_webhook": {"n": 300, "p50": 138.0, "p90": 160.0, "p99": webhook_p99, "max": 700.0},
        "accepted_to_audit": {"n": 300, "p50": 200.0, "p90": 230.0, "p99": 258.0, "max": 800.0},
    }


def small_results() -> dict:
    """A quick run's results as bench/__main__.py writes them, cut down to two rates and two processes."""
    return {
        "started": "2026-11-29T21:17:04.123456+00:00",
        "commit": "2db0604",
        "quick": True,
        "machine": {
            "cpus": 2,
            "python": "3.11.2",
            "python_executable": "/usr/bin/python3.11",
            "postgresql_autovacuum": False,
        },
        "floor_broker": {"messages": 5000, "publish_per_s": 15000, "end_to_end_per_s": 11990},
        "floor_http": {"max_per_s": 3430, "open_loop": {"50": {"p99": 2.5}, "100": {"p99": 2.0}}},
        "open_loop": [
            {"rate": 50, "accepted": 300, "completed": 300, "stages": stages(10.0, 175.0)},
            {"rate": 100, "accepted": 600, "completed": 599, "stages": stages(11.6, 1200.0)},
        ],
        "closed_loop": {
            "clients": 32,
            "accepted": 2300,
            "completed": 2300,
            "accepted_per_s": 230.8,
            "through_audit_per_s": 227.6,
            "stages": stages(30.0, 400.0),
            **saturated_phase(8.0),
        },
        "burst": {"cases": 1000, "accepted": 1000, "completed": 998, "lost": 2, "through_audit_per_s": 180.0},
        "wall_s": 118.4,
        "cases": 4810,
        "processes": {
            "intake-web": {"peak_rss_mb": 23.1, "cpu_ms_per_case": 0.01},
            "notify-worker": {"peak_rss_mb": 91.0, "cpu_ms_per_case": 1.32},
        },
        "cpu_ms_per_case_total": 5.95,
        "infrastructure_cpu_ms_per_case": {"postgresql": 1.91, "rabbitmq": 0.9},
        "machine_cpu_ms_per_case": 9.52,
        "webhooks": {"received": 4810, "bad_signatures": 0},
    }


def rows_of(markdown: str, first_cell: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith(f"| {first_cell}")
    ]


def test_the_latest_figures_stand_beside_their_floors_with_the_ratio_and_the_target_met_or_not():
    markdown = report.latest_markdown(small_results())

    assert markdown.startswith("Quick run (`python -m bench --quick` at 2db0604), started 2026-11-29 21:17 UTC: ")
    assert "118.4 s, 4,810 cases; 2 cores, Python 3.11.2 (`/usr/bin/python3.11`)" in markdown
    assert "**11,990 msg/s**, bare Flask/gunicorn **3,430 req/s**" in markdown
    assert "| target | aim | figure | floor (same run) | ratio | met |\n|---|---|---|---|---|---|\n" in markdown
    assert rows_of(markdown, "accepted → webhook") == [
        [
            "accepted → webhook p99 at 50 cases/s",
            "≤ 500 ms",
            "175.0 ms",
            "2.5 ms (bare Flask p99 at 50/s)",
            "70",
            "yes",
        ],
        [
            "accepted → webhook p99 at 100 cases/s",
            "≤ 1,000 ms",
            "1200.0 ms",
            "2.0 ms (bare Flask p99 at 100/s)",
            "600",
            "**no**",
        ],
    ]
    assert rows_of(markdown, "closed loop (") == [
        [
            "closed loop (32 clients), through audit",
            "≥ 200 cases/s, none lost",
            "227.6 cases/s, 0 lost",
            "3,430 req/s (bare Flask)",
            "0.0664",
            "yes",
        ],
    ]
    assert rows_of(markdown, "burst of")[0][2:] == [
        "180.0 cases/s, 2 lost",
        "3,430 req/s (bare Flask)",
        "0.0525",
        "**no**",
    ]
    assert rows_of(markdown, "largest process") == [
        ["largest process, peak resident", "≤ 150 MB", "91.0 MB (notify-worker)", "—", "—", "yes"]
    ]
    assert rows_of(markdown, "50/s") == [
        ["50/s", "300/300", "5.2 / 10.0", "2.5", "4", "97.0", "138.0 / 175.0", "258.0"]
    ]
    # Only the closed loop was metered: its ceiling, then the whole run's figures; no cost row for the burst.
    assert rows_of(markdown, "closed loop")[1] == [
        "closed loop", "8.0", "95 %", "250 cases/s", "3.12", "2.54", "0.97", "—"
    ]  # fmt: skip
    assert rows_of(markdown, "the whole run") == [["the whole run", "9.52", "—", "—", "5.95", "1.91", "0.90", "—"]]
    assert [row[0] for row in rows_of(markdown, "burst")] == ["burst of 1,000, through audit"]


def test_a_results_file_s_section_is_rewritten_in_place_and_the_rest_of_the_readme_left_alone(tmp_path):
    before = "# Benchmark\n\nIntro | with a pipe.\n\n<!-- bench:latest -->\nold figures\n<!-- /bench:latest -->\n"
    after = "\n## Why\n\n<!-- bench:micro -->\nper service\n<!-- /bench:micro -->\nlast line, no newline"
    readme = tmp_path / "README.md"
    readme.write_text(before + after, encoding="utf-8")

    assert report.write_readme(small_results(), readme) == "latest"
    once = readme.read_text(encoding="utf-8")
    report.write_readme(small_results(), readme)

    assert readme.read_text(encoding="utf-8") == once
    section = f"<!-- bench:latest -->\n{report.latest_markdown(small_results())}\n<!-- /bench:latest -->\n"
    assert once == before.replace("<!-- bench:latest -->\nold figures\n<!-- /bench:latest -->\n", section) + after


def test_a_readme_without_the_section_is_not_written(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmark\n", encoding="utf-8")

    with pytest.raises(ValueError, match="no <!-- bench:latest --> … <!-- /bench:latest --> section"):
        report.write_readme(small_results(), readme)
    assert readme.read_text(encoding="utf-8") == "# Benchmark\n"


def test_per_service_results_go_to_their_own_section_with_floor_and_ratio(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- bench:latest -->\nkept\n<!-- /bench:latest -->\n<!-- bench:micro -->\n<!-- /bench:micro -->\n"
    )
    micro = {
        "started": "2026-11-29T18:02:00+00:00",
        "commit": "21fd1a3",
        "quick": False,
        "wall_s": 257.0,
        "results": {
            "audit.verify_events_per_s": {
                "figure": 188725,
                "unit": "events/s",
                "target": ">= 100000 events/s",
                "pass": True,
                "floor": 182772,
                "floor_name": "same rows streamed in raw SQL, rows/s",
                "ratio": 1.03,
            },
            "notify.error": {"error": "RuntimeError: no | receiver", "pass": False},
        },
    }

    assert report.write_readme(micro, readme) == "micro"

    text = readme.read_text()
    assert text.startswith("<!-- bench:latest -->\nkept\n<!-- /bench:latest -->\n<!-- bench:micro -->\n")
    assert "`python -m bench --micro-only` at 21fd1a3, started 2026-11-29 18:02 UTC: 257 s." in text
    assert (
        "| audit.verify_events_per_s | 188725 events/s | >= 100000 events/s | pass | "
        "182772 (same rows streamed in raw SQL, rows/s) | 1.03 |" in text
    )
    assert "| notify.error | RuntimeError: no \\| receiver | — | — | — | — |" in text
