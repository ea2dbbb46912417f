"""Resumable runs: stage records, reuse, exact downstream invalidation, --fresh, a real killed
run that resumes with the same report figures, and cache keys that follow the code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import LENET_MINIMAL, REPO
from edgekit.data import Dataset, Split
from edgekit.progress import SilentProgress
from edgekit.recipe.schema import Recipe
from edgekit.stage_keys import PipelineCache
from edgekit.stage_records import run_folder

RECIPE = yaml.safe_load(LENET_MINIMAL)
RECIPE["compression"] = [{"stage": "prune", "target_sparsity": 0.5}, {"stage": "qat"}]


def _recipe(**changes: object) -> Recipe:
    data = json.loads(json.dumps(RECIPE))
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split(".")
        for key in path:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        node[last] = value
    return Recipe.model_validate(data)


def _data(shift: float = 0.0) -> Dataset:
    rng = np.random.default_rng(0)
    split = Split({"features": rng.normal(size=(12, 4)).astype(np.float32) + shift},
                  np.arange(12) % 3)
    return Dataset("toy", "classification", split, split, split, 3, "test")


class _Counter:
    """Stage computations that build a tiny real Keras model and count how often they ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def model(self, name: str, scale: float):
        from edgekit import _tf

        keras = _tf.keras()

        def compute():
            self.calls.append(name)
            inp = keras.Input(shape=(4,), name="features")
            m = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
            m.set_weights([w * 0 + scale for w in m.get_weights()])
            return m
        return compute


def _run_stages(tmp_path: Path, recipe: Recipe, data: Dataset, counter: _Counter,
                fresh: bool = False) -> list[np.ndarray]:
    out = tmp_path / "bundle"
    cache = PipelineCache.open(recipe, out, data, data.test, fresh=fresh, progress=SilentProgress())
    outputs = [cache.train(counter.model("train", 0.1))[1]]
    for i, entry in enumerate(recipe.compression):
        class Result:
            def __init__(self, model):
                self.model, self.facts = model, {"i": i}
        make = counter.model(entry.stage, 0.2 + i)
        outputs.append(cache.stage(entry, lambda: Result(make()))[1])
    return outputs


def test_rerun_reuses_every_stage_and_records_them(tmp_path: Path) -> None:
    counter = _Counter()
    first = _run_stages(tmp_path, _recipe(), _data(), counter)
    assert counter.calls == ["train", "prune", "qat"]
    again = _run_stages(tmp_path, _recipe(), _data(), counter)
    assert counter.calls == ["train", "prune", "qat"]  # nothing recomputed
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    run = run_folder(tmp_path / "bundle")
    for stage in ("train", "stage-prune", "stage-qat"):
        rec = json.loads((run / stage / "record.json").read_text())
        assert rec["status"] == "done" and len(rec["key"]) == 64 and rec["config"]


@pytest.mark.parametrize("change, recomputed", [
    ({"compression.1.epochs": 3}, ["qat"]),
    ({"compression.0.target_sparsity": 0.6}, ["prune", "qat"]),
    ({"train.epochs": 2}, ["train", "prune", "qat"]),
    ({"validation.runs": 7}, []),  # a proof setting: no model stage changes
])
def test_changed_config_invalidates_exactly_downstream(tmp_path: Path, change: dict,
                                                       recomputed: list[str]) -> None:
    counter = _Counter()
    _run_stages(tmp_path, _recipe(), _data(), counter)
    counter.calls.clear()
    _run_stages(tmp_path, _recipe(**change), _data(), counter)
    assert counter.calls == recomputed


def test_changed_data_and_fresh_recompute_everything(tmp_path: Path) -> None:
    counter = _Counter()
    _run_stages(tmp_path, _recipe(), _data(), counter)
    counter.calls.clear()
    _run_stages(tmp_path, _recipe(), _data(shift=1.0), counter)
    assert counter.calls == ["train", "prune", "qat"]
    counter.calls.clear()
    _run_stages(tmp_path, _recipe(), _data(shift=1.0), counter, fresh=True)
    assert counter.calls == ["train", "prune", "qat"]


def test_tampered_cached_model_is_not_trusted(tmp_path: Path) -> None:
    counter = _Counter()
    _run_stages(tmp_path, _recipe(), _data(), counter)
    stored = run_folder(tmp_path / "bundle") / "stage-prune" / "outputs.npy"
    np.save(stored, np.load(stored) + 1.0)
    counter.calls.clear()
    _run_stages(tmp_path, _recipe(), _data(), counter)
    assert counter.calls == ["prune"]  # its output no longer matched the record: recomputed;
    # qat's key depends on prune's config, not its weights, and its own check still passes


def test_alternating_configs_reuse_their_kept_results(tmp_path: Path) -> None:
    """optimize switches a stage between configs (head_prune on the student, then on another
    chain, then back): each finished result is kept aside, not overwritten, and comes back."""
    from edgekit.stage_records import KEEP_PER_STAGE, KEPT

    counter = _Counter()
    a = _run_stages(tmp_path, _recipe(), _data(), counter)
    _run_stages(tmp_path, _recipe(**{"compression.1.epochs": 3}), _data(), counter)
    counter.calls.clear()
    again = _run_stages(tmp_path, _recipe(), _data(), counter)
    assert counter.calls == []  # qat of the first config came back from .kept
    assert all(np.array_equal(x, y) for x, y in zip(a, again))
    _run_stages(tmp_path, _recipe(**{"compression.1.epochs": 3}), _data(), counter)
    assert counter.calls == []  # and the second's, which the swap had kept in its turn
    for epochs in range(4, 6 + KEEP_PER_STAGE):  # more configs than the store keeps per name
        _run_stages(tmp_path, _recipe(**{"compression.1.epochs": epochs}), _data(), counter)
    kept = run_folder(tmp_path / "bundle") / KEPT / "stage-qat"
    assert len(list(kept.iterdir())) == KEEP_PER_STAGE
    counter.calls.clear()
    _run_stages(tmp_path, _recipe(), _data(), counter)
    assert counter.calls == ["qat"]  # the oldest was let go


