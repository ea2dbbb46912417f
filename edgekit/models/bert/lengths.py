"""What lets one BERT graph run at any sequence length up to the one it was built for.

Exports keep one fixed length (static shapes: TFLite, NPUs, OpenVINO), but training at that
length spends most of its compute on padding when the texts are short (SST-2's median sentence
is about 10 tokens of a 64-token input). So the graph's two length-dependent pieces are
registered layers that read the length of what they are given:

* :func:`position_ids_layer`: ``[batch, seq]`` position ids, i.e. the position table sliced to
  the batch's length;
* :func:`key_mask_layer`: the ``[batch, 1, 1, seq]`` float keep-mask of the attention scores.

With a static length they emit exactly the ops the fixed-length graph always had (a constant
position row, a reshape to ``(-1, 1, 1, seq)``), so every exporter, which traces the model at
its declared input shape, writes the same artifact; given an unknown length they read it from
the tensor. Every other op of the encoder (Dense, reshapes with ``-1``, matmuls) is
length-agnostic already.

A Keras functional model still refuses inputs whose shape differs from its ``keras.Input``s;
:func:`any_length` relaxes that check on one model object, for training only (it is not saved:
a reloaded or cloned model is fixed-length again until relaxed). :func:`accepts_any_length`
tells whether a model's graph has these layers (models saved before them do not).

TensorFlow is imported inside functions, as in :mod:`edgekit.models.bert.encoder`.
"""

from __future__ import annotations

from typing import Any

#: Layer names in the encoder graph.
POSITION_IDS = "embeddings/position_ids"
KEY_MASK = "mask/expand"

_LAYERS: dict[str, type] = {}


def _length(tf: Any, x: Any) -> Any:
    """The static length of ``x``'s second axis when known, else a tensor read at run time."""
    return x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]


def position_ids_layer() -> type:
    """The registered layer ``input_ids -> position ids`` (created once, after TF is imported)."""
    if "PositionIds" not in _LAYERS:
        from edgekit import _tf

        tf, keras = _tf.tf(), _tf.keras()

        @keras.saving.register_keras_serializable(package="edgekit", name="PositionIds")
        class PositionIds(keras.layers.Layer):
            """``0..seq-1`` for every example, broadcast to the batch so they stay connected to
            the inputs in the graph."""

            def call(self, input_ids: Any) -> Any:
                seq = _length(tf, input_ids)
                if isinstance(seq, int):  # the fixed-length graph's ops, unchanged
                    row = tf.constant([list(range(seq))], dtype=tf.int32)
                else:
                    row = tf.range(seq, dtype=tf.int32)[tf.newaxis, :]
                return tf.add(tf.zeros_like(input_ids), row)

            def compute_output_shape(self, input_shape: Any) -> Any:
                return input_shape

        _LAYERS["PositionIds"] = PositionIds
    return _LAYERS["PositionIds"]


def key_mask_layer() -> type:
    """The registered layer ``attention_mask [batch, seq] -> keep [batch, 1, 1, seq]``, float."""
    if "KeyMask" not in _LAYERS:
        from edgekit import _tf

        tf, keras = _tf.tf(), _tf.keras()

        @keras.saving.register_keras_serializable(package="edgekit", name="KeyMask")
        class KeyMask(keras.layers.Layer):
            """1.0 for a real key, 0.0 for padding, shaped to broadcast over heads and queries."""

            def call(self, attention_mask: Any) -> Any:
                keep = tf.cast(attention_mask, tf.float32)
                return tf.reshape(keep, (-1, 1, 1, _length(tf, attention_mask)))

            def compute_output_shape(self, input_shape: Any) -> Any:
                return (input_shape[0], 1, 1, input_shape[1])

        _LAYERS["KeyMask"] = KeyMask
    return _LAYERS["KeyMask"]


def custom_objects() -> dict[str, Any]:
    """What ``load_model`` needs for a saved BERT with these layers."""
    return {"edgekit>PositionIds": position_ids_layer(), "edgekit>KeyMask": key_mask_layer()}


def accepts_any_length(model: Any) -> bool:
    """Whether ``model``'s graph reads its length at run time (built with these layers)."""
    names = {layer.name: type(layer).__name__ for layer in model.layers}
    return names.get(POSITION_IDS) == "PositionIds" and names.get(KEY_MASK) == "KeyMask"


def any_length(model: Any) -> Any:
    """``model`` itself, made to accept ``[batch, any length]`` inputs (Keras' input check
    relaxed to the rank); the caller checks :func:`accepts_any_length` first."""
    from edgekit import _tf

    keras = _tf.keras()
    model.input_spec = [keras.layers.InputSpec(ndim=2, name=t.name.split(":")[0])
                        for t in model.inputs]
    return model
