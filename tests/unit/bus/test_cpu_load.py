"""The machine's CPU load as a consumer reads it, and the linger it chooses from it."""

from __future__ import annotations

import pytest

from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.cpu_load import CpuLoad, linger_for
from services.common.metrics import WorkerMetrics, new_registry


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write_stat(path, user: int, idle: int, iowait: int = 0) -> None:
    # The first line as Linux writes it: user nice system idle iowait irq softirq steal guest guest_nice.
    path.write_text(f"cpu  {user} 0 0 {idle} {iowait} 0 0 0 0 0\ncpu0 {user} 0 0 {idle} {iowait} 0 0 0 0 0\n")


def test_busy_is_the_share_of_ticks_not_idle_since_the_last_reading(tmp_path):
    stat, clock = tmp_path / "stat", Clock()
    write_stat(stat, user=1000, idle=1000)
    load = CpuLoad(str(stat), interval=1.0, clock=clock)
    assert load.busy() is None  # nothing to compare with yet

    write_stat(stat, user=1090, idle=1005, iowait=5)  # 90 busy ticks of 100
    clock.now += 1.0
    assert load.busy() == pytest.approx(0.9)

    write_stat(stat, user=1100, idle=1095, iowait=5)  # 10 of the next 100
    clock.now += 0.5
    assert load.busy() == pytest.approx(0.9)  # not read again within the interval
    clock.now += 0.5
    assert load.busy() == pytest.approx(0.1)


def test_without_proc_stat_the_load_is_unknown(tmp_path):
    clock = Clock()
    load = CpuLoad(str(tmp_path / "missing"), clock=clock)
    clock.now += 5
    assert load.busy() is None


def test_a_reading_that_fails_forgets_the_last_load(tmp_path):
    stat, clock = tmp_path / "stat", Clock()
    write_stat(stat, user=0, idle=0)
    load = CpuLoad(str(stat), clock=clock)
    write_stat(stat, user=100, idle=0)
    clock.now += 1
    assert load.busy() == 1.0
    stat.unlink()
    clock.now += 1
    assert load.busy() is None


@pytest.mark.parametrize(
    ("busy", "linger"), [(None, 0.04), (0.3, 0.04), (0.8, 0.04), (0.875, 0.08), (0.95, 0.12), (1.0, 0.12)]
)
def test_the_linger_grows_only_as_the_cpus_saturate(busy, linger):
    assert linger_for(busy, base=0.04, when_busy=0.12) == pytest.approx(linger)


def test_a_busy_linger_shorter_than_the_base_never_shortens_it():
    assert linger_for(1.0, base=0.2, when_busy=0.12) == 0.2


def test_a_consumer_lingers_longer_on_a_saturated_machine(tmp_path):
    settings = Settings.load("audit", {"BATCH_LINGER": "0.04", "BATCH_LINGER_BUSY": "0.15"})
    registry = new_registry()
    consumer = Consumer(
        settings, sessions=None, inbox=None, outbox=None, handlers={}, metrics=WorkerMetrics("audit", registry)
    )
    stat, clock = tmp_path / "stat", Clock()
    write_stat(stat, user=0, idle=0)
    consumer.cpu = CpuLoad(str(stat), clock=clock)
    assert consumer.linger() == 0.04

    write_stat(stat, user=99, idle=1)
    clock.now += 1
    assert consumer.linger() == pytest.approx(0.15)
    assert registry.get_sample_value("whistle_batch_linger_seconds", {"service": "audit"}) == pytest.approx(0.15)

    write_stat(stat, user=149, idle=51)
    clock.now += 1
    assert consumer.linger() == 0.04
