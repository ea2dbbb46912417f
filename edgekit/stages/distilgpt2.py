"""DistilGPT2-style distillation of a GPT (Sanh et al. 2019, as Hugging Face distilled GPT-2's
12 blocks into DistilGPT2's 6).

The student keeps the teacher's width, heads, vocabulary and positions with half its blocks,
and starts from the teacher's embeddings, final LayerNorm, output layer and every other block
(:func:`~edgekit.models.bert.encoder.default_layer_map`: blocks 1, 3, 5 ... of the teacher).
It learns at every position from two signals, weighted by the config:

* **soft**: KL divergence from the teacher's next-token distribution to the student's, both
  softened at temperature T (scaled by T², so its gradients keep the hard loss's scale as T
  changes): the teacher's whole distribution, not only its top token, is what a student of
  a language model can learn most from;
* **hard**: the usual language-model cross-entropy against the true next token.

The teacher's logits are computed in each training step rather than cached: a language
model's targets are examples x positions x vocabulary (:mod:`edgekit.stages._distill`), and
the teacher's forward pass costs about a third of the student's training step. The teacher is
the model handed in; it is not copied, since the loss reads only its logits.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit.errors import EdgekitError
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._distill import distill_fit, hard_cross_entropy, soft_kl
from edgekit.training import TrainContext, last_epoch


class DistilGPT2Config(StageConfig):
    student_blocks: int | None = Field(None, ge=1, description="default: half the teacher's "
                                       "blocks (at least one)")
    temperature: float = Field(2.0, gt=0, description="softens both next-token distributions")
    alpha_soft: float = Field(1.0, ge=0, description="weight of the KL to the teacher")
    alpha_hard: float = Field(1.0, ge=0, description="weight of the true-next-token loss")
    epochs: int = Field(3, ge=1)
    learning_rate: float = Field(5e-4, gt=0, description="Adam, decayed linearly to 5%")
    batch_size: int | None = Field(None, ge=1, description="default: the recipe's")


def student_depth(teacher_depth: int, config: DistilGPT2Config) -> int:
    """The student's blocks: the config's, else half the teacher's (at least one)."""
    depth = config.student_blocks or max(1, teacher_depth // 2)
    if depth > teacher_depth:
        raise EdgekitError(f"distilgpt2.student_blocks={depth} exceeds the teacher's "
                           f"{teacher_depth} blocks", where="compression.distilgpt2.student_blocks",
                           fix=f"set it to 1..{teacher_depth} or leave it out (half)")
    return depth


class DistilGPT2(Stage[DistilGPT2Config]):
    name = "distilgpt2"
    description = "DistilGPT2 distillation: half the blocks, soft next-token targets + LM loss"
    Config = DistilGPT2Config

    def footprint(self, config: DistilGPT2Config, model: Any, data: Any,
                  lengths: Any = None) -> Any:
        """The half-depth student, with the teacher (the model given) alive meanwhile; no
        teacher cache."""
        from edgekit.footprint import StageFootprint
        from edgekit.models.gpt import GPT, GPTConfig

        if not isinstance(model.arch, GPTConfig):
            return super().footprint(config, model, data, lengths)
        arch = model.arch.model_copy(update={"depth": student_depth(model.arch.depth, config),
                                             "checkpoint": None})
        return StageFootprint(model=GPT().footprint(arch, data), held_params=model.params)

    def run(self, model: Any, config: DistilGPT2Config, ctx: TrainContext) -> StageResult:
        from edgekit.models.bert.encoder import default_layer_map
        from edgekit.models.gpt import GPT, block_names, config_of, copy_blocks

        if block_names(1)["qkv"] not in {layer.name for layer in model.layers}:
            raise EdgekitError("distilgpt2 works on gpt models only", where="compression",
                               fix="use it with model.builder: gpt, or use distilbert for BERT")
        t_cfg = config_of(model)
        depth = student_depth(t_cfg.depth, config)
        mapping = default_layer_map(t_cfg.depth, depth)
        with ctx.strategy.scope():
            student = GPT().build_layers(t_cfg.model_copy(update={"depth": depth}), ctx.data)
            copy_blocks(model, student, mapping)

        def teacher(x: Any) -> dict[str, Any]:
            return {"logits": model(x, training=False)}

        def loss_fn(x: Any, y: Any, t: dict[str, Any], s: Any) -> tuple[Any, dict[str, Any]]:
            soft = soft_kl(s, t["logits"], config.temperature)
            hard = hard_cross_entropy(s, y)
            return config.alpha_soft * soft + config.alpha_hard * hard, {"soft_kl": soft,
                                                                         "hard": hard}

        logs = distill_fit(student, loss_fn, ctx.data.train, None, epochs=config.epochs,
                           batch_size=config.batch_size or ctx.train.batch_size,
                           learning_rate=config.learning_rate, strategy=ctx.strategy,
                           seed=ctx.train.seed, teacher=teacher)
        return StageResult(student, {
            "teacher_blocks": t_cfg.depth, "student_blocks": depth,
            "init": f"teacher blocks {[t + 1 for t in mapping]}, embeddings, final norm, head",
            "temperature": config.temperature,
            "final_losses": last_epoch(logs), "loss_history": {"distillation": logs},
            "parameters": int(student.count_params()),
            "teacher_parameters": int(model.count_params())})


STAGES.register(DistilGPT2.name, DistilGPT2())
