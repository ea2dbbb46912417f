"""The device package runs alone: what a target ships (edgekit/__init__.py and edgekit/device/,
whole) runs the runner and the text runner with TensorFlow, pydantic, yaml, typer and the rest
of edgekit made unimportable, on real small artifacts and real runtimes.

Statically, no module under edgekit/device/ imports edgekit outside edgekit.device (nor any of
the host's heavy libraries), and edgekit/__init__.py, which travels with it, imports nothing.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.device.runtimes import RUNTIMES
from edgekit.targets import RunRequest, TextRequest, payload_files, stage, stage_text

REPO = Path(__file__).resolve().parents[1]
DEVICE = REPO / "edgekit" / "device"
# What a device does not have (or the device side must not need).
HOST_ONLY = ("tensorflow", "tf_keras", "keras", "pydantic", "typer", "yaml", "transformers",
             "torch")

# Installed first thing in the runner's interpreter (a sitecustomize on PYTHONPATH): a finder
# that refuses the host-only libraries and every edgekit module outside edgekit.device, and an
# exit hook that writes where each edgekit module was loaded from and what was refused.
BLOCKER = '''
import atexit, json, os, sys
from importlib.abc import MetaPathFinder

HOST_ONLY = {host_only!r}
refused = []

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        host_edgekit = name.startswith("edgekit.") and not (
            name == "edgekit.device" or name.startswith("edgekit.device."))
        if name.split(".")[0] in HOST_ONLY or host_edgekit:
            refused.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Refuse())

@atexit.register
def _record():
    loaded = {{n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())
              if n == "edgekit" or n.startswith("edgekit.")}}
    with open(os.environ["DEVICE_IMPORTS"], "w") as fh:
        json.dump({{"edgekit": loaded, "refused": refused,
                   "host_only_loaded": sorted(n for n in sys.modules
                                              if n.split(".")[0] in HOST_ONLY)}}, fh)
'''


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth in the file (relative ones resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if a.name != "*"}
    return found


def test_the_device_package_imports_nothing_else_of_edgekit() -> None:
    """``from edgekit.device import x`` records ``edgekit.device`` and ``edgekit.device.x``;
    any ``edgekit`` name outside ``edgekit.device`` is a defect, as is a host-only library."""
    modules = sorted(DEVICE.rglob("*.py"))
    assert len(modules) > 10  # the runner, the runtimes, the tokenizer ... are really here
    wrong = {}
    for path in modules:
        bad = sorted(m for m in _imports(path)
                     if (m.split(".")[0] == "edgekit" and m != "edgekit"
                         and m != "edgekit.device" and not m.startswith("edgekit.device."))
                     or m.split(".")[0] in HOST_ONLY)
        if bad:
            wrong[str(path.relative_to(REPO))] = bad
    assert not wrong, f"the device package must import only itself: {wrong}"


def test_the_package_stub_that_travels_with_it_imports_nothing() -> None:
    """edgekit/__init__.py is shipped so that ``edgekit.device`` is importable; an import
    added there would follow the device package to every device (or fail there)."""
    assert _imports(REPO / "edgekit" / "__init__.py") <= {"__future__"}


def test_what_ships_is_the_device_package_whole() -> None:
    shipped = {p.relative_to(REPO).as_posix() for p in payload_files()}
    on_disk = {p.relative_to(REPO).as_posix() for p in DEVICE.rglob("*.py")}
    assert shipped == on_disk | {"edgekit/__init__.py"}


def _onnx(path: Path, nodes: list, inputs: list, outputs: list, initializers: list) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _dense_onnx(path: Path, weights: np.ndarray) -> Path:
    """x (float32 [N, in]) -> x @ W, a one-layer classifier."""
    from onnx import TensorProto, helper, numpy_helper

    return _onnx(path, [helper.make_node("MatMul", ["x", "w"], ["logits"])],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", weights.shape[0]])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                ["n", weights.shape[1]])],
                 [numpy_helper.from_array(weights, "w")])


def _text_onnx(path: Path, weights: np.ndarray) -> Path:
    """BERT's three int32 inputs [N, seq] -> (ids + mask + type ids as float) @ W: logits that
    depend on every token the device's tokenizer wrote."""
    from onnx import TensorProto, helper, numpy_helper

    names = ("input_ids", "attention_mask", "token_type_ids")
    nodes = [helper.make_node("Cast", [n], [f"{n}_f"], to=TensorProto.FLOAT) for n in names]
    nodes += [helper.make_node("Add", ["input_ids_f", "attention_mask_f"], ["s1"]),
              helper.make_node("Add", ["s1", "token_type_ids_f"], ["s2"]),
              helper.make_node("MatMul", ["s2", "w"], ["logits"])]
    seq = weights.shape[0]
    return _onnx(path, nodes,
                 [helper.make_tensor_value_info(n, TensorProto.INT32, ["n", seq]) for n in names],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])],
                 [numpy_helper.from_array(weights, "w")])


