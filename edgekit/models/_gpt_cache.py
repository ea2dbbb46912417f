"""The two graphs a device generates text with, built from a trained :mod:`edgekit.models.gpt`
model's own layers (looked up by name, so they share its weights):

* **prefill** ``input_ids (1, T) -> logits (1, T, V), k_cache, v_cache``: the prompt, padded to
  the fixed length ``T`` the model was trained at; causal masking keeps every position blind to
  the padding after it, so the device reads the logits at the prompt's last position and the
  cache rows up to it.
* **decode** ``token (1, 1), position (1,), past_k, past_v -> logits (1, V), k_cache,
  v_cache``: one new token at ``position``; its key and value are written into row
  ``position`` of the caches (a one-hot blend: no scatter op, so every converter and runtime
  takes it), and it attends to rows ``0..position``.

Caches are ``(layers, 1, heads, T, head_dim)`` float32, explicit inputs and outputs: the
device loop (:mod:`edgekit.device.generate`) hands each step's caches to the next. Fixed
shapes throughout, so TFLite, ONNX and OpenVINO compile them once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit import _tf
from edgekit.models.gpt import attend, block_names, merge_heads, split_heads

#: Input and output names of the two graphs (the device loop feeds and reads these).
PREFILL_INPUTS = ("input_ids",)
DECODE_INPUTS = ("token", "position", "past_k", "past_v")
OUTPUTS = ("k_cache", "logits", "v_cache")  # sorted: the order converters flatten a dict in


@dataclass(frozen=True)
class CacheShape:
    layers: int
    heads: int
    steps: int  # the fixed maximum length T
    head_dim: int
    vocab: int

    @property
    def cache(self) -> tuple[int, ...]:
        return (self.layers, 1, self.heads, self.steps, self.head_dim)

    def to_json(self) -> dict[str, int]:
        return {"layers": self.layers, "heads": self.heads, "max_len": self.steps,
                "head_dim": self.head_dim, "vocab": self.vocab}


def cache_shape(model: Any) -> CacheShape:
    names = {layer.name for layer in model.layers}
    depth = 0
    while block_names(depth + 1)["qkv"] in names:
        depth += 1
    attention = model.get_layer(block_names(1)["attention"])
    positions = model.get_layer("positions")
    return CacheShape(depth, attention.heads, positions.max_len,
                      positions.dim // attention.heads, model.get_layer("lm_head").units)


def cache_row(position: Any, steps: int) -> tuple[Any, Any]:
    """For a one-token decode step at ``position`` over a fixed-length cache: the one-hot row
    the new key and value are written to (``cache * (1 - row) + new * row``: the graph keeps
    fixed shapes, no scatter) and the mask of the positions it may attend to (those up to and
    including it)."""
    tf = _tf.tf()
    row = tf.reshape(tf.one_hot(position, steps), (1, 1, steps, 1))
    allowed = tf.reshape(tf.cast(tf.range(steps) <= position[0], tf.float32), (1, 1, 1, steps))
    return row, allowed


def _block(model: Any, i: int, x: Any, qkv_to_ctx: Any) -> tuple[Any, Any, Any]:
    """One pre-norm block with the attention replaced by ``qkv_to_ctx(qkv) -> (ctx, k, v)``."""
    n = block_names(i)
    layer = model.get_layer
    h = layer(n["qkv"])(layer(n["ln1"])(x))
    ctx, k, v = qkv_to_ctx(h)
    x = x + layer(n["proj"])(ctx)
    x = x + layer(n["mlp2"])(layer(n["mlp1"])(layer(n["ln2"])(x)))
    return x, k, v


def cached_functions(model: Any) -> tuple[Any, Any, CacheShape]:
    """``(prefill, decode, shape)``: two ``tf.function``s with fixed input signatures."""
    tf = _tf.tf()
    shape = cache_shape(model)
    layer = model.get_layer
    steps = shape.steps

    @tf.function(input_signature=[tf.TensorSpec((1, steps), tf.int32, name="input_ids")])
    def prefill(input_ids: Any) -> dict[str, Any]:
        x = layer("positions")(layer("token_embed")(input_ids))
        allowed = tf.linalg.band_part(tf.ones((steps, steps)), -1, 0)
        keys, values = [], []

        def full(qkv: Any) -> tuple[Any, Any, Any]:
            q, k, v = split_heads(qkv, shape.heads)
            return merge_heads(attend(q, k, v, allowed)), k, v

        for i in range(1, shape.layers + 1):
            x, k, v = _block(model, i, x, full)
            keys.append(k)
            values.append(v)
        logits = layer("lm_head")(layer("final_ln")(x))
        return {"logits": logits, "k_cache": tf.stack(keys), "v_cache": tf.stack(values)}

    @tf.function(input_signature=[tf.TensorSpec((1, 1), tf.int32, name="token"),
                                  tf.TensorSpec((1,), tf.int32, name="position"),
                                  tf.TensorSpec(shape.cache, tf.float32, name="past_k"),
                                  tf.TensorSpec(shape.cache, tf.float32, name="past_v")])
    def decode(token: Any, position: Any, k_cache: Any, v_cache: Any) -> dict[str, Any]:
        table = layer("positions").table
        x = layer("token_embed")(token) + tf.gather(table, position)[:, None, :]
        row, allowed = cache_row(position, steps)
        keys, values = [], []
        for i in range(1, shape.layers + 1):
            def step(qkv: Any, i: int = i) -> tuple[Any, Any, Any]:
                q, k, v = split_heads(qkv, shape.heads)
                k_all = k_cache[i - 1] * (1.0 - row) + k * row
                v_all = v_cache[i - 1] * (1.0 - row) + v * row
                return merge_heads(attend(q, k_all, v_all, allowed)), k_all, v_all

            x, k, v = _block(model, i, x, step)
            keys.append(k)
            values.append(v)
        logits = layer("lm_head")(layer("final_ln")(x))[:, 0, :]
        return {"logits": logits, "k_cache": tf.stack(keys), "v_cache": tf.stack(values)}

    return prefill, decode, shape


def calibration_feeds(model: Any, windows: Any, prompts: int = 16,
                      steps: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Inputs each graph sees on a device, for a static int8 quantizer's activation ranges:
    ``prompts`` training windows cut to a prompt (lengths spread over the fixed length) and
    zero-padded, for prefill; for decode, ``steps`` steps after each prompt with the window's
    own next tokens and the caches the float graphs give (so the ranges cover real caches,
    not zeros). ``{"prefill": [feed, ...], "decode": [feed, ...]}``, NumPy arrays."""
    import numpy as np

    prefill, decode, shape = cached_functions(model)
    windows = np.asarray(windows, dtype=np.int32)[:prompts]
    feeds: dict[str, list[dict[str, Any]]] = {"prefill": [], "decode": []}
    for i, window in enumerate(windows):
        length = 1 + (i * 7919) % max(1, shape.steps - steps)  # spread, reproducible
        ids = np.zeros((1, shape.steps), np.int32)
        ids[0, :length] = window[:length]
        feeds["prefill"].append({"input_ids": ids})
        out = prefill(ids)
        k, v = out["k_cache"].numpy(), out["v_cache"].numpy()
        for position in range(length, min(length + steps, shape.steps)):
            feed = {"token": window[position:position + 1][None].astype(np.int32),
                    "position": np.array([position], np.int32), "past_k": k, "past_v": v}
            feeds["decode"].append(feed)
            out = decode(feed["token"], feed["position"], k, v)
            k, v = out["k_cache"].numpy(), out["v_cache"].numpy()
    return feeds
