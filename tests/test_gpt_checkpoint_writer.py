"""Writing edgekit's GPT as a Hugging Face GPT-2 checkpoint (models._gpt_checkpoint's
``write_gpt2_checkpoint``, the inverse of the loader): a small random GPT with a non-zero
output bias, written, then read back by edgekit's loader and by transformers'
``GPT2LMHeadModel``; both give the Keras logits less the output bias, which the GPT-2
format cannot hold and the writer returns. Seconds; skips without torch / transformers."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.data import Dataset, Split
from edgekit.models.gpt import GPT, GPTConfig, block_names

VOCAB, STEPS = 90, 12
REL_TOL = 1e-4


def _data() -> Dataset:
    split = Split({"input_ids": np.zeros((2, STEPS), np.int32)}, np.zeros((2, STEPS), np.int32))
    return Dataset(name="toy_lm", task="language_model", train=split, val=split, test=split,
                   num_classes=None, source="test", extra={"vocab_size": VOCAB, "seq_len": STEPS})


@pytest.fixture(scope="module", params=["gelu", "gelu_new"])
def written(request, tmp_path_factory):
    """A random GPT (3 blocks, 2 heads, width 16) with LayerNorms, biases and an output bias
    moved off their initial values, written as a GPT-2 checkpoint."""
    from edgekit import _tf
    from edgekit.models._gpt_checkpoint import write_gpt2_checkpoint

    _tf.set_seed(0)
    model = GPT().build(GPTConfig(dim=16, depth=3, heads=2, mlp_dim=24, dropout=0.0,
                                  activation=request.param, layer_norm_epsilon=1e-6), _data())
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.get_weights() and layer.name != "token_embed":
            layer.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    folder = tmp_path_factory.mktemp(f"gpt2-{request.param}")
    bias = write_gpt2_checkpoint(model, folder, block_names)
    return model, folder, bias


def _ids() -> np.ndarray:
    return np.random.default_rng(1).integers(0, VOCAB, size=(3, STEPS)).astype(np.int32)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_config_describes_the_model(written) -> None:
    model, folder, bias = written
    config = json.loads((folder / "config.json").read_text())
    assert (config["n_layer"], config["n_head"], config["n_embd"], config["n_inner"]) == (3, 2, 16, 24)
    assert config["vocab_size"] == VOCAB and config["n_positions"] == STEPS
    assert config["layer_norm_epsilon"] == 1e-6 and config["tie_word_embeddings"] is False
    assert config["activation_function"] == ("gelu_new" if model.get_layer(
        "block1_mlp1").activation.__name__ == "gelu_new" else "gelu")
    np.testing.assert_array_equal(bias, model.get_layer("lm_head").get_weights()[1])
    assert np.abs(bias).max() > 0.01


def test_edgekit_reads_it_back(written) -> None:
    model, folder, bias = written
    again = GPT().build(GPTConfig(checkpoint=str(folder)), _data())
    assert _rel(again(_ids(), training=False).numpy() + bias,
                model(_ids(), training=False).numpy()) < REL_TOL


def test_transformers_computes_the_same_logits(written) -> None:
    torch = pytest.importorskip("torch", reason="the GPT-2 reference needs torch")
    transformers = pytest.importorskip("transformers", reason="the GPT-2 reference needs "
                                       "transformers")
    model, folder, bias = written
    hf = transformers.GPT2LMHeadModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        ref = hf(torch.from_numpy(_ids().astype(np.int64))).logits.numpy()
    rel = _rel(ref + bias, model(_ids(), training=False).numpy())
    assert rel < REL_TOL, f"transformers' logits differ: max|a-b|/max|b| = {rel:.2e}"