def _figures(report: dict) -> tuple:
    return (report["reference"]["value"], [s["metric"] for s in report["stages"]],
            [(a["file"], a["metric"]["value"], a["agreement"], a["passed"])
             for a in report["artifacts"]])


@pytest.mark.slow
def test_killed_run_resumes_with_same_report_figures(tmp_path: Path,
                                                     lenet_bundle: tuple[Path, dict]) -> None:
    """SIGKILL a real `compress lenet5 --quick` once `prune` is recorded (during `qat`); the
    re-run reuses train and prune, and its figures equal an uninterrupted run's."""
    out = tmp_path / "lenet5"
    cmd = [sys.executable, "-m", "edgekit", "compress", "lenet5", "--quick", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    record = run_folder(out) / "stage-prune" / "record.json"
    deadline = time.monotonic() + 540
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if record.is_file() and json.loads(record.read_text())["status"] == "done":
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # nothing under the final name
    qat = run_folder(out) / "stage-qat" / "record.json"
    assert not qat.exists() or json.loads(qat.read_text())["status"] == "running"

    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    log = res.stdout + res.stderr
    assert "reused train" in log and "reused stage-prune" in log
    assert "reused stage-qat" not in log
    assert not list(tmp_path.glob(".lenet5.partial-*"))  # the killed run's temp bundle is gone
    resumed = json.loads((out / "report.json").read_text())
    assert _figures(resumed) == _figures(lenet_bundle[1])


def test_temp_bundles_of_killed_runs_are_cleaned_live_ones_kept(tmp_path: Path) -> None:
    from edgekit.outdir import bundle_folder

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that just exited
    stale = tmp_path / f".b.partial-{dead.pid}-x"
    live = tmp_path / f".b.partial-{os.getpid()}-y"
    stale.mkdir()
    live.mkdir()
    with bundle_folder(tmp_path / "b") as folder:
        (folder / "report.json").write_text("{}")
    assert not stale.exists() and live.exists() and (tmp_path / "b" / "report.json").is_file()


def test_code_key_follows_the_plugin_source() -> None:
    from edgekit.stage_keys import code_key
    from edgekit.stages import STAGES

    prune, qat = STAGES.get("prune"), STAGES.get("qat")
    assert code_key(prune) == code_key(prune) != code_key(qat)


def test_export_key_follows_the_exporter_its_helpers_and_the_family_graph_writer() -> None:
    """A changed graph writer (or int8 fallback) must invalidate cached exports: the key hashes
    their source along with the exporter's."""
    from edgekit.exporters import EXPORTERS
    from edgekit.exporters.graphs import GRAPH_WRITERS
    from edgekit.stage_keys import code_key, exporter_code_key, helper_modules

    onnx = EXPORTERS.get("onnx")
    assert "edgekit.exporters._onnx_fallback" in helper_modules(EXPORTERS.get("openvino"),
                                                               "edgekit.exporters")
    with_writer = code_key(onnx, GRAPH_WRITERS.get("bert_onnx"),
                           modules=helper_modules(onnx, "edgekit.exporters"))
    assert exporter_code_key("onnx", "bert") == with_writer  # bert's family writes ONNX itself
    assert exporter_code_key("onnx", "cnn") != with_writer  # cnn has no writer


def test_code_key_changes_when_a_module_source_changes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from edgekit.stage_keys import code_key

    (tmp_path / "fake_writer.py").write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("fake_writer")
    before = code_key(modules=("fake_writer",))
    (tmp_path / "fake_writer.py").write_text("SCALE = 2\n")
    assert code_key(modules=("fake_writer",)) != before


def test_compress_reuses_finished_stages_when_a_later_one_changed(tmp_path: Path) -> None:
    """A single-process ``compress`` whose last stage changed recomputes only that stage. (It
    once retrained everything: the multi-worker rule 'skip a model stage only if every one is
    done' applied to one process too, so optimize's held-out proof retrained the teacher and
    student whenever another candidate's chain had taken the last stage's slot.)"""
    from edgekit.pipeline import compress
    from edgekit.recipe.loader import load_recipe

    def loaded(data: dict) -> Recipe:
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_recipe(path)

    out = tmp_path / "bundle"
    recipe = {**RECIPE, "compression": [{"stage": "prune", "target_sparsity": 0.5},
                                        {"stage": "qat", "epochs": 1}]}
    compress(loaded(recipe), out)
    run = run_folder(out)
    made = {s: json.loads((run / s / "record.json").read_text())["time"]
            for s in ("train", "stage-prune", "stage-qat")}
    time.sleep(1.1)  # record times are in whole seconds
    recipe["compression"] = [recipe["compression"][0], {"stage": "qat", "epochs": 2}]
    compress(loaded(recipe), out, fresh=False)
    again = {s: json.loads((run / s / "record.json").read_text())["time"] for s in made}
    assert again["train"] == made["train"] and again["stage-prune"] == made["stage-prune"]
    assert again["stage-qat"] != made["stage-qat"]
