"""The recurrent builders: one class, parametrised by the Keras layer of its cell.

Each builds input handling (token ids → embedding, or a numeric series), one or more recurrent
layers, and the head the dataset's task needs; only the cell differs:

* ``simple_rnn``: Elman recurrent network (SimpleRNN, tanh), the plain recurrence, the baseline
  the gated cells improve on.
* ``lstm``: long short-term memory (Hochreiter & Schmidhuber 1997), input, forget and output
  gates around a cell state.
* ``gru``: gated recurrent unit (Cho et al. 2014), update and reset gates, no separate cell
  state; tf-keras' reset_after form.
* ``bilstm``: one LSTM reads the sequence forwards, one backwards, outputs concatenated. Needs
  the whole sequence up front, so it suits classification of a finished snippet rather than
  streaming.

``unroll=True`` (the default) writes the recurrence out step by step over the short, fixed
sequence: plain MatMul/Add/Sigmoid/Tanh ops that TFLite built-ins, ONNX and OpenVINO all run.
``unroll=False`` keeps a loop, which TFLite can only express with Flex (TensorFlow) ops for
some layers: see docs/support.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import single_input


class RecurrentConfig(BuilderConfig):
    units: int = Field(32, ge=1)
    layers: int = Field(1, ge=1, le=4, description="stacked recurrent layers")
    unroll: bool = Field(True, description="write the recurrence out step by step: portable to "
                         "every runtime without Flex ops (short fixed sequences only)")
    embedding_dim: int = Field(32, ge=1, description="for token inputs")
    dropout: float = Field(0.0, ge=0, lt=1)


class Recurrent(ModelBuilder[RecurrentConfig]):
    """A recurrent network whose cell is the tf-keras layer named ``cell`` (``LSTM``, ``GRU``,
    ``SimpleRNN``), read in both directions when ``bidirectional``."""

    family = "recurrent"
    Config = RecurrentConfig

    def __init__(self, name: str, cell: str, *, bidirectional: bool = False) -> None:
        self.name, self.cell, self.bidirectional = name, cell, bidirectional

    def layer(self, config: RecurrentConfig, return_sequences: bool, name: str) -> Any:
        """One recurrent layer of this builder's cell, named ``name``."""
        layers = _tf.keras().layers
        cell = getattr(layers, self.cell)
        if self.bidirectional:
            return layers.Bidirectional(cell(config.units, unroll=config.unroll,
                                             return_sequences=return_sequences), name=name)
        return cell(config.units, unroll=config.unroll, return_sequences=return_sequences,
                    name=name)

    def build(self, config: RecurrentConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        name, shape = single_input(data, self.name)
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
            x = self.layer(config, i < config.layers - 1, f"rnn{i + 1}")(x)
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
        return keras.Model(inp, out, name=self.name)


for _builder in (Recurrent("simple_rnn", "SimpleRNN"), Recurrent("lstm", "LSTM"),
                 Recurrent("gru", "GRU"), Recurrent("bilstm", "LSTM", bidirectional=True)):
    MODELS.register(_builder.name, _builder)
