"""Corrupted artifact bytes: every runtime adapter answers with an EdgekitError, never a crash.

A tiny real tf-keras model is exported once per module to TFLite, ONNX and OpenVINO IR with
edgekit's own exporters; each file is then truncated, bit-flipped, overwritten with garbage or
replaced by a PNG. The corrupted files are loaded (and run on one input) by the real adapter in
a child process via :func:`edgekit.device.runtimes._isolate.probe`, because a native parser may
segfault, which no in-process ``except`` can catch: the probe turns a death by signal into an
EdgekitError, and raises ``RuntimeError`` if an adapter let an engine exception through.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.device.formats import FORMATS, Format
from edgekit.device.runtimes import RUNTIMES
from edgekit.device.runtimes._isolate import probe

SHAPE = (1, 6)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from edgekit import _tf
    from edgekit.data import Split
    from edgekit.exporters import EXPORTERS

    keras = _tf.keras()
    _tf.set_seed(0)
    inp = keras.Input(shape=SHAPE[1:], name="x")
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(
        keras.layers.Dense(8, activation="relu")(inp)))
    calib = Split({"x": np.random.default_rng(0).normal(size=(16, *SHAPE[1:])).astype(np.float32)},
                  np.zeros(16, dtype=np.int64))
    root = tmp_path_factory.mktemp("fuzz")
    out = {}
    for fmt in ("tflite", "onnx", "openvino"):
        exp = EXPORTERS.get(fmt)
        art = exp.export(model, "fp32", root / f"tiny{exp.suffix}", calib, exp.Options())
        out[fmt] = art.path
    np.savez(root / "inputs.npz", x__x=np.ones(SHAPE, dtype=np.float32))
    out["inputs"] = root / "inputs.npz"
    return out


def _variants(src: Path, dest: Path, *, seed: int = 0) -> list[Path]:
    """Damaged copies of ``src``: the ways files really break, plus random bit flips."""
    data = src.read_bytes()
    rng = random.Random(seed)
    cases: dict[str, bytes] = {
        "empty": b"",
        "first16": data[:16],
        "half": data[: len(data) // 2],
        "minus1": data[:-1],
        "png": b"\x89PNG\r\n\x1a\n" + data[8:],
        "garbage": bytes(rng.getrandbits(8) for _ in range(len(data))),
        "zeros": bytes(len(data)),
        "header_flipped": bytes(b ^ 0xFF for b in data[:32]) + data[32:],
    }
    for i in range(6):
        buf = bytearray(data)
        for _ in range(8):
            buf[rng.randrange(len(buf))] = rng.getrandbits(8)
        cases[f"flip{i}"] = bytes(buf)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, blob in cases.items():
        p = dest / f"{name}{src.suffix}"
        p.write_bytes(blob)
        if src.suffix == ".xml":  # an IR is two files: keep the weights with each damaged graph
            p.with_suffix(".bin").write_bytes(src.with_suffix(".bin").read_bytes())
        paths.append(p)
    return paths


MUST_FAIL = ("empty", "first16", "half", "png", "garbage", "zeros", "header_flipped")


@pytest.mark.parametrize("fmt, runtime", [("tflite", "litert"), ("onnx", "onnxruntime"),
                                          ("openvino", "openvino")])
def test_corrupted_artifacts_give_edgekit_errors(artifacts: dict[str, Path], tmp_path: Path,
                                                 fmt: str, runtime: str) -> None:
    if RUNTIMES.get(runtime).missing():
        pytest.skip(f"{runtime} missing: {RUNTIMES.get(runtime).missing()}")
    paths = _variants(artifacts[fmt], tmp_path / fmt)
    results = probe(runtime, paths, artifacts["inputs"])  # RuntimeError = adapter leaked
    assert set(results) == set(paths)
    for p, err in results.items():
        assert err is None or isinstance(err, EdgekitError)
        if p.stem in MUST_FAIL:
            assert err is not None, f"{p.name} loaded and ran on {runtime}"
            assert "\n" not in str(err)
    assert probe(runtime, [artifacts[fmt]], artifacts["inputs"]) == {artifacts[fmt]: None}


def test_corrupted_openvino_weights_file(artifacts: dict[str, Path], tmp_path: Path) -> None:
    if RUNTIMES.get("openvino").missing():
        pytest.skip(f"openvino missing: {RUNTIMES.get('openvino').missing()}")
    xml = artifacts["openvino"]
    bins = _variants(xml.with_suffix(".bin"), tmp_path / "bins", seed=1)
    xmls = []
    for b in bins:
        x = b.with_suffix(".xml")
        x.write_bytes(xml.read_bytes())
        xmls.append(x)
    results = probe("openvino", xmls, artifacts["inputs"])
    assert all(e is None or isinstance(e, EdgekitError) for e in results.values())
    for name in ("empty", "half", "first16"):
        assert results[tmp_path / "bins" / f"{name}.xml"] is not None, name


def test_engine_crash_is_reported_as_our_error(artifacts: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGSEGV in the child, on one file of three: that file gets an EdgekitError
    naming the signal, and the probe restarts the child for the files after it."""
    import sys

    import edgekit.device.runtimes._isolate as iso

    crash = tmp_path / "crash.tflite"
    crash.write_bytes(artifacts["tflite"].read_bytes())
    segfault_on_crash = (
        "import ctypes, sys; from edgekit.device.runtimes import _isolate as i; real = i._probe_one; "
        "i._probe_one = lambda rt, p, f: ctypes.string_at(0) if 'crash' in p else real(rt, p, f); "
        "i._child(sys.argv[1], sys.argv[2], sys.argv[3:])")
    monkeypatch.setattr(iso, "CHILD", [sys.executable, "-c", segfault_on_crash])
    good = artifacts["tflite"]
    results = probe("litert", [good, crash, good.with_name("missing.tflite")], artifacts["inputs"])
    assert results[good] is None
    assert isinstance(results[crash], EdgekitError) and "crashed (SIGSEGV)" in str(results[crash])
    assert "model file not found" in str(results[good.with_name("missing.tflite")])


@pytest.mark.parametrize("fmt, runtime", [("tflite", "litert"), ("onnx", "onnxruntime"),
                                          ("openvino", "openvino"), ("onnx", "openvino")])
def test_png_renamed_as_model_in_process(tmp_path: Path, fmt: str, runtime: str) -> None:
    suffix = FORMATS[Format(fmt)].suffix
    fake = tmp_path / f"photo{suffix}"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(EdgekitError, match="PNG image"):
        RUNTIMES.get(runtime).load(fake, 1)


def test_onnx_with_missing_initializer(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("MatMul", ["x", "W"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "missing_init.onnx"
    path.write_bytes(model.SerializeToString())  # 'W' is neither an input nor an initializer
    for runtime in ("onnxruntime", "openvino"):
        with pytest.raises(EdgekitError) as info:
            RUNTIMES.get(runtime).load(path, 1)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    del onnx


def test_run_with_wrong_input_is_our_error(artifacts: dict[str, Path]) -> None:
    for fmt, runtime in (("tflite", "litert"), ("onnx", "onnxruntime"), ("openvino", "openvino")):
        session = RUNTIMES.get(runtime).load(artifacts[fmt], 1)
        with pytest.raises(EdgekitError, match="could not run"):
            session.run({"nope": np.ones(SHAPE, dtype=np.float32)})
