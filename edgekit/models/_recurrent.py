"""Shared by the recurrent builders: input handling (token ids → embedding, or a numeric
series), one or more recurrent layers, and the head the dataset's task needs.

``unroll=True`` (the default) writes the recurrence out step by step over the short, fixed
sequence: plain MatMul/Add/Sigmoid/Tanh ops that TFLite built-ins, ONNX and OpenVINO all run.
``unroll=False`` keeps a loop, which TFLite can only express with Flex (TensorFlow) ops for
some layers: see docs/support.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import BuilderConfig
from edgekit.models._common import single_input


class RecurrentConfig(BuilderConfig):
    units: int = Field(32, ge=1)
    layers: int = Field(1, ge=1, le=4, description="stacked recurrent layers")
    unroll: bool = Field(True, description="write the recurrence out step by step: portable to "
                         "every runtime without Flex ops (short fixed sequences only)")
    embedding_dim: int = Field(32, ge=1, description="for token inputs")
    dropout: float = Field(0.0, ge=0, lt=1)


RecurrentLayer = Callable[[RecurrentConfig, bool, str], Any]  # (config, return_sequences, name)


def build_recurrent(model_name: str, data: Dataset, config: RecurrentConfig,
                    make_layer: RecurrentLayer) -> Any:
    keras = _tf.keras()
    L = keras.layers
    name, shape = single_input(data, model_name)
    is_tokens = data.input_dtypes()[name].kind in "iu"
    inp = keras.Input(shape=shape, name=name, dtype="int32" if is_tokens else "float32")
    if is_tokens:
        vocab = data.extra.get("vocab_size")
        if not isinstance(vocab, int):
            raise EdgekitError(f"dataset '{data.name}' gives token ids but no vocab_size",
                               where="data.dataset", fix="use a text dataset loader")
        x = L.Embedding(vocab, config.embedding_dim, name="embedding")(inp)
    else:
        x = inp if len(shape) == 2 else L.Reshape((shape[0], -1), name="as_sequence")(inp)
    for i in range(config.layers):
        x = make_layer(config, i < config.layers - 1, f"rnn{i + 1}")(x)
        if config.dropout:
            x = L.Dropout(config.dropout, name=f"rnn{i + 1}_dropout")(x)
    if data.task == "classification":
        out = L.Dense(data.num_classes, name="logits")(x)
    elif data.task == "regression":
        out = L.Dense(int(data.train.y.shape[-1]) if data.train.y.ndim > 1 else 1,
                      name="forecast")(x)
    else:
        raise EdgekitError(f"recurrent models support classification and regression, not "
                           f"'{data.task}'", where="data.dataset", fix="pick another dataset")
    return keras.Model(inp, out, name=model_name)
