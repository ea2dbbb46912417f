"""BERT hyper-parameters, convertible to and from Hugging Face ``config.json``.

The config is frozen so that one object can be shared by the teacher, the student and the
exporters without anyone mutating it behind the others' backs; derive variants with
:func:`dataclasses.replace`. No TensorFlow import here: reading a config must stay cheap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: HF activation names we implement exactly ("gelu" in HF is the erf form, not the tanh one).
#: Both are Keras string activations, which TFMOT's QAT knows how to quantize; the tanh
#: approximations would need a custom activation that QAT rejects, so they are refused.
SUPPORTED_ACTIVATIONS = ("gelu", "relu")


@dataclass(frozen=True)
class BertConfig:
    """Architecture of a BERT encoder with a sequence-classification head.

    Dropout rates and ``initializer_range`` only matter for training; they are kept so that a
    round trip through ``config.json`` loses nothing a fine-tuning run would need.

    ``attention_head_size`` is None for every ordinary BERT (head size = hidden / heads). It is
    set only after whole heads were removed (:mod:`edgekit.stages.head_prune`): the heads keep
    their size, so the attention width ``num_heads × head_size`` becomes smaller than
    ``hidden_size`` (Q/K/V project hidden → width, the attention output maps width → hidden).
    Every block keeps the same number of heads, for the same reason ``intermediate_size`` is
    one number: one head count describes the model to the encoder, the exporters and ONNX
    Runtime's fused Attention, and Hugging Face has no per-layer head count any more
    (transformers 5 dropped ``pruned_heads``; see :meth:`full_width`). A value equal to
    ``hidden_size / num_heads`` is stored as None, so an unpruned config has one spelling.
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    num_labels: int = 2
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    initializer_range: float = 0.02
    pad_token_id: int = 0
    id2label: tuple[str, ...] = field(default=())
    attention_head_size: int | None = None

    def __post_init__(self) -> None:
        positive = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                    "max_position_embeddings", "type_vocab_size", "num_labels")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive int, got {value!r}")
        if self.attention_head_size is not None:
            if not isinstance(self.attention_head_size, int) or self.attention_head_size <= 0:
                raise ValueError("BertConfig.attention_head_size must be a positive int or None, "
                                 f"got {self.attention_head_size!r}")
            if self.num_heads * self.attention_head_size == self.hidden_size:
                object.__setattr__(self, "attention_head_size", None)  # the unpruned spelling
        elif self.hidden_size % self.num_heads:
            raise ValueError(
                f"BertConfig: hidden_size ({self.hidden_size}) must be divisible by num_heads "
                f"({self.num_heads}); pick num_heads that divides it, e.g. "
                f"{_divisor_near(self.hidden_size, self.num_heads)}")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r} is not supported; "
                             f"use one of {SUPPORTED_ACTIVATIONS}")
        if self.id2label and len(self.id2label) != self.num_labels:
            raise ValueError(f"BertConfig: id2label has {len(self.id2label)} names but "
                             f"num_labels is {self.num_labels}")

    @property
    def head_size(self) -> int:
        """Width of one attention head."""
        return self.attention_head_size or self.hidden_size // self.num_heads

    @property
    def attention_width(self) -> int:
        """Width of Q/K/V and of the attention output's input: ``num_heads × head_size``."""
        return self.num_heads * self.head_size

    @property
    def heads_pruned(self) -> bool:
        """True when whole heads were removed (attention narrower than the hidden size)."""
        return self.attention_width != self.hidden_size

    def full_width(self) -> "BertConfig":
        """The same BERT with as many heads as ``hidden_size`` holds at this head size.

        This is how a head-pruned model is written for Hugging Face, whose BertConfig derives
        the head size from ``hidden_size / num_attention_heads``: the removed heads come back
        as all-zero heads (see :func:`edgekit.models.bert.heads.zero_pad_heads`).
        """
        if not self.heads_pruned:
            return self
        if self.hidden_size % self.head_size or self.attention_width > self.hidden_size:
            raise ValueError(f"BertConfig: {self.num_heads} heads of {self.head_size} cannot be "
                             f"padded to hidden_size {self.hidden_size} for Hugging Face; "
                             "head_size must divide hidden_size")
        return replace(self, num_heads=self.hidden_size // self.head_size,
                       attention_head_size=None)

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names; HF's ``LABEL_i`` convention when none were given."""
        return self.id2label or tuple(f"LABEL_{i}" for i in range(self.num_labels))

    # --- Hugging Face interop -------------------------------------------------------------

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any], **overrides: Any) -> "BertConfig":
        """Build from a transformers ``BertConfig`` dict; ``overrides`` win over the dict.

        Only absolute position embeddings are accepted because that is all the encoder
        implements; silently loading a relative-position checkpoint would give wrong outputs.
        """
        model_type = d.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(f"config.json has model_type={model_type!r}; only 'bert' is supported")
        pos_type = d.get("position_embedding_type", "absolute")
        if pos_type != "absolute":
            raise ValueError(f"config.json has position_embedding_type={pos_type!r}; "
                             "only 'absolute' is supported")
        id2label = d.get("id2label") or {}
        labels = tuple(str(id2label[k]) for k in sorted(id2label, key=int)) if id2label else ()
        num_labels = d.get("num_labels", len(labels) or 2)
        kwargs: dict[str, Any] = dict(
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            num_layers=d["num_hidden_layers"],
            num_heads=d["num_attention_heads"],
            intermediate_size=d["intermediate_size"],
            max_position_embeddings=d.get("max_position_embeddings", 512),
            type_vocab_size=d.get("type_vocab_size", 2),
            layer_norm_eps=float(d.get("layer_norm_eps", 1e-12)),
            hidden_act=d.get("hidden_act", "gelu"),
            num_labels=num_labels,
            hidden_dropout=float(d.get("hidden_dropout_prob", 0.1)),
            attention_dropout=float(d.get("attention_probs_dropout_prob", 0.1)),
            initializer_range=float(d.get("initializer_range", 0.02)),
            pad_token_id=d.get("pad_token_id") or 0,
            # A BertModel checkpoint's default 2-label map is not a real label set.
            id2label=labels if len(labels) == num_labels and not _default_labels(labels) else (),
        )
        kwargs.update(overrides)
        if "num_labels" in overrides and "id2label" not in overrides:
            if len(kwargs["id2label"]) != kwargs["num_labels"]:
                kwargs["id2label"] = ()
        return cls(**kwargs)

    @classmethod
    def from_hf_folder(cls, path: str | Path, **overrides: Any) -> "BertConfig":
        """Read ``<path>/config.json`` (a checkpoint folder) or ``path`` itself if it is a file."""
        p = Path(path)
        cfg_file = p / "config.json" if p.is_dir() else p
        if not cfg_file.is_file():
            raise FileNotFoundError(f"no config.json at {cfg_file}; pass a Hugging Face "
                                    "checkpoint folder that contains one")
        return cls.from_hf_dict(json.loads(cfg_file.read_text(encoding="utf-8")), **overrides)

    def to_hf_dict(self) -> dict[str, Any]:
        """A dict that ``transformers.BertConfig(**d)`` / ``from_pretrained`` accepts as-is.

        Refused for a head-pruned config, which HF cannot express: write
        ``full_width().to_hf_dict()`` with zero-padded weights instead (as
        :func:`~edgekit.models.bert.checkpoint.save_hf_checkpoint` does).
        """
        if self.heads_pruned:
            raise ValueError(f"BertConfig: {self.num_heads} heads of {self.head_size} do not fill "
                             f"hidden_size {self.hidden_size}, which a Hugging Face config cannot "
                             "express; use full_width() with zero-padded heads")
        labels = self.labels
        return {
            "architectures": ["BertForSequenceClassification"],
            "model_type": "bert",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "hidden_dropout_prob": self.hidden_dropout,
            "attention_probs_dropout_prob": self.attention_dropout,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "initializer_range": self.initializer_range,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "classifier_dropout": None,
            "num_labels": self.num_labels,
            "id2label": {str(i): name for i, name in enumerate(labels)},
            "label2id": {name: i for i, name in enumerate(labels)},
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain edgekit field dict (for recipes/reports), JSON-serialisable."""
        d = asdict(self)
        d["id2label"] = list(self.id2label)
        return d

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names accepted by the constructor, for validating recipe overrides."""
        return tuple(f.name for f in fields(cls))


def _default_labels(labels: tuple[str, ...]) -> bool:
    return all(name == f"LABEL_{i}" for i, name in enumerate(labels))


def _divisor_near(n: int, target: int) -> int:
    """The divisor of ``n`` closest to ``target`` (for a helpful error message)."""
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - target), d))
