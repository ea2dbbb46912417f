"""The two graphs a device decodes phonemes with, built from a trained
:mod:`edgekit.models.transformer_g2p` model's own layers (looked up by name, so they share its
weights):

* **encoder** ``graphemes (1, S) -> memory (1, S, dim)``: the word's letters, padded to the
  fixed length ``S``, once per word;
* **decode** ``token (1, 1), position (1,), graphemes, memory, past_k, past_v -> logits
  (1, V), k_cache, v_cache``: one phoneme at ``position``. Its self-attention key and value
  are written into row ``position`` of the caches and it attends to rows ``0..position`` (GPT's
  cache pattern, :mod:`edgekit.models._gpt_cache`: a one-hot blend, no scatter op); it attends
  to ``memory`` as the whole model does, the letters' padding masked by ``graphemes``.

Caches are ``(decoder blocks, 1, heads, T, head_dim)`` float32, explicit inputs and outputs;
memory is an explicit input too, so the step graph holds no state and every runtime compiles
it once at fixed shapes.
"""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.models._gpt_cache import CacheShape, cache_row
from edgekit.models.gpt import attend, merge_heads, split_heads
from edgekit.models.transformer_g2p import (SOURCE, cross_and_mlp, decoder_names, depths,
                                            encoder_block)

ENCODER_INPUTS = (SOURCE,)
ENCODER_OUTPUTS = ("memory",)
DECODE_INPUTS = ("token", "position", SOURCE, "memory", "past_k", "past_v")
DECODE_OUTPUTS = ("k_cache", "logits", "v_cache")  # sorted: the order converters flatten a dict in


def cache_shape(model: Any) -> CacheShape:
    """The decoder's self-attention cache; ``steps`` is the decoder's fixed length."""
    attention = model.get_layer(decoder_names(1)["attention"])
    positions = model.get_layer("tgt_positions")
    return CacheShape(depths(model)[1], attention.heads, positions.max_len,
                      positions.dim // attention.heads, model.get_layer("lm_head").units)


def source_length(model: Any) -> int:
    return int(model.get_layer("src_positions").max_len)


def cached_functions(model: Any) -> tuple[Any, Any, CacheShape]:
    """``(encoder, decode, shape)``: two ``tf.function``s with fixed input signatures."""
    tf = _tf.tf()
    shape = cache_shape(model)
    layer = model.get_layer
    src_len, steps, enc_depth = source_length(model), shape.steps, depths(model)[0]
    dim = shape.heads * shape.head_dim

    @tf.function(input_signature=[tf.TensorSpec((1, src_len), tf.int32, name=SOURCE)])
    def encoder(graphemes: Any) -> dict[str, Any]:
        x = layer("src_positions")(layer("src_embed")(graphemes))
        for i in range(1, enc_depth + 1):
            x = encoder_block(layer, i, x, graphemes)
        return {"memory": layer("enc_ln")(x)}

    @tf.function(input_signature=[tf.TensorSpec((1, 1), tf.int32, name="token"),
                                  tf.TensorSpec((1,), tf.int32, name="position"),
                                  tf.TensorSpec((1, src_len), tf.int32, name=SOURCE),
                                  tf.TensorSpec((1, src_len, dim), tf.float32, name="memory"),
                                  tf.TensorSpec(shape.cache, tf.float32, name="past_k"),
                                  tf.TensorSpec(shape.cache, tf.float32, name="past_v")])
    def decode(token: Any, position: Any, graphemes: Any, memory: Any, k_cache: Any,
               v_cache: Any) -> dict[str, Any]:
        table = layer("tgt_positions").table
        y = layer("tgt_embed")(token) + tf.gather(table, position)[:, None, :]
        row, allowed = cache_row(position, steps)
        keys, values = [], []
        for i in range(1, shape.layers + 1):
            n = decoder_names(i)
            q, k, v = split_heads(layer(n["qkv"])(layer(n["ln1"])(y)), shape.heads)
            k_all = k_cache[i - 1] * (1.0 - row) + k * row
            v_all = v_cache[i - 1] * (1.0 - row) + v * row
            y = y + layer(n["proj"])(merge_heads(attend(q, k_all, v_all, allowed)))
            y = cross_and_mlp(layer, i, y, memory, graphemes)
            keys.append(k_all)
            values.append(v_all)
        logits = layer("lm_head")(layer("final_ln")(y))[:, 0, :]
        return {"logits": logits, "k_cache": tf.stack(keys), "v_cache": tf.stack(values)}

    return encoder, decode, shape