def _tflite(path: Path, weights: np.ndarray) -> Path:
    """The same one-layer classifier as a real TFLite flatbuffer (TensorFlow's converter runs
    here, on the host; the runner then loads it without TensorFlow)."""
    from edgekit import _tf

    keras = _tf.keras()
    inp = keras.Input((weights.shape[0],), name="x")
    dense = keras.layers.Dense(weights.shape[1], use_bias=False)
    model = keras.Model(inp, dense(inp))
    dense.set_weights([weights])
    converter = _tf.tf().lite.TFLiteConverter.from_keras_model(model)
    path.write_bytes(converter.convert())
    return path


def _run_blocked(folder: Path, argv: list[str], tmp_path: Path) -> dict:
    """``python argv`` in ``folder`` (as the local target runs it) with the blocker installed;
    returns what the blocker recorded, after checking the run succeeded."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(host_only=HOST_ONLY))
    record = tmp_path / f"imports-{argv[1].rsplit('.', 1)[-1]}.json"
    env = {**os.environ, "PYTHONPATH": str(site), "DEVICE_IMPORTS": str(record)}
    done = subprocess.run([sys.executable, *argv], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(record.read_text())
    assert "edgekit.device" in seen["edgekit"]
    outside = {n: f for n, f in seen["edgekit"].items()
               if not f or not Path(f).resolve().is_relative_to(folder.resolve())}
    assert not outside, f"edgekit modules loaded from outside the shipped folder: {outside}"
    assert not [n for n in seen["refused"] if n.startswith("edgekit")], seen["refused"]
    assert not seen["host_only_loaded"], seen["host_only_loaded"]
    return seen


@pytest.mark.parametrize("fmt, runtime", [("onnx", "onnxruntime"), ("tflite", "litert")])
def test_the_runner_runs_from_the_device_package_alone(tmp_path: Path, fmt: str,
                                                       runtime: str) -> None:
    if RUNTIMES.get(runtime).missing():
        pytest.skip(f"{runtime} missing: {RUNTIMES.get(runtime).missing()}")
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4, 3)).astype(np.float32)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    build = _dense_onnx if fmt == "onnx" else _tflite
    artifact = build(tmp_path / f"dense.{fmt}", weights)
    np.savez(tmp_path / "inputs.npz", x__x=x)
    folder = tmp_path / "stage"
    folder.mkdir()
    argv = stage(RunRequest(files=(artifact,), runtime=runtime, inputs=tmp_path / "inputs.npz",
                            runs=3, warmup=1), folder)
    _run_blocked(folder, argv, tmp_path)
    result = json.loads((folder / "result.json").read_text())
    assert "error" not in result and result["runtime"] == runtime
    assert result["imported_tensorflow"] is False
    assert result["latency_ms"]["p50"] > 0 and result["hardware"]["cpu"]
    with np.load(folder / "outputs.npz") as npz:
        np.testing.assert_allclose(npz["outputs"], x @ weights, rtol=1e-5, atol=1e-5)


def test_the_text_runner_tokenizes_and_classifies_from_the_device_package_alone(
        tmp_path: Path) -> None:
    if RUNTIMES.get("onnxruntime").missing():
        pytest.skip(f"onnxruntime missing: {RUNTIMES.get('onnxruntime').missing()}")
    from edgekit.device.tokenizer import encode, load_tokenizer

    seq = 8
    bundle = tmp_path / "bundle"
    (bundle / "tokenizer").mkdir(parents=True)
    words = ["a", "gripping", "beautifully", "shot", "film", "dull", "and", "slow"]
    (bundle / "tokenizer" / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    (bundle / "text.json").write_text(json.dumps(
        {"tokenizer_dir": "tokenizer", "seq_len": seq, "labels": ["negative", "positive"]}))
    weights = np.random.default_rng(1).standard_normal((seq, 2)).astype(np.float32)
    artifact = _text_onnx(bundle / "text.onnx", weights)
    texts = ("a gripping, beautifully shot film", "dull and slow", "an unknown word")
    folder = tmp_path / "stage"
    folder.mkdir()
    argv = stage_text(TextRequest(bundle=bundle, files=(artifact,), runtime="onnxruntime",
                                  texts=texts), folder)
    seen = _run_blocked(folder, argv, tmp_path)
    assert "edgekit.device.tokenizer" in seen["edgekit"]
    facts = json.loads((folder / "result.json").read_text())
    assert facts["runtime"] == "onnxruntime" and facts["imported_tensorflow"] is False
    want = encode(load_tokenizer(bundle / "tokenizer"), list(texts), seq)
    with np.load(folder / "text.npz") as npz:
        for name, arr in want.items():
            np.testing.assert_array_equal(npz[f"x__{name}"], arr)
        summed = sum(arr.astype(np.float32) for arr in want.values())
        np.testing.assert_allclose(npz["logits"], summed @ weights, rtol=1e-5, atol=1e-4)
