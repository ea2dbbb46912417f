"""GPT: the KV-cache prefill/decode graphs on each runtime against the full-sequence Keras
forward, the device generation loop against Keras greedy decoding, and (slow) the quick
recipe end to end with its generation proof."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.data import Dataset, Split

STEPS, VOCAB = 12, 40
PROMPT = [3, 7, 11, 5]
# (pair format, runtime): OpenVINO runs its own IR of the pair, and reads the ONNX pair too
PAIRS = [("onnx", "onnxruntime"), ("onnx", "openvino"), ("tflite", "litert"),
         ("openvino", "openvino")]


@pytest.fixture(scope="module")
def random_gpt() -> object:
    """A tiny random GPT whose output layer is scaled up, so greedy picks are not near-ties."""
    from edgekit import _tf
    from edgekit.models.gpt import GPT, GPTConfig

    _tf.set_seed(0)
    ids = np.random.default_rng(0).integers(0, VOCAB, (4, STEPS)).astype(np.int32)
    split = Split({"input_ids": ids}, ids)
    data = Dataset("tiny", "language_model", split, split, split, None, "test",
                   extra={"vocab_size": VOCAB})
    model = GPT().build(GPTConfig(dim=16, depth=2, heads=2, mlp_dim=32, dropout=0.0), data)
    head = model.get_layer("lm_head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 50.0, bias])
    return model


@pytest.fixture(scope="module")
def pair_folders(random_gpt: object, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from edgekit.exporters._kv_cache import write_cached_graphs

    root = tmp_path_factory.mktemp("kv")
    return {fmt: (write_cached_graphs(random_gpt, root / fmt, fmt, "fp32"), root / fmt)[1]
            for fmt in ("onnx", "tflite", "openvino")}


def _runtime_or_skip(name: str) -> None:
    from edgekit.device.runtimes import RUNTIMES

    missing = RUNTIMES.get(name).missing()
    if missing:
        pytest.skip(f"{name}: {missing}")


@pytest.mark.parametrize("fmt,runtime", PAIRS, ids=[f"{f}-{r}" for f, r in PAIRS])
def test_cached_decode_equals_full_forward(random_gpt: object, pair_folders: dict[str, Path],
                                           fmt: str, runtime: str) -> None:
    """Prefill on the prompt, then decode the rest of a fixed sequence one token at a time:
    every position's logits equal the full-sequence Keras model's there."""
    from edgekit.device.generate import CachedLM

    _runtime_or_skip(runtime)
    lm = CachedLM(pair_folders[fmt], runtime)
    seq = np.array([[*PROMPT, *range(20, 20 + STEPS - len(PROMPT))]], dtype=np.int32)
    full = random_gpt(seq, training=False).numpy()[0]
    atol = 1e-3 * np.abs(full).max() if lm.executed_precision == "fp32" else 0.05 * np.abs(full).max()
    logits, k, v = lm.prefill(PROMPT)
    np.testing.assert_allclose(logits, full[len(PROMPT) - 1], atol=atol)
    for position in range(len(PROMPT), STEPS):
        logits, k, v = lm.decode(int(seq[0, position]), position, k, v)
        np.testing.assert_allclose(logits, full[position], atol=atol,
                                   err_msg=f"{runtime}: decode step at position {position}")


@pytest.mark.parametrize("fmt,runtime", PAIRS, ids=[f"{f}-{r}" for f, r in PAIRS])
def test_device_greedy_matches_keras(random_gpt: object, pair_folders: dict[str, Path],
                                     fmt: str, runtime: str) -> None:
    from edgekit.device.generate import CachedLM
    from edgekit.validation.generation import keras_greedy

    _runtime_or_skip(runtime)
    lm = CachedLM(pair_folders[fmt], runtime)
    if lm.executed_precision != "fp32":
        pytest.skip(f"{runtime} computes this pair in {lm.executed_precision}: greedy tokens "
                    "may differ after a near-tie")
    want = keras_greedy(random_gpt, np.array([PROMPT], dtype=np.int32), STEPS - len(PROMPT))[0]
    got = lm.generate(PROMPT, STEPS - len(PROMPT))
    assert got.tokens == [int(t) for t in want]
    assert got.first_token_s > 0 and got.tokens_per_s > 0
    # top-k sampling: seeded, so reproducible; every token a valid id
    a, b = (lm.generate(PROMPT, 6, top_k=5, seed=1).tokens for _ in range(2))
    assert a == b and all(0 <= t < VOCAB for t in a)


def test_generation_stops_at_the_fixed_length(pair_folders: dict[str, Path]) -> None:
    from edgekit.device.generate import CachedLM

    _runtime_or_skip("onnxruntime")
    lm = CachedLM(pair_folders["onnx"], "onnxruntime")
    assert len(lm.generate(PROMPT, 100).tokens) == STEPS - len(PROMPT) + 1
    with pytest.raises(ValueError, match="prompt of 13 tokens"):
        lm.prefill([1] * (STEPS + 1))


@pytest.mark.slow
def test_quick_recipe_generates_on_the_device(tmp_path: Path) -> None:
    """The --quick recipe: trained, distilled to half the blocks (the student ships, judged
    against the teacher), exported whole and as KV-cache pairs; every pair's generation check
    ran on its runtime, and greedy tokens from the device loop on ONNX Runtime and LiteRT equal
    the float student's on every held-out prompt; the bundle holds what a device needs to
    generate from text."""
    import json

    from edgekit.device.generate import CachedLM, detokenize
    from edgekit.device.tokenizer import load_tokenizer
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    bundle = tmp_path / "gpt"
    recipe = load_recipe("gpt", quick=True)
    report = compress(recipe, bundle)
    assert report["passed"]
    (stage,) = report["stages"]
    assert stage["name"] == "distilgpt2"
    assert stage["facts"]["student_blocks"] * 2 == stage["facts"]["teacher_blocks"]
    generation = report["extras"]["generation"]
    assert generation["passed"]
    assert len(generation["pairs"]) == len(recipe.export)
    for pair in generation["pairs"]:  # every pair written and judged on its runtime
        assert pair["tokens_per_s"] > 0 and pair["gated"] == (
            pair["precision"] == "fp32" and pair["executed_precision"] == "fp32"), pair
        assert pair["passed"] is (True if pair["gated"] else None)
    by_runtime = {(p["format"], p["precision"]): p for p in generation["pairs"]
                  if p["model"] == "final"}
    for key in (("onnx", "fp32"), ("tflite", "fp32")):
        assert by_runtime[key]["greedy_match"] == 1.0, by_runtime[key]
        assert by_runtime[key]["tokens_per_s"] > 0
    vocab = json.loads((bundle / "generation" / "vocab.json").read_text())
    tokenizer = load_tokenizer(bundle / "generation")
    prompt = tokenizer.encode("the film is", add_special_tokens=False).ids
    outputs = [CachedLM(bundle / by_runtime[key]["folder"]).generate(prompt, 8).tokens
               for key in (("onnx", "fp32"), ("tflite", "fp32"))]
    assert outputs[0] == outputs[1]
    assert detokenize(prompt, vocab) == "the film is"
    from edgekit.device.generate import main

    assert main([str(bundle / by_runtime[("tflite", "fp32")]["folder"]), "the film is",
                 "--tokens", "4", "--top-k", "3"]) == 0


def test_generate_cli_names_a_wrong_folder(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from edgekit.device.generate import main

    assert main([str(tmp_path), "the film is"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "generation.json: not found" in err and "fix:" in err


def test_fp16_tflite_pair_stays_close_and_unknown_pairs_are_named(
        random_gpt: object, tmp_path: Path) -> None:
    """fp16 weights: each decode step within 2% of the logits' range of the Keras forward;
    a pair no writer has is refused with one line naming what exists."""
    from edgekit.device.generate import CachedLM
    from edgekit.errors import EdgekitError
    from edgekit.exporters._kv_cache import write_cached_graphs

    _runtime_or_skip("litert")
    write_cached_graphs(random_gpt, tmp_path / "fp16", "tflite", "fp16")
    lm = CachedLM(tmp_path / "fp16")
    seq = np.array([[*PROMPT, *range(20, 20 + STEPS - len(PROMPT))]], dtype=np.int32)
    full = random_gpt(seq, training=False).numpy()[0]
    logits, k, v = lm.prefill(PROMPT)
    for position in range(len(PROMPT), STEPS):
        logits, k, v = lm.decode(int(seq[0, position]), position, k, v)
        np.testing.assert_allclose(logits, full[position], atol=0.02 * np.ptp(full))
    with pytest.raises(EdgekitError, match="no KV-cache export for tflite int8.*tflite at fp32"):
        write_cached_graphs(random_gpt, tmp_path / "x", "tflite", "int8")
    assert not (tmp_path / "x").exists()
    with pytest.raises(EdgekitError, match="int8 KV-cache pair needs calibration"):
        write_cached_graphs(random_gpt, tmp_path / "x", "onnx", "int8")


# (format, precision, max |Δ logits| / range of the logits at any decode step): float16
# weights (and compute, for ONNX) stay within 2%; full int8 (static: softmax, LayerNorms and
# the cache rows quantized too) within 10%
QUANTIZED = [("onnx", "fp16", 0.02), ("onnx", "int8", 0.10), ("openvino", "int8", 0.10)]


@pytest.mark.parametrize("fmt,precision,tolerance", QUANTIZED,
                         ids=[f"{f}-{p}" for f, p, _ in QUANTIZED])
def test_quantized_pairs_stay_close_and_the_generation_check_runs(
        random_gpt: object, tmp_path: Path, fmt: str, precision: str, tolerance: float) -> None:
    """The ONNX fp16 and full-int8 pairs and OpenVINO's own int8 IR of the pair (int8
    calibrated on token windows): every decode step's logits near the Keras forward's, and
    the generation check runs on the pair's runtime, reporting what it computed in and not
    gating it (not fp32)."""
    from edgekit.device.generate import CachedLM
    from edgekit.exporters._kv_cache import write_cached_graphs
    from edgekit.validation.generation import keras_greedy, prove_pair
    from edgekit.validation.pairs import GATED, RUNTIME

    _runtime_or_skip(RUNTIME[fmt])
    windows = np.random.default_rng(1).integers(0, VOCAB, (16, STEPS)).astype(np.int32)
    manifest = write_cached_graphs(random_gpt, tmp_path / "pair", fmt, precision,
                                   calibration=windows)
    assert manifest["precision"] == precision and manifest["format"] == fmt
    lm = CachedLM(tmp_path / "pair")  # the format's own runtime by default
    assert lm.runtime == RUNTIME[fmt]
    seq = np.array([[*PROMPT, *range(20, 20 + STEPS - len(PROMPT))]], dtype=np.int32)
    full = random_gpt(seq, training=False).numpy()[0]
    logits, k, v = lm.prefill(PROMPT)
    for position in range(len(PROMPT), STEPS):
        logits, k, v = lm.decode(int(seq[0, position]), position, k, v)
        np.testing.assert_allclose(logits, full[position], atol=tolerance * np.ptp(full),
                                   err_msg=f"{fmt} {precision}: decode at {position}")
    prompts = np.array([PROMPT, PROMPT[::-1]], dtype=np.int32)
    reference = keras_greedy(random_gpt, prompts, 6)
    facts = prove_pair(tmp_path / "pair", RUNTIME[fmt], prompts, reference, 1,
                       [f"t{i}" for i in range(VOCAB)])
    assert facts["executed_precision"] not in GATED
    assert 0.0 <= facts["greedy_match"] <= 1.0 and facts["tokens_per_s"] > 0


def test_perplexity_and_next_token_agreement() -> None:
    """Uniform logits score the vocabulary size; a sure right guess scores 1; agreement
    counts positions whose arg-max tokens are the same."""
    from edgekit.tasks import TASKS

    task = TASKS.get("language_model")
    labels = np.array([[1, 2, 3], [0, 1, 2]])
    assert task.evaluate(np.zeros((2, 3, 7), np.float32), Split({}, labels)) == pytest.approx(7)
    sure = np.full((2, 3, 7), -50.0, np.float32)
    np.put_along_axis(sure, labels[..., None], 50.0, axis=-1)
    assert task.evaluate(sure, Split({}, labels)) == pytest.approx(1.0)
    other = sure.copy()
    other[0, 0] = sure[0, 1]  # one of six positions now picks another token
    assert task.agreement(other, sure) == pytest.approx(5 / 6)


def test_windows_shift_by_one_and_vocab_keeps_every_character() -> None:
    from edgekit.data.rotten_tomatoes_lm import SEP, trimmed_vocab, windows

    split = windows([[5, 6, 7], [8, 9]], seq_len=3, input_name="input_ids")
    stream = [5, 6, 7, SEP, 8, 9, SEP]
    assert split.x["input_ids"].tolist() == [stream[0:3], stream[3:6]]
    assert split.y.tolist() == [stream[1:4], stream[4:7]]
    vocab = trimmed_vocab([["the", "film", "##s"], ["the", "fun"]], size=32)
    assert vocab[:2] == ["[UNK]", "[SEP]"] and "the" in vocab
    assert {"t", "h", "e", "f", "##s"} <= set(vocab)  # any word of these characters still splits


def test_a_failed_generation_proof_fails_the_run() -> None:
    from edgekit.report.build import run_passed

    assert run_passed([True, True], {"generation": {"passed": True}})
    assert run_passed([True], {})  # families without their own check
    assert not run_passed([True, True], {"generation": {"passed": False}})
    assert not run_passed([True, False], {"generation": {"passed": True}})
