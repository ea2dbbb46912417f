"""ONNX Runtime's intra-op spinning, off under emulation (issue 22): the device profile's
``thread_spinning: false`` must reach ONNX Runtime on both device-side runners (the array runner
and the text runner) and must not change what the model computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.device.runtimes import RUNTIMES
from edgekit.devices import load_device
from edgekit.targets import RunRequest, TextRequest, stage, stage_text

SPIN_KEY = "session.intra_op.allow_spinning"
SEQ = 8


def _text_bundle(folder: Path) -> Path:
    """A text bundle small enough to build here: a WordPiece vocab, text.json and an ONNX model
    of BERT's three int32 inputs [N, 8] -> logits [N, 2] (a MatMul big enough to be split
    across two threads is not needed: the option is checked on the session itself)."""
    from onnx import TensorProto, helper, numpy_helper, save

    (folder / "tokenizer").mkdir(parents=True)
    words = ["a", "gripping", "film", "dull", "and", "slow"]
    (folder / "tokenizer" / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    (folder / "text.json").write_text(json.dumps(
        {"tokenizer_dir": "tokenizer", "seq_len": SEQ, "labels": ["negative", "positive"]}))
    names = ("input_ids", "attention_mask", "token_type_ids")
    nodes = [helper.make_node("Cast", [n], [f"{n}_f"], to=TensorProto.FLOAT) for n in names]
    nodes += [helper.make_node("Add", ["input_ids_f", "attention_mask_f"], ["s1"]),
              helper.make_node("Add", ["s1", "token_type_ids_f"], ["s2"]),
              helper.make_node("MatMul", ["s2", "w"], ["logits"])]
    weights = np.random.default_rng(0).standard_normal((SEQ, 2)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.INT32, ["n", SEQ]) for n in names],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (folder / "artifacts").mkdir()
    save(model, str(folder / "artifacts" / "text.onnx"))
    return folder / "artifacts" / "text.onnx"


def test_only_the_emulated_profile_turns_spinning_off() -> None:
    ort_options = RUNTIMES.get("onnxruntime").options
    emulated = load_device("arm64-emulated")
    assert emulated.thread_spinning is False
    assert emulated.runtime_options(ort_options) == (("spinning", "0"),)
    assert emulated.runtime_options(RUNTIMES.get("litert").options) == ()  # no such option
    for real in ("cpu", "rpi4", "gpu-nvidia"):  # real devices keep ONNX Runtime's default
        assert load_device(real).runtime_options(ort_options) == ()


def test_spinning_off_reaches_the_session_and_keeps_its_outputs(tmp_path: Path) -> None:
    model = _text_bundle(tmp_path / "bundle")
    ort = RUNTIMES.get("onnxruntime")
    feed = {n: np.random.default_rng(1).integers(0, 5, (3, SEQ)).astype(np.int32)
            for n in ("input_ids", "attention_mask", "token_type_ids")}
    default, blocking = ort.load(model, 2), ort.load(model, 2, spinning="0")
    # ONNX Runtime's own record of the session's options: the entry is set only when asked
    assert blocking._s.get_session_options().get_session_config_entry(SPIN_KEY) == "0"
    with pytest.raises(Exception):
        default._s.get_session_options().get_session_config_entry(SPIN_KEY)
    np.testing.assert_array_equal(blocking.run(feed), default.run(feed))


def test_the_option_reaches_both_runners(tmp_path: Path) -> None:
    """Staged as the emulated target stages them; the text runner is run here end to end with
    the option (its CLI must accept it and hand it to the runtime)."""
    from edgekit.device.runner import parse
    from edgekit.device.text_classify import main as text_main

    model = _text_bundle(tmp_path / "bundle")
    options = load_device("arm64-emulated").runtime_options(RUNTIMES.get("onnxruntime").options)
    np.savez(tmp_path / "in.npz", x__input_ids=np.ones((2, SEQ), np.int32))
    (tmp_path / "run").mkdir()
    argv = stage(RunRequest(files=(model,), runtime="onnxruntime", inputs=tmp_path / "in.npz",
                            options=options), tmp_path / "run")
    assert parse(argv[2:]).option == ["spinning=0"]
    (tmp_path / "text").mkdir()
    argv = stage_text(TextRequest(bundle=tmp_path / "bundle", files=(model,), runtime="onnxruntime",
                                  texts=("a gripping film", "dull and slow"), options=options),
                      tmp_path / "text")
    assert argv[-2:] == ["--option", "spinning=0"]
    out = tmp_path / "text.npz"
    assert text_main([str(tmp_path / "bundle"), "a gripping film", "--artifact", "artifacts/text.onnx",
                      "--runtime", "onnxruntime", "--out", str(out), "--option", "spinning=0"]) == 0
    with np.load(out) as npz:
        assert npz["logits"].shape == (1, 2)
