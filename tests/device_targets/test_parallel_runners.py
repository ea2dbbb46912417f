"""Under emulation ``validate`` runs one artifact per host core at once (single-threaded
runners keep a 2-core host busy where one two-threaded runner leaves a core idle); on a real
device one at a time. Results keep the bundle's order, and an interrupt while several runners
work ends every one of their process sessions."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from edgekit.devices import load_device
from edgekit.targets._proc import run_command
from edgekit.validation.ondevice import parallel_runners, run_artifacts

from .test_no_orphans import Watch, gone

SLEEP = "987.654"  # an argument no other process has: marks the test's runners in /proc


def test_real_devices_run_one_artifact_at_a_time_emulation_one_per_core() -> None:
    cores = len(os.sched_getaffinity(0))
    assert parallel_runners(load_device("cpu"), 9) == 1
    assert parallel_runners(load_device("rpi4"), 9) == 1
    assert parallel_runners(load_device("arm64-emulated"), 9) == min(9, cores)
    assert parallel_runners(load_device("arm64-emulated"), 1) == 1


def test_results_come_back_for_every_artifact_with_their_index() -> None:
    artifacts: list[dict[str, Any]] = [{"n": n, "wait": 0.3 if n == 0 else 0.0} for n in range(5)]

    def one(artifact: dict[str, Any]) -> dict[str, Any]:
        time.sleep(artifact["wait"])
        return {"square": artifact["n"] ** 2}

    parallel = dict(run_artifacts(one, artifacts, 2))
    sequential = list(run_artifacts(one, artifacts, 1))
    assert parallel == dict(sequential) == {n: {"square": n * n} for n in range(5)}
    assert [index for index, _ in sequential] == list(range(5))


def test_an_interrupt_ends_every_parallel_runner() -> None:
    """Two runners (``sleep``, each in a session of its own as every target command is) are
    working when the caller's loop is interrupted: closing the results ends both."""

    def one(artifact: dict[str, Any]) -> dict[str, Any]:
        if artifact["quick"]:
            return {}
        run_command(["sleep", SLEEP], what="a runner", timeout_s=120)
        return {}

    artifacts = [{"quick": True}, {"quick": False}, {"quick": False}]
    with Watch(SLEEP) as watch:
        results = run_artifacts(one, artifacts, 3)
        with pytest.raises(KeyboardInterrupt):
            for _ in results:
                deadline = time.monotonic() + 20
                while not watch.seen and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.3)  # both sleepers started
                raise KeyboardInterrupt
        results.close()
    assert watch.seen, "the runners never started: the test proved nothing"
    assert gone(SLEEP) == []
