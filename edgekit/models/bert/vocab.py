"""The in-graph id remap of a vocabulary-trimmed BERT, and its undoing for HF checkpoints.

A trimmed model keeps only some rows of the word-embedding table, yet it must still take the
*original* tokenizer's ids: the bundle ships that tokenizer and every artifact is proven on
one held-out array of its ids. So the remap lives inside the graph, in front of the
word-embedding lookup: an int32 table ``original id -> kept row`` (dropped ids -> the row of
[UNK]) gathered with ``input_ids``.

The table is an **integer** weight on purpose. TFLite dynamic-range and ONNX Runtime dynamic
quantization turn float constants into int8; integer constants are left alone, so ids stay
exact in every artifact. It is a non-trainable weight of a registered layer (not a Lambda, which
edgekit's ``safe_mode`` loading refuses), so it survives the ``.keras`` save/load of the resume
cache.

TensorFlow is imported inside functions, as in :mod:`edgekit.models.bert.encoder`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import names
from .config import BertConfig

#: HF name of the word-embedding table (the one tensor a trimmed model changes).
HF_WORD = "embeddings.word_embeddings.weight"

_LAYER: type | None = None


def vocab_map_layer() -> type:
    """The registered Keras layer ``ids -> table[ids]`` (created once, after TF is imported)."""
    global _LAYER
    if _LAYER is None:
        from edgekit import _tf

        tf, keras = _tf.tf(), _tf.keras()

        @keras.saving.register_keras_serializable(package="edgekit", name="VocabMap")
        class VocabMap(keras.layers.Layer):
            """Maps original token ids to rows of a trimmed embedding table.

            Only ``source_vocab`` is configuration; the table itself is a weight, so it is
            stored (and reloaded) with the other weights rather than in the JSON config.
            """

            def __init__(self, source_vocab: int, table: np.ndarray | None = None,
                         **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.source_vocab = int(source_vocab)
                self._initial = None if table is None else np.asarray(table, np.int32)

            def build(self, input_shape: Any) -> None:
                init = ("zeros" if self._initial is None
                        else keras.initializers.Constant(self._initial))
                self.table = self.add_weight(name="table", shape=(self.source_vocab,),
                                             dtype="int32", initializer=init, trainable=False)
                super().build(input_shape)

            def call(self, ids: Any) -> Any:
                return tf.gather(self.table, ids)

            def compute_output_shape(self, input_shape: Any) -> Any:
                return input_shape

            def get_config(self) -> dict[str, Any]:
                return {**super().get_config(), "source_vocab": self.source_vocab}

        _LAYER = VocabMap
    return _LAYER


def custom_objects() -> dict[str, Any]:
    """What ``load_model`` needs for a saved trimmed model."""
    return {"edgekit>VocabMap": vocab_map_layer()}


def remap_ids(input_ids: Any, table: np.ndarray | None) -> Any:
    """``input_ids`` through the remap layer, or unchanged for an untrimmed model."""
    if table is None:
        return input_ids
    return vocab_map_layer()(len(table), table, name=names.EMB_VOCAB_MAP)(input_ids)


def vocab_map_of(model: Any) -> np.ndarray | None:
    """The model's ``original id -> row`` table, or None when its vocabulary is whole."""
    try:
        layer = model.get_layer(names.EMB_VOCAB_MAP)
    except ValueError:
        return None
    return np.asarray(layer.get_weights()[0], dtype=np.int32)


def id_map(kept: np.ndarray, source_vocab: int, unk_id: int) -> np.ndarray:
    """Table for keeping the sorted original ids ``kept``: kept id -> its rank, others -> the
    rank of ``unk_id`` (which must be kept)."""
    kept = np.asarray(kept, dtype=np.int64)
    rows = np.searchsorted(kept, unk_id)
    if rows >= len(kept) or kept[rows] != unk_id:
        raise ValueError(f"the [UNK] id {unk_id} must be among the kept ids")
    table = np.full(source_vocab, rows, dtype=np.int32)
    table[kept] = np.arange(len(kept), dtype=np.int32)
    return table


def full_word_embeddings(model: Any) -> np.ndarray:
    """The word-embedding table as the original vocabulary sees it: a trimmed model's rows
    gathered through its table (dropped ids get copies of the [UNK] row)."""
    rows = model.get_layer(names.EMB_WORD).get_weights()[0]
    table = vocab_map_of(model)
    return rows if table is None else rows[table]


def untrimmed(model: Any, weights: dict[str, np.ndarray], config: BertConfig
              ) -> tuple[dict[str, np.ndarray], BertConfig]:
    """HF weights and config of ``model`` with its full original vocabulary.

    A Hugging Face BERT has no id remap, so a trimmed model is written with the table
    expanded back (dropped rows = copies of the [UNK] row), which computes exactly what the
    remap does and keeps the original tokenizer valid. Untrimmed models pass through.
    """
    table = vocab_map_of(model)
    if table is None:
        return weights, config
    from dataclasses import replace

    expanded = np.ascontiguousarray(weights[HF_WORD][table], dtype=np.float32)
    return {**weights, HF_WORD: expanded}, replace(config, vocab_size=len(table))
