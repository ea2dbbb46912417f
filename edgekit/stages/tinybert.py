"""TinyBERT-style task distillation (Jiao et al. 2019, "TinyBERT: Distilling BERT for Natural
Language Understanding").

The student is shallower *and* narrower than the teacher but keeps its number of heads, so
attention maps compare head by head. Two stages, as in the paper:

1. **Intermediate-layer distillation**: MSE between the student's embedding output and each
   student block's output, mapped up to the teacher's width by one learned projection, and the
   teacher's embedding output / the output of the mapped teacher block; plus MSE between
   pre-softmax attention scores of mapped layers. Both MSEs average over real tokens (and
   real query-key pairs) only, as TextBrewer's masked MSEs do; the reference code zeroes padded
   keys but averages over every padded position, which makes the loss depend on how far a
   batch is padded. Student block ``m`` mimics teacher
   block ``(m+1)·N/M − 1``: the paper's uniform mapping ``g(m) = m·N/M`` on 1-based layers.
2. **Prediction-layer distillation**: soft cross-entropy against the teacher's logits at
   temperature ``T`` (the paper uses T = 1), optionally mixed with the hard labels.

Teacher outputs (mapped hidden states, mapped attention scores, logits) are computed once into
a float16 memory-mapped cache; the second stage streams only the logits from it. With
``train.bucketing`` the cache holds each example's states at its own length, and both stages
train on length buckets (:mod:`edgekit.length_buckets`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from edgekit import _tf
from edgekit.length_buckets import padding_facts
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._bert import require_full_vocabulary
from edgekit.stages._distill import (TeacherCache, bert_stage_footprint, bucket_lengths,
                                     copy_weights_by_name, distill_fit, hard_cross_entropy,
                                     masked_mse, only, single_output, soft_cross_entropy,
                                     text_fields)
from edgekit.training import TrainContext, last_epoch


class TinyBertConfig(StageConfig):
    student_layers: int | None = Field(None, ge=1, description="default: half the teacher's")
    hidden_size: int | None = Field(None, ge=8, description="default: half the teacher's; "
                                    "must divide by the teacher's head count")
    intermediate_size: int | None = Field(None, ge=8, description="default: the teacher's "
                                          "FFN ratio times hidden_size")
    init: Literal["teacher_slice", "random"] = Field(
        "teacher_slice", description="teacher_slice: leading units of each teacher weight and "
        "of each head (see edgekit.models.bert.slicing); random: as the paper before general "
        "distillation")
    intermediate_epochs: int = Field(5, ge=0, description="stage 1 (hidden/attention MSE)")
    prediction_epochs: int = Field(3, ge=1, description="stage 2 (soft logits)")
    intermediate_learning_rate: float = Field(3e-4, gt=0)
    prediction_learning_rate: float = Field(1e-4, gt=0)
    temperature: float = Field(1.0, gt=0)
    alpha_hard: float = Field(0.0, ge=0, description="weight of the true-label loss in stage 2")
    batch_size: int | None = Field(None, ge=1, description="default: the recipe's")


def mimicked_blocks(teacher_layers: int, student_layers: int) -> list[int]:
    """Teacher block whose output (and attention) student block ``m`` learns: (m+1)·N/M − 1."""
    if not 0 < student_layers <= teacher_layers:
        raise ValueError(f"student_layers={student_layers} must be in 1..{teacher_layers}")
    return [(m + 1) * teacher_layers // student_layers - 1 for m in range(student_layers)]


class TinyBert(Stage[TinyBertConfig]):
    name = "tinybert"
    description = "TinyBERT distillation: narrower, shallower student; hidden/attention then logits"
    Config = TinyBertConfig

    def footprint(self, config: TinyBertConfig, model: Any, data: Any,
                  lengths: Any = None) -> Any:
        """Narrower, shallower student; the teacher cache holds logits, the embeddings and
        each mimicked block's hidden states and attention scores."""
        from edgekit.models.bert.encoder import make_student_config

        t = model.arch
        if t is None or "seq_len" not in data.extra:
            return super().footprint(config, model, data, lengths)
        layers = config.student_layers or max(1, t.num_layers // 2)
        student = make_student_config(t, layers, config.hidden_size or t.hidden_size // 2,
                                      num_heads=t.num_heads,
                                      intermediate_size=config.intermediate_size)
        return bert_stage_footprint(model, student, data, lengths, per_example=t.num_labels,
                                    per_token=(1 + layers) * t.hidden_size,
                                    per_pair=layers * t.num_heads)

    def run(self, model: Any, config: TinyBertConfig, ctx: TrainContext) -> StageResult:
        tf, keras = _tf.tf(), _tf.keras()
        from edgekit.models.bert.encoder import build_bert, make_student_config
        from edgekit.models.bert.introspect import config_of, seq_len_of
        from edgekit.models.bert.slicing import init_student_by_slicing

        require_full_vocabulary(model, self.name)
        t_cfg = config_of(model, **text_fields(ctx))
        seq = seq_len_of(model)
        layers = config.student_layers or max(1, t_cfg.num_layers // 2)
        hidden = config.hidden_size or t_cfg.hidden_size // 2
        if hidden % t_cfg.num_heads:
            raise ValueError(f"tinybert.hidden_size={hidden} must divide by the teacher's "
                             f"{t_cfg.num_heads} heads (attention maps compare head by head)")
        s_cfg = make_student_config(t_cfg, layers, hidden, num_heads=t_cfg.num_heads,
                                    intermediate_size=config.intermediate_size)
        blocks = mimicked_blocks(t_cfg.num_layers, layers)
        outputs = ("logits", "hidden_states", "attention_scores")
        with ctx.strategy.scope():
            teacher = build_bert(t_cfg, seq, outputs=outputs, name="teacher")
            copy_weights_by_name(model, teacher)
            student = build_bert(s_cfg, seq, outputs=outputs, name="student")
            if config.init == "teacher_slice":
                init_student_by_slicing(student, teacher, t_cfg.num_heads, blocks)
            projection = keras.layers.Dense(t_cfg.hidden_size, name="tinybert/fit_dense")
            projection.build((None, seq, s_cfg.hidden_size))

        hidden_keys = ["hidden_states.0"] + [f"hidden_states.{t + 1}" for t in blocks]
        score_keys = [f"attention_scores.{t}" for t in blocks]
        lengths = bucket_lengths(ctx, teacher, student)
        cache = TeacherCache(only(teacher, ("logits", *hidden_keys, *score_keys)), ctx.data.train,
                             lengths=lengths)

        def intermediate_loss(x: Any, y: Any, t: dict[str, Any], s: Any) -> tuple[Any, dict[str, Any]]:
            # Means over real tokens (and real query-key pairs) only, as TextBrewer's masked
            # MSEs: padding, whether to a fixed length or to a bucket's, changes nothing.
            real = tf.cast(x["attention_mask"], tf.float32)
            tokens = real[:, :, None]
            pairs = real[:, None, :, None] * real[:, None, None, :]
            hid = tf.add_n([masked_mse(projection(s_h), t[k], tokens)
                            for s_h, k in zip(s["hidden_states"], hidden_keys)])
            att = tf.add_n([masked_mse(s_a, t[k], pairs)
                            for s_a, k in zip(s["attention_scores"], score_keys)])
            return hid + att, {"hidden_mse": hid, "attention_mse": att}

        def prediction_loss(x: Any, y: Any, t: dict[str, Any], s: Any) -> tuple[Any, dict[str, Any]]:
            soft = soft_cross_entropy(s["logits"], t["logits"], config.temperature)
            hard = hard_cross_entropy(s["logits"], y)
            return soft + config.alpha_hard * hard, {"soft": soft, "hard": hard}

        common = dict(split=ctx.data.train, cache=cache, strategy=ctx.strategy, seed=ctx.train.seed,
                      batch_size=config.batch_size or ctx.train.batch_size, lengths=lengths)
        logs: dict[str, Any] = {}
        try:
            if config.intermediate_epochs:
                logs["intermediate"] = distill_fit(
                    student, intermediate_loss, epochs=config.intermediate_epochs,
                    learning_rate=config.intermediate_learning_rate, extra_layers=[projection],
                    keys=(*hidden_keys, *score_keys), **common)
            logs["prediction"] = distill_fit(
                student, prediction_loss, epochs=config.prediction_epochs,
                learning_rate=config.prediction_learning_rate, keys=("logits",), **common)
            cache_mb = cache.nbytes / 2**20
        finally:
            cache.close()
        final = single_output(student, s_cfg, seq, "tinybert_student", ctx.strategy)
        return StageResult(final, {
            "teacher_layers": t_cfg.num_layers, "student_layers": layers,
            "teacher_hidden_size": t_cfg.hidden_size, "hidden_size": s_cfg.hidden_size,
            "heads": s_cfg.num_heads, "intermediate_size": s_cfg.intermediate_size,
            "mimicked_teacher_blocks": blocks, "init": config.init,
            "teacher_cache_mb": round(cache_mb, 1),
            **({} if lengths is None else {"tokens_per_epoch": padding_facts(
                lengths, config.batch_size or ctx.train.batch_size, seq, ctx.train.seed)}),
            "final_losses": {phase: last_epoch(h) for phase, h in logs.items()},
            "loss_history": logs,
            "parameters": int(final.count_params()), "teacher_parameters": int(model.count_params())})


STAGES.register(TinyBert.name, TinyBert())
