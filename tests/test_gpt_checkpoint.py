"""Loading a Hugging Face GPT-2-format checkpoint into edgekit's GPT (models._gpt_checkpoint).

In the default suite, seconds: the test writes a tiny random ``GPT2LMHeadModel`` (2 layers,
4 heads, width 32, vocabulary 100) with ``save_pretrained`` (safetensors), loads it through
the recipe path (``model.params.checkpoint``) and compares the logits with transformers' on
random token ids, relative ``max|a-b| / max|b|`` as in the BERT parity test. Skips, naming
what is missing, without torch / transformers. Broken checkpoints (a tensor missing, a wrong
shape) fail as one line naming the weights file and the tensor.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.data import Dataset, Split
from edgekit.errors import EdgekitError
from edgekit.models.gpt import GPT, GPTConfig

REL_TOL = 1e-4
VOCAB, STEPS = 100, 16


def _require(module: str):
    return pytest.importorskip(module, reason=f"the GPT-2 reference needs `{module}` "
                               "(pip install torch transformers)")


def _data(vocab: int = VOCAB, steps: int = STEPS) -> Dataset:
    split = Split({"input_ids": np.zeros((2, steps), np.int32)}, np.zeros((2, steps), np.int32))
    return Dataset(name="toy_lm", task="language_model", train=split, val=split, test=split,
                   num_classes=None, source="test", extra={"vocab_size": vocab, "seq_len": steps})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch = _require("torch")
    transformers = _require("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64,
                                     vocab_size=VOCAB, activation_function="gelu_new")
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms and biases, so a swapped tensor shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder, model


def test_logits_match_transformers(checkpoint):
    import torch

    folder, reference = checkpoint
    model = GPT().build(GPTConfig(checkpoint=str(folder)), _data())
    ids = np.random.default_rng(0).integers(0, VOCAB, size=(3, STEPS)).astype(np.int32)
    ours = model(ids, training=False).numpy()
    with torch.no_grad():
        ref = reference(torch.from_numpy(ids.astype(np.int64))).logits.numpy()
    assert ours.shape == ref.shape == (3, STEPS, VOCAB)
    rel = float(np.abs(ours - ref).max() / np.abs(ref).max())
    assert rel < REL_TOL, f"logits differ from transformers': max|a-b|/max|b| = {rel:.2e}"
    assert model.get_layer("block1_mlp1").activation.__name__ == "gelu_new"
    assert model.get_layer("positions").max_len == STEPS  # wpe cut to the data's length


def test_kv_cache_graphs_match_full_forward(checkpoint):
    """The prefill graph, built from the loaded layers, gives the full forward's logits."""
    from edgekit.models._gpt_cache import cached_functions

    folder, _ = checkpoint
    model = GPT().build(GPTConfig(checkpoint=str(folder)), _data())
    prefill, _, shape = cached_functions(model)
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(1, STEPS)).astype(np.int32)
    full = model(ids, training=False).numpy()
    cached = prefill(ids)["logits"].numpy()
    assert shape.heads == 4 and shape.layers == 2
    np.testing.assert_allclose(cached, full, rtol=0, atol=1e-5 * np.abs(full).max())


def _broken(folder, tmp_path, edit) -> str:
    import shutil

    from safetensors.numpy import load_file, save_file

    out = tmp_path / "broken"
    shutil.copytree(folder, out)
    tensors = load_file(str(out / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return str(out)


def test_missing_tensor_names_file_and_tensor(checkpoint, tmp_path):
    folder, _ = checkpoint
    spec = _broken(folder, tmp_path, lambda t: t.pop("transformer.h.1.mlp.c_fc.weight"))
    with pytest.raises(EdgekitError) as err:
        GPT().build(GPTConfig(checkpoint=spec), _data())
    msg = str(err.value)
    assert "\n" not in msg and "model.safetensors" in msg and "h.1.mlp.c_fc.weight" in msg


def test_wrong_shape_names_file_and_tensor(checkpoint, tmp_path):
    folder, _ = checkpoint

    def widen(t):
        t["transformer.h.0.attn.c_attn.weight"] = np.zeros((32, 64), np.float32)

    spec = _broken(folder, tmp_path, widen)
    with pytest.raises(EdgekitError) as err:
        GPT().build(GPTConfig(checkpoint=spec), _data())
    msg = str(err.value)
    assert "\n" not in msg and "model.safetensors" in msg and "h.0.attn.c_attn.weight" in msg
    assert "(32, 64)" in msg and "(32, 96)" in msg


def test_vocabulary_mismatch_says_what_to_do(checkpoint):
    folder, _ = checkpoint
    with pytest.raises(EdgekitError, match="100-token vocabulary.*tokenizer"):
        GPT().build(GPTConfig(checkpoint=str(folder)), _data(vocab=4096))


def test_default_config_keeps_the_recipe_model():
    """No checkpoint: the from-scratch GPT is unchanged (erf GELU, epsilon 1e-5)."""
    config = GPTConfig(dim=16, depth=1, heads=2, mlp_dim=32)
    assert config.activation == "gelu" and config.layer_norm_epsilon == 1e-5
    model = GPT().build(config, _data())
    assert model.get_layer("block1_mlp1").activation.__name__ == "gelu"
    assert model.get_layer("final_ln").epsilon == 1e-5
