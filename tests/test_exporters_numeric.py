"""TFMOT-style numerical tests, written once and run against every registered exporter and
precision: convert a real small Keras model, run the file on its real runtime, compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit import _tf
from edgekit.data import Split
from edgekit.errors import EdgekitError
from edgekit.exporters import EXPORTERS
from edgekit.runtimes import RUNTIMES
from edgekit.validation.prove import run_all

# How far from Keras each stored precision may land on these O(1) logits.
ATOL = {"fp32": 1e-4, "fp16": 2e-2, "dynamic": 0.15, "int8": 0.3}


@pytest.fixture(scope="module")
def small_cnn() -> tuple[object, Split]:
    keras = _tf.keras()
    _tf.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 12, 12, 1), dtype=np.float32)
    inp = keras.Input((12, 12, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3)(h)
    model = keras.Model(inp, out)
    return model, Split({"image": x}, np.zeros(64, dtype=np.int64))


CASES = [(fmt, prec) for fmt in EXPORTERS.names() for prec in sorted(EXPORTERS.get(fmt).precisions)]


@pytest.mark.parametrize("fmt,precision", CASES)
def test_exported_file_matches_keras_on_its_runtime(small_cnn, tmp_path: Path, fmt: str,
                                                    precision: str) -> None:
    model, split = small_cnn
    exporter = EXPORTERS.get(fmt)
    art = exporter.export(model, precision, tmp_path / f"m{exporter.suffix}", split)
    assert all(f.is_file() and f.stat().st_size > 0 for f in art.files)
    session = RUNTIMES.get(exporter.runtime).load(art.path, threads=1)
    got = run_all(session, split)
    want = model.predict(split.x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=ATOL[precision])
    assert not list(tmp_path.glob(".*")), "temporary files left next to the artifact"


@pytest.mark.parametrize("runtime_name", ["litert", "onnxruntime", "openvino"])
def test_corrupt_artifact_is_our_error(tmp_path: Path, runtime_name: str) -> None:
    from edgekit.recipe.schema import Budgets
    from edgekit.tasks import TASKS
    from edgekit.validation.prove import ProofSettings, prove

    runtime = RUNTIMES.get(runtime_name)
    suffix = {"litert": ".tflite", "onnxruntime": ".onnx", "openvino": ".xml"}[runtime_name]
    bad = tmp_path / f"model{suffix}"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    split = Split({"image": np.zeros((2, 4), np.float32)}, np.zeros(2, np.int64))
    with pytest.raises(EdgekitError) as info:
        prove(bad, "fp32", runtime, split, task=TASKS.get("classification"), reference_metric=1.0,
              reference_out=np.zeros((2, 2)), source_out=np.zeros((2, 2)), budgets=Budgets(),
              conversion_atol=None, size_bytes=72, settings=ProofSettings(1, 0, 1, "cpu"))
    assert "could not load" in str(info.value) and str(bad) in str(info.value)
