"""Read a :class:`BertConfig` back from a model built by ``build_bert``.

Compression stages clone and rebuild models (TFMOT wrappers, strip_pruning, distillation), so
the config cannot ride along as an attribute; every architectural number is recoverable from
the layers themselves (head count and size from the attention reshape), which keeps this
honest for pruned and distilled students too.
"""

from __future__ import annotations

from typing import Any

from . import names
from .config import BertConfig
from .encoder import count_layers


def config_of(model: Any, **fields: Any) -> BertConfig:
    """The model's config: shapes read from its layers; ``fields`` (labels, dropout) added."""
    word = model.get_layer(names.EMB_WORD)
    layers = count_layers(model)
    split = model.get_layer(f"{names.layer_name(0, 'attention/query')}/split")
    _, heads, head_size = (int(n) for n in split.get_config()["target_shape"])
    intermediate = int(model.get_layer(names.layer_name(0, "ffn/intermediate")).units)
    try:
        labels = int(model.get_layer(names.CLASSIFIER).units)
    except ValueError:
        labels = 2
    labels = fields.pop("num_labels", labels)
    return BertConfig(vocab_size=int(word.input_dim), hidden_size=int(word.output_dim),
                   num_layers=layers, num_heads=heads, intermediate_size=intermediate,
                   max_position_embeddings=int(model.get_layer(names.EMB_POSITION).input_dim),
                   type_vocab_size=int(model.get_layer(names.EMB_TOKEN_TYPE).input_dim),
                   layer_norm_eps=float(model.get_layer(names.EMB_NORM).epsilon),
                   num_labels=labels, attention_head_size=head_size, **fields)


def seq_len_of(model: Any) -> int:
    return int(model.inputs[0].shape[1])
