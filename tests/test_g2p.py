"""Grapheme to phoneme (the encoder-decoder family): the CMUdict loader's split by word, the
phoneme error rate against hand-computed cases, the cached decoder step on each runtime
against the teacher-forced Keras model, and the device's greedy decode against Keras'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.data import Dataset, Split, SplitPlan

LETTERS, PHONEMES, SRC, TGT = 8, 12, 6, 7
PAIRS = [("onnx", "onnxruntime"), ("onnx", "openvino"), ("tflite", "litert")]


def _runtime_or_skip(name: str) -> None:
    from edgekit.device.runtimes import RUNTIMES

    missing = RUNTIMES.get(name).missing()
    if missing:
        pytest.skip(f"{name}: {missing}")


@pytest.fixture(scope="module")
def cmudict() -> Dataset:
    from edgekit.data.cmudict import CMUDict, CMUDictConfig, dictionary_path
    from edgekit.errors import EdgekitError

    try:
        dictionary_path()
    except EdgekitError as exc:
        pytest.skip(str(exc))
    return CMUDict().load(CMUDictConfig(limit=3000), SplitPlan(0.2, 0.1, 0))


def _words(split: Split, letters: list[str]) -> list[str]:
    return ["".join(letters[i] for i in row if i) for row in split.x["graphemes"]]


def test_cmudict_splits_by_word_and_shifts_the_decoder_input(cmudict: Dataset) -> None:
    letters = cmudict.extra["grapheme_vocab"]
    train, val, test = (set(_words(s, letters)) for s in (cmudict.train, cmudict.val,
                                                           cmudict.test))
    assert not (train & test) and not (train & val) and not (val & test)
    assert len(train | val | test) == 3000
    held = _words(cmudict.test, letters)
    assert len(held) > len(set(held)), "some held-out word has several pronunciations"
    for split in (cmudict.train, cmudict.test):
        dec, y = split.x["decoder_input"], split.y
        assert (dec[:, 0] == 1).all()  # <s>
        np.testing.assert_array_equal(dec[:, 1:] * (dec[:, 1:] != 0), np.where(
            y[:, :-1] == 2, 0, y[:, :-1]))  # the labels, one position ahead, before </s>
        assert ((y == 2).sum(axis=1) == 1).all()  # exactly one </s> per word
    phonemes = cmudict.extra["phoneme_vocab"]
    assert phonemes[:3] == ["<pad>", "<s>", "</s>"] and len(phonemes) == 3 + 39
    assert not any(c.isdigit() for p in phonemes for c in p), "stress digits stripped"


def test_dictionary_lines_parse_with_or_without_stress(tmp_path: Path) -> None:
    """Alternative pronunciations '(2)' name the same word, comments are dropped, and
    abbreviations and hyphenated compounds are not plain words."""
    from edgekit.data.cmudict import read_entries

    path = tmp_path / "cmudict.dict"
    path.write_text("a.m. EY2 EH1 M\ncat K AE1 T\nread R EH1 D\nread(2) R IY1 D\n"
                    "able-bodied EY1 B AH0 L B AA1 D IY0 D\naalen AE1 L AH0 N # place\n",
                    encoding="utf-8")
    assert read_entries(path, False) == [
        ("cat", ["K", "AE", "T"]), ("read", ["R", "EH", "D"]), ("read", ["R", "IY", "D"]),
        ("aalen", ["AE", "L", "AH", "N"])]
    assert read_entries(path, True)[0] == ("cat", ["K", "AE1", "T"])


def _logits(seqs: list[list[int]], steps: int = 6) -> np.ndarray:
    """One-hot 'logits' whose arg-max at each position is ``seqs``' id (padded with 0)."""
    out = np.zeros((len(seqs), steps, PHONEMES), dtype=np.float32)
    for n, seq in enumerate(seqs):
        for t in range(steps):
            out[n, t, seq[t] if t < len(seq) else 0] = 1.0
    return out


def test_phoneme_error_rate_and_word_accuracy_by_hand() -> None:
    from edgekit.tasks.g2p import (agreement, edit_distance, nearest_reference,
                                   phoneme_error_rate, word_accuracy)

    assert edit_distance("kitten", "sitting") == 3  # type: ignore[arg-type]
    assert edit_distance([], [3, 4]) == 2 and edit_distance([3, 4], [3, 4]) == 0
    labels = np.array([[3, 4, 5, 2, 0, 0], [6, 7, 2, 0, 0, 0]])
    # word 1: 3 4 5 -> 3 9 5 (1 substitution of 3); word 2: 6 7 -> 6 7 8 (1 insertion of 2)
    outputs = _logits([[3, 9, 5, 2], [6, 7, 8, 2]])
    assert phoneme_error_rate(outputs, labels) == pytest.approx(2 / 5)
    assert word_accuracy(outputs, labels) == 0.0
    right = _logits([[3, 4, 5, 2, 7, 7], [6, 7, 2]])  # what follows </s> is not read
    assert phoneme_error_rate(right, labels) == 0.0 and word_accuracy(right, labels) == 1.0
    # agreement counts positions up to the reference's first </s>: 4 + 3, of which 6 agree
    assert agreement(_logits([[3, 4, 5, 2, 1, 1], [6, 8, 2]]), right) == pytest.approx(6 / 7)
    assert nearest_reference([3, 4], [[5, 5, 5], [3, 4, 6]]) == (1, 3)


