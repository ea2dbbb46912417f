"""Structured attention-head pruning of a tiny BERT (2 blocks, hidden 32, 4 heads of 8 → 2):
the heads that matter survive, pruning heads that contribute nothing changes nothing, the
narrower model exports to ONNX (our writer, fused or not; tf2onnx) and TFLite with the same
numbers on the real runtimes, and its Hugging Face checkpoint (zero-padded back to 4 heads)
gives transformers the same logits."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from conftest import randomize_weights

from edgekit.data import Dataset, Split
from edgekit.errors import EdgekitError
from edgekit.exporters import EXPORTERS
from edgekit.families import FAMILIES
from edgekit.models.bert import names
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert
from edgekit.models.bert.introspect import config_of
from edgekit.recipe.schema import TrainSection
from edgekit.device.runtimes import RUNTIMES
from edgekit.stages.head_prune import HeadPrune, HeadPruneConfig, top_heads
from edgekit.strategy import make_strategy
from edgekit.training import TrainContext
from edgekit.validation.prove import run_all
from edgekit.yamlio import validate_model

SEQ = 12
CFG = BertConfig(vocab_size=60, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                 max_position_embeddings=16, num_labels=2)
HEAD = CFG.head_size
#: Heads whose output-projection rows are zeroed: they contribute nothing, so they must go.
SILENT = ([1, 3], [0, 2])
KEPT = [[0, 2], [1, 3]]
ATOL = 1e-4


def _feed(n: int, seed: int) -> dict[str, np.ndarray]:
    """Random ids, right-padded to a different length per row (row 0 unpadded)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, SEQ + 1, n)
    lengths[0] = SEQ
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(1, CFG.vocab_size, (n, SEQ)).astype(np.int32) * mask
    types = (np.arange(SEQ)[None, :] >= lengths[:, None] // 2).astype(np.int32) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _teacher() -> object:
    """A random BERT in which heads SILENT[i] of block i are switched off (zero W_o rows)."""
    model = randomize_weights(build_bert(CFG, SEQ), seed=3, std=0.3)
    for i, silent in enumerate(SILENT):
        layer = model.get_layer(names.layer_name(i, "attention/output"))
        kernel, bias = layer.get_weights()
        for h in silent:
            kernel[h * HEAD:(h + 1) * HEAD] = 0.0
        layer.set_weights([kernel, bias])
    return model


def _ctx(model: object, n: int = 64) -> TrainContext:
    x = _feed(n, seed=1)
    y = np.argmax(model.predict(x, verbose=0), -1)  # type: ignore[attr-defined]
    split = Split(x, y)
    data = Dataset("synthetic", "classification", split, split, split, 2, "random ids",
                   {"label_names": ["a", "b"]})
    return TrainContext(data, TrainSection(batch_size=16), make_strategy("default"))


@pytest.fixture(scope="module")
def teacher() -> object:
    return _teacher()


@pytest.fixture(scope="module")
def pruned(teacher: object) -> tuple[object, dict]:
    """The stage with one epoch of recovery: what the exporters get in a recipe."""
    result = HeadPrune().run(teacher, HeadPruneConfig(heads=2, epochs=1, learning_rate=1e-3),
                             _ctx(teacher))
    return result.model, result.facts


def test_default_config_is_unchanged_by_the_new_field() -> None:
    assert BertConfig(**{**CFG.to_dict(), "id2label": (), "attention_head_size": 8}) == CFG
    assert CFG.attention_head_size is None and not CFG.heads_pruned
    assert CFG.full_width() is CFG and "attention_head_size" not in CFG.to_hf_dict()
    narrow = BertConfig(vocab_size=60, hidden_size=32, num_layers=2, num_heads=2,
                        intermediate_size=64, attention_head_size=8)
    assert narrow.attention_width == 16 and narrow.full_width().num_heads == 4
    with pytest.raises(ValueError, match="full_width"):
        narrow.to_hf_dict()


def test_top_heads_are_the_highest_scored_in_order() -> None:
    scores = np.array([[0.1, 5.0, 0.3, 2.0], [9.0, 0.0, 1.0, 0.5]])
    assert top_heads(scores, 2) == [[1, 3], [0, 2]]


def test_silent_heads_are_pruned_and_nothing_changes(teacher: object) -> None:
    """Heads with zero output rows score exactly 0; removing them (no recovery) must leave the
    logits as they were, which also checks that Q/K/V columns and W_o rows moved together."""
    result = HeadPrune().run(teacher, HeadPruneConfig(keep=0.5, epochs=0), _ctx(teacher, 32))
    assert result.facts["kept_heads"] == KEPT
    assert result.facts["heads"] == {"before": 4, "after": 2, "head_size": HEAD}
    assert result.facts["parameters"]["after"] < result.facts["parameters"]["before"]
    small = config_of(result.model)
    assert (small.num_heads, small.head_size, small.attention_width) == (2, HEAD, 16)
    feed = _feed(8, seed=2)
    np.testing.assert_allclose(result.model.predict(feed, verbose=0),
                               teacher.predict(feed, verbose=0), atol=1e-5)  # type: ignore[attr-defined]


def test_recovery_trains_the_pruned_model(pruned: tuple[object, dict]) -> None:
    model, facts = pruned
    assert facts["kept_heads"] == KEPT and facts["attention_width"] == {"before": 32, "after": 16}
    assert np.isfinite(facts["recovery"]["final_losses"]["soft"])
    assert model.get_layer(names.layer_name(1, "attention/query")).units == 16  # type: ignore[attr-defined]


def test_bad_config_is_one_line_naming_the_field() -> None:
    with pytest.raises(EdgekitError) as info:
        validate_model(HeadPruneConfig, {"keep": 0.5, "heads": 2}, where="r.yaml",
                       prefix="compression[0]")
    assert "\n" not in str(info.value) and "keep" in str(info.value) and "heads" in str(info.value)
    with pytest.raises(EdgekitError, match=r"heads: 5 is more than the model's 4.*fix: set heads"):
        HeadPruneConfig(heads=5).count(4)


def _export(model: object, fmt: str, dest: Path, family: str | None = "bert", **options) -> Path:
    exporter = EXPORTERS.get(fmt)
    feed = _feed(8, seed=7)
    opts = exporter.Options(**options) if options else None
    art = exporter.export(model, "fp32", dest, Split(feed, np.zeros(8, np.int64)), opts,
                          family=FAMILIES.get(family) if family else None)
    return art


@pytest.mark.parametrize("fmt,family,fusion", [("onnx", "bert", "none"), ("onnx", "bert", "bert"),
                                               ("onnx", None, "none"), ("tflite", None, None)],
                         ids=["bert_onnx", "bert_onnx-fused", "tf2onnx", "tflite"])
def test_exports_of_the_pruned_model_match_keras(pruned: tuple[object, dict], tmp_path: Path,
                                                 fmt: str, family: str | None,
                                                 fusion: str | None) -> None:
    model, _ = pruned
    exporter = EXPORTERS.get(fmt)
    options = {"fusion": fusion} if fusion else {}
    art = _export(model, fmt, tmp_path / f"m{exporter.suffix}", family, **options)
    if fmt == "onnx":
        assert art.notes["graph"] == ("bert_onnx" if family else "tf2onnx")
    if fusion == "bert":  # ORT still fuses attention that is narrower than the hidden size
        assert art.notes["fused_ops"].get("Attention") == CFG.num_layers, art.notes
    feed = _feed(6, seed=4)
    session = RUNTIMES.get(exporter.runtime).load(art.path, threads=1)
    got = run_all(session, Split(feed, np.zeros(6, np.int64)))
    np.testing.assert_allclose(got, model.predict(feed, verbose=0), atol=ATOL, rtol=0)  # type: ignore[attr-defined]


def test_hf_checkpoint_is_zero_padded_and_transformers_agrees(pruned: tuple[object, dict],
                                                              tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import json

    from safetensors.numpy import load_file

    from edgekit.models.bert.checkpoint import save_hf_checkpoint

    model, _ = pruned
    out = save_hf_checkpoint(model, config_of(model), tmp_path / "hf")
    assert json.loads((out / "config.json").read_text())["num_attention_heads"] == 4
    tensors = load_file(str(out / "model.safetensors"))
    w_o = tensors["bert.encoder.layer.0.attention.output.dense.weight"]  # [hidden, width]
    assert w_o.shape == (32, 32) and not w_o[:, 16:].any() and w_o[:, :16].any()
    assert not tensors["bert.encoder.layer.1.attention.self.query.weight"][16:].any()

    hf = transformers.BertForSequenceClassification.from_pretrained(str(out)).eval()
    feed = _feed(5, seed=9)
    with torch.no_grad():
        ref = hf(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in feed.items()}).logits
    np.testing.assert_allclose(ref.numpy(), model.predict(feed, verbose=0), atol=ATOL, rtol=0)  # type: ignore[attr-defined]


def test_the_recipe_comment_is_a_valid_stage(tmp_path: Path) -> None:
    """recipes/distilbert.yaml's commented-out head_prune entry, switched on, is a recipe the
    loader accepts with `model: head_prune` exports (so the comment cannot rot)."""
    from conftest import REPO

    from edgekit.recipe import load_recipe

    text = (REPO / "recipes" / "distilbert.yaml").read_text()
    line = next(l for l in text.splitlines() if l.strip().startswith("# - {stage: head_prune"))
    text = text.replace(line, line.replace("# - ", "- ")).replace("model: distilbert}",
                                                                   "model: head_prune}")
    (tmp_path / "r.yaml").write_text(text)
    recipe = load_recipe(str(tmp_path / "r.yaml"))
    entry = next(e for e in recipe.compression if e.stage == "head_prune")
    assert entry.params["heads"] == 6 and entry.params["keep"] is None
    assert any(e.model == "head_prune" for e in recipe.export)


@pytest.mark.slow
def test_pipeline_head_prune_then_export(tmp_path: Path) -> None:
    """compress() with head_prune and `model: head_prune` exports on the tiny random BERT and
    real review snippets: every artifact passes, ORT fuses, transformers reproduces the logits.
    50-100 s on two shared cores, hence slow; the pieces are in the default suite above."""
    pytest.importorskip("tokenizers")
    from conftest import TINY_TEACHER

    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    teacher = TINY_TEACHER.replace("max_train_examples: 400, max_test_examples: 120",
                                   "max_train_examples: 200, max_test_examples: 60")
    text = "name: tiny-head-prune\n" + teacher.replace("epochs: 2,", "epochs: 1,") + """\
compression:
  - {stage: head_prune, heads: 2, epochs: 1, learning_rate: 0.002}
export:
  - {format: tflite, precision: fp32, model: head_prune}
  - {format: onnx, precision: dynamic, model: head_prune, options: {fusion: bert}}
budgets: {baseline: head_prune, max_metric_drop: 0.03, min_agreement: 0.9}
validation: {runs: 10, warmup: 2}
"""
    (tmp_path / "r.yaml").write_text(text)
    report = compress(load_recipe(str(tmp_path / "r.yaml")), tmp_path / "bundle")
    facts = report["stages"][0]["facts"]
    assert facts["heads"] == {"before": 4, "after": 2, "head_size": 8}
    assert facts["parameters"]["after"] < facts["parameters"]["before"]
    for art in report["artifacts"]:
        assert art["passed"], (art["file"], art["checks"])
    fused = next(a for a in report["artifacts"] if "fused_ops" in a["notes"])
    assert fused["notes"]["fused_ops"]["Attention"] == 2
    check = report["extras"]["hf_checkpoint"]["transformers_check"]
    assert check["status"] in ("passed", "skipped"), check
