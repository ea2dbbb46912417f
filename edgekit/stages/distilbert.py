"""DistilBERT-style task distillation (Sanh et al. 2019, "DistilBERT, a distilled version of
BERT").

The student keeps the teacher's width with half its layers and is initialised from every other
teacher layer. It learns from three signals: the teacher's softened class distribution
(cross-entropy at temperature T, scaled by T²), the true labels, and a cosine loss aligning the
directions of its last hidden states with the teacher's on real (unpadded) tokens. With
``train.bucketing`` it trains on length buckets, and the teacher cache holds each text's hidden
states at its own length (:mod:`edgekit.length_buckets`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.length_buckets import padding_facts
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._bert import require_full_vocabulary
from edgekit.stages._distill import (TeacherCache, bert_stage_footprint, bucket_lengths,
                                     copy_weights_by_name, distill_fit, hard_cross_entropy, only,
                                     single_output, soft_cross_entropy, text_fields)
from edgekit.training import TrainContext, last_epoch


class DistilBertConfig(StageConfig):
    student_layers: int | None = Field(None, ge=1, description="default: half the teacher's")
    temperature: float = Field(2.0, gt=0, description="softens the teacher's distribution")
    alpha_soft: float = Field(1.0, ge=0)
    alpha_hard: float = Field(0.5, ge=0)
    alpha_cos: float = Field(0.5, ge=0)
    epochs: int = Field(3, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    batch_size: int | None = Field(None, ge=1, description="default: the recipe's")


class DistilBert(Stage[DistilBertConfig]):
    name = "distilbert"
    description = "DistilBERT distillation: half-depth student, soft + hard + cosine losses"
    Config = DistilBertConfig

    def footprint(self, config: DistilBertConfig, model: Any, data: Any,
                  lengths: Any = None) -> Any:
        """Half-depth student; the teacher cache holds logits and the last hidden states."""
        from edgekit.models.bert.encoder import make_student_config

        t = model.arch
        if t is None or "seq_len" not in data.extra:
            return super().footprint(config, model, data, lengths)
        student = make_student_config(t, config.student_layers or max(1, t.num_layers // 2))
        return bert_stage_footprint(model, student, data, lengths, per_example=t.num_labels,
                                    per_token=t.hidden_size)

    def run(self, model: Any, config: DistilBertConfig, ctx: TrainContext) -> StageResult:
        tf = _tf.tf()
        from edgekit.models.bert.encoder import build_bert, init_student_from_teacher, make_student_config
        from edgekit.models.bert.introspect import config_of, seq_len_of

        require_full_vocabulary(model, self.name)
        t_cfg = config_of(model, **text_fields(ctx))
        seq = seq_len_of(model)
        layers = config.student_layers or max(1, t_cfg.num_layers // 2)
        s_cfg = make_student_config(t_cfg, layers)
        with ctx.strategy.scope():
            teacher = build_bert(t_cfg, seq, outputs=("logits", "hidden_states"), name="teacher")
            copy_weights_by_name(model, teacher)
            student = build_bert(s_cfg, seq, outputs=("logits", "hidden_states"), name="student")
            init_student_from_teacher(student, teacher)

        last = f"hidden_states.{t_cfg.num_layers}"
        lengths = bucket_lengths(ctx, teacher, student)  # train.bucketing: see length_buckets
        cache = TeacherCache(only(teacher, ("logits", last)), ctx.data.train, lengths=lengths)

        def loss_fn(x: Any, y: Any, t: dict[str, Any], s: Any) -> tuple[Any, dict[str, Any]]:
            soft = soft_cross_entropy(s["logits"], t["logits"], config.temperature)
            hard = hard_cross_entropy(s["logits"], y)
            mask = tf.cast(x["attention_mask"], tf.float32)
            cos = _cosine(s["hidden_states"][-1], t[last])
            cos_loss = tf.reduce_sum((1.0 - cos) * mask) / tf.reduce_sum(mask)
            loss = config.alpha_soft * soft + config.alpha_hard * hard + config.alpha_cos * cos_loss
            return loss, {"soft": soft, "hard": hard, "cos": cos_loss}

        try:
            logs = distill_fit(student, loss_fn, ctx.data.train, cache, epochs=config.epochs,
                               batch_size=config.batch_size or ctx.train.batch_size,
                               learning_rate=config.learning_rate, strategy=ctx.strategy,
                               seed=ctx.train.seed, lengths=lengths)
            cache_mb = cache.nbytes / 2**20
        finally:
            cache.close()
        final = single_output(student, s_cfg, seq, "distilbert_student", ctx.strategy)
        return StageResult(final, {
            "teacher_layers": t_cfg.num_layers, "student_layers": s_cfg.num_layers,
            "hidden_size": s_cfg.hidden_size, "init": "every other teacher layer",
            "teacher_cache_mb": round(cache_mb, 1),
            **({} if lengths is None else {"tokens_per_epoch": padding_facts(
                lengths, config.batch_size or ctx.train.batch_size, seq, ctx.train.seed)}),
            "final_losses": last_epoch(logs),
            "loss_history": {"distillation": logs},
            "parameters": int(final.count_params()), "teacher_parameters": int(model.count_params())})


def _cosine(a: Any, b: Any) -> Any:
    tf = _tf.tf()
    return tf.reduce_sum(tf.math.l2_normalize(a, -1) * tf.math.l2_normalize(b, -1), axis=-1)


STAGES.register(DistilBert.name, DistilBert())
