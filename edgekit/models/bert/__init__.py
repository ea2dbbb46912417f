"""BERT family: config, tf-keras encoder, HF checkpoints, tokenizer and teacher sources.

Names are exported lazily (PEP 562) so ``import edgekit.models.bert`` and the config,
tokenizer and sources modules never import TensorFlow; only touching an encoder or checkpoint
function does.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BertConfig": "config",
    "build_bert": "encoder",
    "make_student_config": "encoder",
    "init_student_from_teacher": "encoder",
    "default_layer_map": "encoder",
    "OUTPUT_KINDS": "encoder",
    "INPUT_NAMES": "encoder",
    "load_hf_checkpoint": "checkpoint",
    "assign_hf_weights": "checkpoint",
    "extract_hf_weights": "checkpoint",
    "save_hf_checkpoint": "checkpoint",
    "CheckpointMismatchError": "checkpoint",
    "load_tokenizer": "tokenizer",
    "encode": "tokenizer",
    "token_lengths": "tokenizer",
    "choose_seq_len": "tokenizer",
    "resolve_teacher": "sources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
