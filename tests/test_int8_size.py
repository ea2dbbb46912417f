"""int8 artifacts are really small: OpenVINO's int8 IR stores int8 weights, lookup tables
included (edgekit/exporters/_onnx_weights.py), at most 35% of its fp32 sibling on a CNN (the
LeNet-5 of the lenet5 recipe) and a small BERT; and the proof flags an int8 file that is not
(edgekit/validation/size_check.py)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.data import Split
from edgekit.exporters.openvino import OpenVINOExporter, OpenVINOOptions
from edgekit.families import FAMILIES
from edgekit.device.runtimes import RUNTIMES
from edgekit.validation.size_check import MAX_INT8_RATIO, flag_int8_sizes

pytest.importorskip("openvino")


def _size(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def _export_pair(model, split: Split, folder: Path, family: str, options: OpenVINOOptions):
    """Both IRs, and the int8/fp32 ratios of their weights (.bin) and of all their files."""
    arts = {p: OpenVINOExporter().export(model, p, folder / f"m-{p}.xml", split, options,
                                         family=FAMILIES.get(family))
            for p in ("fp32", "int8")}
    bins = {p: a.files[1].stat().st_size for p, a in arts.items()}
    return arts, bins["int8"] / bins["fp32"], _size(arts["int8"].files) / _size(arts["fp32"].files)


def test_openvino_int8_lenet5_is_at_most_35_percent(tmp_path: Path) -> None:
    from conftest import randomize_weights
    from edgekit.models import MODELS

    builder = MODELS.get("lenet5")
    data = SimpleNamespace(input_shapes=lambda: {"image": (32, 32, 1)}, num_classes=10)
    model = randomize_weights(builder.build(builder.Config(), data), seed=0, std=0.1)
    x = np.random.default_rng(0).random((32, 32, 32, 1), dtype=np.float32)
    split = Split({"image": x}, np.zeros(32, np.int64))
    arts, ratio, _ = _export_pair(model, split, tmp_path, "cnn", OpenVINOOptions())
    # The weights; the .xml (topology) is as large as a 62k-parameter model's int8 weights.
    assert ratio <= MAX_INT8_RATIO, f"int8 weights are {ratio:.1%} of fp32's"
    got = RUNTIMES.get("openvino").load(arts["int8"].path, 1, precision_hint="f32").run(
        {"image": x[:4]})
    assert np.argmax(got, 1).shape == (4,)


def test_openvino_int8_bert_stores_its_embedding_tables_as_int8(tmp_path: Path) -> None:
    from edgekit.models.bert.config import BertConfig
    from test_bert_onnx import _feed, _model

    config = BertConfig(vocab_size=1000, hidden_size=128, num_layers=2, num_heads=4,
                        intermediate_size=512, max_position_embeddings=32, num_labels=3)
    model = _model(config)
    feed = _feed(config, 8, seed=7)
    split = Split(feed, np.zeros(8, np.int64))
    arts, ratio, total = _export_pair(model, split, tmp_path, "bert",
                                      OpenVINOOptions(static_op_types=["MatMul", "Gemm"]))
    assert ratio <= MAX_INT8_RATIO, f"int8 weights are {ratio:.1%} of fp32's"
    assert total <= MAX_INT8_RATIO, f"int8 IR is {total:.1%} of fp32 (.xml included)"
    assert "embeddings.word_embeddings.weight" in arts["int8"].notes["int8_lookup_tables"]
    ov = RUNTIMES.get("openvino")
    want = ov.load(arts["fp32"].path, 1, precision_hint="f32").run(feed)
    got = ov.load(arts["int8"].path, 1, precision_hint="f32").run(feed)
    assert (np.argmax(got, 1) == np.argmax(want, 1)).mean() >= 0.75
    assert np.max(np.abs(got - want)) < 0.2 * np.max(np.abs(want))


def test_lookup_tables_round_trip_within_half_a_step(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.exporters._onnx_weights import quantize_lookup_tables

    table = np.random.default_rng(0).standard_normal((500, 64)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])],
        [numpy_helper.from_array(table, "table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "g.onnx"))
    assert quantize_lookup_tables(tmp_path / "g.onnx", tmp_path / "q.onnx") == ["table"]
    assert (tmp_path / "q.onnx").stat().st_size < 0.3 * (tmp_path / "g.onnx").stat().st_size
    ids = np.arange(500, dtype=np.int64)
    got = ort.InferenceSession(str(tmp_path / "q.onnx"),
                               providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    step = np.abs(table).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(got - table) <= step / 2 + 1e-7)


def _artifact(file: str, fmt: str, precision: str, extra: list[str] | None = None) -> dict:
    return {"file": file, "files": [file, *(extra or [])], "format": fmt, "precision": precision,
            "stored_precision": precision, "model": "m"}


def test_size_check_flags_an_int8_file_close_to_its_fp32_sibling(tmp_path: Path) -> None:
    """Sizes of the SST-2 TinyBERT student's files before this fix (scaled down 1000x)."""
    sizes = {"m-fp32.xml": 80, "m-fp32.bin": 29_430, "m-int8.xml": 190, "m-int8.bin": 25_960,
             "m-fp32.onnx": 29_000, "m-dyn.onnx": 7_400, "t-int8.tflite": 5_000}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"\0" * size)
    artifacts = [_artifact("m-fp32.xml", "openvino", "fp32", ["m-fp32.bin"]),
                 _artifact("m-int8.xml", "openvino", "int8", ["m-int8.bin"]),
                 _artifact("m-fp32.onnx", "onnx", "fp32"),
                 _artifact("m-dyn.onnx", "onnx", "dynamic"),
                 _artifact("t-int8.tflite", "tflite", "int8")]  # no fp32 sibling
    said = flag_int8_sizes(artifacts, tmp_path)
    assert len(said) == 1 and said[0].startswith("m-int8.xml: int8 weights are 88%")
    assert artifacts[1]["weights_vs_fp32"] == pytest.approx(25_960 / 29_430, abs=1e-4)
    assert artifacts[1]["warnings"] == [said[0].split(": ", 1)[1]]
    assert "warnings" not in artifacts[3] and artifacts[3]["weights_vs_fp32"] < MAX_INT8_RATIO
    assert "weights_vs_fp32" not in artifacts[4] and "weights_vs_fp32" not in artifacts[0]
