"""``edgekit validate --examples``: the sample plan (all on real devices; under emulation a seeded
sample that still resolves the budget), a sampled run judged against the sample's own reference
outputs, and artifacts that run out of time (listed, written, exit 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.devices import load_device
from edgekit.errors import EdgekitError
from edgekit.device.heldout import open_arrays
from edgekit.resolution import examples_to_resolve, resolves
from edgekit.validation.ondevice import plan_sample, validate

ROOT = Path(__file__).resolve().parents[2]


def test_real_devices_run_every_proven_example() -> None:
    sample = plan_sample(load_device("cpu"), 0.01, 872, None, 0)
    assert sample.indices is None and sample.size == sample.of == 872


def test_emulation_samples_just_enough_to_resolve_the_budget() -> None:
    emulated = load_device("arm64-emulated")
    a = plan_sample(emulated, 0.02, 872, None, 0)
    assert a.size == examples_to_resolve(0.02) and resolves(a.size, 0.02)
    assert a.indices is not None and len(set(a.indices.tolist())) == a.size
    assert a.indices.max() < 872 and list(a.indices) == sorted(a.indices)
    again = plan_sample(emulated, 0.02, 872, None, 0)
    other = plan_sample(emulated, 0.02, 872, None, 1)
    assert np.array_equal(a.indices, again.indices)  # seeded: the same run is repeatable
    assert not np.array_equal(a.indices, other.indices)
    assert a.to_json(0.02) | {} == {"examples": a.size, "of": 872, "sampled": True, "seed": 0,
                                    "why": a.why, "resolves_budget": True}
    # capped by the held-out size; a zero budget needs every example
    assert plan_sample(emulated, 0.02, 50, None, 0).indices is None
    assert plan_sample(emulated, 0.0, 872, None, 0).size == 872


def test_examples_overrides_the_default_and_must_be_positive() -> None:
    s = plan_sample(load_device("cpu"), 0.01, 872, 30, 0)
    assert s.size == 30 and not s.to_json(0.01)["resolves_budget"]
    with pytest.raises(EdgekitError, match="--examples"):
        plan_sample(load_device("cpu"), 0.01, 872, 0, 0)


def test_a_sample_is_judged_against_the_sample(small_bundle: Path, tmp_path_factory) -> None:
    """The baseline metric judged is the reference's on the *same* examples, not the split's."""
    import shutil

    bundle = tmp_path_factory.mktemp("sample") / "bundle"
    shutil.copytree(small_bundle, bundle)
    result = validate(bundle, "cpu", examples=40, seed=3)
    held = open_arrays(bundle / "data" / "heldout")
    proven = len(held["reference"])
    idx = plan_sample(load_device("cpu"), 0.05, proven, 40, 3).indices
    ref_acc = float(np.mean(np.asarray(held["reference"])[idx].argmax(1) == np.asarray(held["y"])[idx]))
    assert result["sample"] == {"examples": 40, "of": proven, "sampled": True, "seed": 3,
                                "why": "--examples 40", "resolves_budget": False}
    ran = [a for a in result["artifacts"] if "skipped" not in a]
    assert len(ran) == 4 and result["finished"] and result["timed_out"] == []
    for a in ran:
        assert a["sample_baseline"]["metric"] == pytest.approx(ref_acc)
        assert a["max_abs_diff_vs_host"] == 0.0  # same runtime on this machine
    saved = json.loads((bundle / "targets" / "cpu.json").read_text())
    assert saved["sample"]["seed"] == 3 and saved["pending"] == 0


def test_timed_out_artifacts_are_listed_written_and_exit_4(small_bundle: Path, tmp_path_factory) -> None:
    """A 0.05 s runner timeout: no artifact can start Python and a runtime in time. Each is
    tried under its own timeout, listed as timed out in targets/<device>.json, and the CLI
    exits 4."""
    import shutil

    bundle = tmp_path_factory.mktemp("timeout") / "bundle"
    shutil.copytree(small_bundle, bundle)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "edgekit", "validate", str(bundle), "--target",
                           "cpu", "--timeout-s", "0.05"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "TIMED OUT" in proc.stdout
    saved = json.loads((bundle / "targets" / "cpu.json").read_text())
    timed = [a for a in saved["artifacts"] if "timed_out" in a]
    assert len(timed) == 4 and saved["timed_out"] == [a["file"] for a in timed]
    assert saved["finished"] and not saved["passed"]
    assert all("timed out after 0.05 s" in a["timed_out"] for a in timed)


def test_under_emulation_the_reference_export_runs_a_seeded_subset() -> None:
    """The reference's own export is judged on the fewest examples on which full agreement's
    95% interval clears min_agreement (73 for 0.95), drawn from the sample; the students keep
    the budget-resolving sample; real devices and --examples keep one sample for all."""
    from edgekit.validation.intervals import wilson
    from edgekit.validation.ondevice import (examples_to_show_agreement, is_reference_export,
                                             plan_reference_sample)

    n = examples_to_show_agreement(0.95)
    assert n == 73 and wilson(n, n).low >= 0.95 > wilson(n - 1, n - 1).low
    assert examples_to_show_agreement(1.0) is None
    emulated = load_device("arm64-emulated")
    sample = plan_sample(emulated, 0.02, 872, None, 0)
    ref = plan_reference_sample(sample, emulated, 0.95, None, 0)
    assert ref is not None and ref.size == 73 and ref.of == 872 and ref.seed == 0
    assert set(ref.indices.tolist()) <= set(sample.indices.tolist())
    assert list(ref.indices) == sorted(ref.indices) and "min_agreement 0.95" in ref.why
    assert not ref.to_json(0.02)["resolves_budget"]  # stated, not hidden
    assert np.array_equal(ref.indices, plan_reference_sample(sample, emulated, 0.95, None, 0).indices)
    # no subset where it would not save anything or where one sample was asked for
    assert plan_reference_sample(sample, emulated, 0.999, None, 0) is None
    assert plan_reference_sample(sample, emulated, 0.95, 200, 0) is None
    cpu = load_device("cpu")
    assert plan_reference_sample(plan_sample(cpu, 0.02, 872, None, 0), cpu, 0.95, None, 0) is None
    assert is_reference_export({"model": "reference"}) and not is_reference_export({"model": "tinybert"})
