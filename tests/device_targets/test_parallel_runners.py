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


def test_parallel_runners_start_the_costliest_artifacts_first(tmp_path) -> None:
    """Longest first, so no long artifact runs alone at the end: cost = examples x bytes, fp16
    counted double (widened to fp32 at load), the reference export at its own smaller sample."""
    from edgekit.validation.ondevice import heaviest_first

    sizes = {"ref.onnx": 90, "s32.tflite": 29, "s16.tflite": 14, "s8.onnx": 7, "s32.onnx": 30}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"\0" * size)
    artifacts = [{"file": "s8.onnx", "precision": "dynamic", "model": "student"},
                 {"file": "ref.onnx", "precision": "fp32", "model": "reference"},
                 {"file": "s16.tflite", "precision": "fp16", "model": "student"},
                 {"file": "s32.tflite", "precision": "fp32", "model": "student"},
                 {"file": "s32.onnx", "precision": "fp32", "model": "student"}]
    # costs: 7*400, 90*73, 14*2*400, 29*400, 30*400
    assert heaviest_first(tmp_path, artifacts, 400, 73) == [4, 3, 2, 1, 0]

    started: list[int] = []

    def one(artifact: dict[str, Any]) -> dict[str, Any]:
        started.append(artifacts.index(artifact))
        return {}

    assert sorted(index for index, _ in run_artifacts(one, artifacts, 1, [4, 3, 2, 1, 0])) == \
        list(range(5))
    assert started == [0, 1, 2, 3, 4]  # one runner: the bundle's order
