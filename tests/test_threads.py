"""The one rule for thread counts (edgekit.threads): asked > device profile > this machine's
cores, and compress and validate both honouring the recipe's ``validation.threads``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LENET_MINIMAL

from edgekit.devices import load_device
from edgekit.threads import machine_cores, settle_threads, settled_device

CPU = load_device("cpu")


@pytest.mark.parametrize(("asked", "device", "expected"), [
    (3, CPU, 3),  # the recipe / --threads wins over the profile
    (1, CPU, 1),
    (None, CPU, CPU.threads),  # nothing asked: the device profile's
    (None, load_device("rpi4"), 4),
    (5, None, 5),  # a host-only run that was asked
    (None, None, "cores"),  # a host-only run, nothing asked: this machine's cores
])
def test_settle_threads_rule(asked: int | None, device: Any, expected: int | str) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert settle_threads(asked, device) == (cores if expected == "cores" else expected)


def test_machine_cores_and_settled_device() -> None:
    assert machine_cores() >= 1
    assert settled_device(CPU, None) is CPU
    assert settled_device(CPU, CPU.threads) is CPU
    asked = settled_device(CPU, CPU.threads + 1)
    assert asked.threads == CPU.threads + 1 and asked.name == CPU.name
    assert CPU.threads != asked.threads  # the loaded profile is left as it was
    with pytest.raises(ValueError):
        settle_threads(0, CPU)


@pytest.fixture(scope="module")
def threads_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal real bundle whose recipe asks for one thread more than the cpu profile's."""
    from edgekit.pipeline import compress
    from edgekit.recipe.loader import load_recipe

    recipe = yaml.safe_load(LENET_MINIMAL) | {
        "validation": {"threads": CPU.threads + 1, "runs": 5, "warmup": 1, "max_examples": 60}}
    folder = tmp_path_factory.mktemp("threads")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    compress(load_recipe(str(folder / "tiny.yaml")), folder / "bundle")
    return folder / "bundle"


def test_compress_and_validate_honour_the_recipes_threads(
        threads_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit.validation import ondevice

    asked = CPU.threads + 1
    report = json.loads((threads_bundle / "report.json").read_text())
    assert report["target"]["threads"] == asked  # the profile as the proofs used it
    assert {a["latency_ms"]["threads"] for a in report["artifacts"]} == {asked}

    # The real local target runs each artifact; we only note the threads each run was given.
    given: list[int] = []
    real_target_for = ondevice.target_for

    class Noting:
        def __init__(self, device: Any) -> None:
            self.real = real_target_for(device)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def run(self, device: Any, request: Any) -> Any:
            given.append(request.threads)
            return self.real.run(device, request)

    monkeypatch.setattr(ondevice, "target_for", Noting)
    result = ondevice.validate(threads_bundle, "cpu")
    assert all("metric" in a for a in result["artifacts"]), result  # each one ran and was judged
    assert given and set(given) == {asked}
    saved = json.loads((threads_bundle / "targets" / "cpu.json").read_text())
    assert result["target"]["threads"] == saved["target"]["threads"] == asked
