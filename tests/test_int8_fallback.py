"""Accuracy-aware int8: a layer whose weight range ruins per-tensor int8 is found and kept in
float, and the rest stays quantized. Real tf2onnx graph, real ONNX Runtime quantizer and
runtime, real OpenVINO, real TFLite selective quantization on LiteRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit import _tf
from edgekit.data import Split
from edgekit.exporters import EXPORTERS
from edgekit.device.runtimes import RUNTIMES


@pytest.fixture(scope="module")
def fragile_mlp() -> tuple[object, Split]:
    """Dense 'head' has one weight row of 50 that never fires (its input unit is always 0):
    harmless in float, but per-tensor int8 then has a 0.4 step and zeroes the real weights."""
    keras = _tf.keras()
    rng = np.random.default_rng(0)
    inp = keras.Input((16,), name="features")
    hidden = keras.layers.Dense(32, activation="relu", name="body")(inp)
    out = keras.layers.Dense(4, name="head")(hidden)
    model = keras.Model(inp, out)
    w1 = rng.normal(0, 0.5, (16, 32)).astype(np.float32)
    b1 = np.zeros(32, np.float32)
    w1[:, 0], b1[0] = 0.0, -1.0  # unit 0: relu(-1) = 0 always
    w2 = rng.normal(0, 0.1, (32, 4)).astype(np.float32)
    w2[0, :] = 50.0
    model.get_layer("body").set_weights([w1, b1])
    model.get_layer("head").set_weights([w2, np.zeros(4, np.float32)])
    x = rng.normal(0, 1, (300, 16)).astype(np.float32)
    return model, Split({"features": x}, np.zeros(300, np.int64))


def _unseen(n: int) -> Split:
    """Validation examples: drawn apart from the calibration ones."""
    x = np.random.default_rng(1).normal(0, 1, (n, 16)).astype(np.float32)
    return Split({"features": x}, np.zeros(n, np.int64))


def _agreement(path: Path, runtime: str, model: object, split: Split) -> float:
    session = RUNTIMES.get(runtime).load(path, 1)
    got = np.concatenate([session.run({"features": split.x["features"][i:i + 1]})
                          for i in range(len(split))])
    want = np.asarray(model.predict(split.x, verbose=0))  # type: ignore[attr-defined]
    return float((got.argmax(-1) == want.argmax(-1)).mean())


@pytest.mark.parametrize("fmt,precision", [("onnx", "dynamic"), ("onnx", "int8"),
                                           ("openvino", "int8"), ("tflite", "int8")])
def test_the_fragile_layer_stays_float_and_agreement_recovers(
        fragile_mlp: tuple[object, Split], tmp_path: Path, fmt: str, precision: str) -> None:
    model, split = fragile_mlp
    exporter = EXPORTERS.get(fmt)
    dest = tmp_path / f"m{exporter.suffix}"
    art = exporter.export(model, precision, dest, split,
                          exporter.Options(fallback_min_agreement=0.97, fallback_examples=160),
                          tuning=_unseen(200))
    notes = art.notes["fallback"]
    # judged on unseen examples, on the runtime that will run the artifact
    assert (notes["fallback_split"], notes["fallback_examples"]) == ("validation", 160), notes
    assert notes["fallback_runtime"] == exporter.runtime, notes
    # dynamic int8 ranges activations per call: judged at batch 1, as the proof runs it;
    # LiteRT is judged one example a call, as it runs on devices
    one_a_call = precision == "dynamic" or fmt == "tflite"
    assert notes["fallback_batch"] == (1 if one_a_call else 32), notes
    assert notes["all_int8_agreement"] < 0.97, notes  # the trap is real ...
    assert notes["kept_float"] == ["head"], notes       # ... and only its cause stays float
    assert notes["final_agreement"] >= 0.97
    assert notes["quantized_layers"] == notes["layers"] - 1
    assert _agreement(dest, exporter.runtime, model, split) >= 0.95
    assert not list(tmp_path.glob(".*"))  # candidates and references staged, then cleaned up


@pytest.mark.parametrize("fmt,precision", [("onnx", "dynamic"), ("tflite", "int8")])
def test_without_fallback_everything_is_quantized(fragile_mlp: tuple[object, Split],
                                                  tmp_path: Path, fmt: str,
                                                  precision: str) -> None:
    model, split = fragile_mlp
    exporter = EXPORTERS.get(fmt)
    dest = tmp_path / f"m{exporter.suffix}"
    art = exporter.export(model, precision, dest, split)
    assert "fallback" not in art.notes
    assert _agreement(dest, exporter.runtime, model, split) < 0.97


def test_static_op_types_limit_what_is_quantized(fragile_mlp: tuple[object, Split],
                                                 tmp_path: Path) -> None:
    import onnx

    model, split = fragile_mlp
    exporter = EXPORTERS.get("onnx")
    counts = {}
    for ops in (None, ["MatMul"]):
        dest = tmp_path / f"m-{ops}.onnx"
        exporter.export(model, "int8", dest, split, exporter.Options(static_op_types=ops))
        graph = onnx.load(str(dest)).graph
        quantized_inputs = {i for n in graph.node if n.op_type == "DequantizeLinear" for i in n.output}
        counts[str(ops)] = {n.op_type for n in graph.node
                            if any(i in quantized_inputs for i in n.input)}
    assert counts["['MatMul']"] == {"MatMul"}, counts
    assert counts["None"] > {"MatMul"}, counts  # by default more op types take int8 inputs


@pytest.mark.parametrize("fmt,precision", [("onnx", "dynamic"), ("tflite", "int8")])
def test_without_a_validation_split_the_fallback_says_it_judged_calibration(
        fragile_mlp: tuple[object, Split], tmp_path: Path, fmt: str, precision: str) -> None:
    model, split = fragile_mlp
    exporter = EXPORTERS.get(fmt)
    art = exporter.export(model, precision, tmp_path / f"m{exporter.suffix}", split,
                          exporter.Options(fallback_min_agreement=0.97),
                          tuning=Split({"features": np.zeros((0, 16), np.float32)},
                                       np.zeros(0, np.int64)))
    assert art.notes["fallback"]["fallback_split"].startswith("calibration"), art.notes
    assert art.notes["fallback"]["kept_float"] == ["head"], art.notes


def test_quantizing_leaves_the_working_directory_alone(fragile_mlp: tuple[object, Split],
                                                       tmp_path: Path, monkeypatch) -> None:
    """ONNX Runtime's tools drop debug files into the current directory; exports run them in
    a temporary one, so a user's project folder stays clean."""
    model, split = fragile_mlp
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    exporter = EXPORTERS.get("onnx")
    art = exporter.export(model, "int8", Path("m.onnx"), split,
                          exporter.Options(fallback_min_agreement=0.97), tuning=_unseen(64))
    assert art.path == Path("m.onnx") and sorted(p.name for p in cwd.iterdir()) == ["m.onnx"]
