"""The benchmark's arithmetic on what it measured: which processes a snapshot follows, and the
ceiling a saturated phase's CPU a case sets."""

from __future__ import annotations

from bench import procs
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


def test_results_written_before_phases_were_metered_add_no_line():
    assert phase_cost("Burst", {"through_audit_per_s": 160.0}, cpus=2) == []