@pytest.fixture(scope="module")
def tiny() -> object:
    """A tiny random G2P model whose output layer is scaled up, so greedy picks are not
    near-ties."""
    from edgekit import _tf
    from edgekit.models.transformer_g2p import G2PConfig, TransformerG2P

    _tf.set_seed(0)
    rng = np.random.default_rng(0)
    src = rng.integers(1, LETTERS, (4, SRC)).astype(np.int32)
    src[:, 4:] = 0  # padded letters
    dec = rng.integers(1, PHONEMES, (4, TGT)).astype(np.int32)
    split = Split({"graphemes": src, "decoder_input": dec}, dec)
    data = Dataset("tiny", "g2p", split, split, split, None, "test", extra={
        "grapheme_vocab": ["<pad>", *"abcdefg"],
        "phoneme_vocab": ["<pad>", "<s>", "</s>", *(f"P{i}" for i in range(PHONEMES - 3))]})
    model = TransformerG2P().build(G2PConfig(dim=16, encoder_depth=1, decoder_depth=2, heads=2,
                                             mlp_dim=32, dropout=0.0), data)
    head = model.get_layer("lm_head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 50.0, bias])
    model.tiny_data = data
    return model


@pytest.fixture(scope="module")
def pairs(tiny: object, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from edgekit.exporters._g2p_pair import write_decoding_graphs

    root = tmp_path_factory.mktemp("g2p")
    extra = tiny.tiny_data.extra  # type: ignore[attr-defined]
    for fmt in ("onnx", "tflite"):
        write_decoding_graphs(tiny, root / fmt, fmt, "fp32", extra["grapheme_vocab"],
                              extra["phoneme_vocab"])
    return {fmt: root / fmt for fmt in ("onnx", "tflite")}


@pytest.mark.parametrize("fmt,runtime", PAIRS, ids=[f"{f}-{r}" for f, r in PAIRS])
def test_decoder_step_equals_teacher_forced_model(tiny: object, pairs: dict[str, Path],
                                                  fmt: str, runtime: str) -> None:
    """Encode once, then feed a fixed phoneme sequence one step at a time: each step's logits
    equal the whole teacher-forced Keras model's at that position."""
    from edgekit.device.g2p import CachedG2P
    from edgekit.device.generate import _named

    _runtime_or_skip(runtime)
    g2p = CachedG2P(pairs[fmt], runtime)
    split = tiny.tiny_data.test  # type: ignore[attr-defined]
    src, dec = split.x["graphemes"][:1], split.x["decoder_input"][:1]
    full = tiny([src, dec], training=False).numpy()[0]  # type: ignore[operator]
    atol = (1e-3 if g2p.executed_precision == "fp32" else 0.05) * np.abs(full).max()
    memory = _named(g2p.encoder_session.run_outputs({"graphemes": src}), "memory")
    k = np.zeros(g2p.cache_shape, np.float32)
    v = np.zeros_like(k)
    for t in range(TGT):
        out = g2p.decode_session.run_outputs({
            "token": dec[:, t:t + 1], "position": np.array([t], np.int32), "graphemes": src,
            "memory": memory, "past_k": k, "past_v": v})
        k, v = _named(out, "k_cache"), _named(out, "v_cache")
        np.testing.assert_allclose(_named(out, "logits")[0], full[t], atol=atol,
                                   err_msg=f"{runtime}: decode step {t}")


@pytest.mark.parametrize("fmt,runtime", PAIRS, ids=[f"{f}-{r}" for f, r in PAIRS])
def test_device_greedy_decode_equals_keras(tiny: object, pairs: dict[str, Path], fmt: str,
                                           runtime: str) -> None:
    from edgekit.device.g2p import CachedG2P
    from edgekit.validation.g2p import keras_greedy

    _runtime_or_skip(runtime)
    g2p = CachedG2P(pairs[fmt], runtime)
    if g2p.executed_precision != "fp32":
        pytest.skip(f"{runtime} computes this pair in {g2p.executed_precision}: greedy picks "
                    "may differ after a near-tie")
    src = tiny.tiny_data.test.x["graphemes"]  # type: ignore[attr-defined]
    want = keras_greedy(tiny, src)
    got = [g2p.decode(row[None, :]) for row in src]
    assert [d.phonemes for d in got] == want
    assert all(d.encoder_s > 0 and len(d.step_s) >= len(d.phonemes) for d in got)
    assert g2p.pronounce("abc") == [g2p.phonemes[i] for i in
                                    g2p.decode(g2p.encode_word("ABC")).phonemes]


def test_device_cli_decodes_and_names_bad_input(pairs: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from edgekit.device.g2p import main

    _runtime_or_skip("onnxruntime")
    assert main([str(pairs["onnx"]), "bad", "--runtime", "onnxruntime"]) == 0
    assert capsys.readouterr().out.startswith("bad\t")
    assert main([str(tmp_path), "word"]) == 2
    assert "decoding.json" in capsys.readouterr().err
    assert main([str(pairs["onnx"]), "xyz!"]) == 2  # letters the model does not read
    assert "not" in capsys.readouterr().err
