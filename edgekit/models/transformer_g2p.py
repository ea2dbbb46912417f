"""A small encoder-decoder Transformer (Vaswani et al. 2017) for grapheme to phoneme: the
encoder reads a word's letters, the decoder writes its phonemes one at a time, attending to
itself (causally) and to the encoder's output. Trained with teacher forcing: the whole-sequence
model takes the letters and the true phonemes so far and predicts each next phoneme.

Pre-LayerNorm blocks and learned positions (GPT's :class:`~edgekit.models.gpt` ``Positions``
layer; words are short and of bounded length, so a table costs little). Every projection is a
top-level ``Dense`` (``enc{i}_q``/``kv``/``proj``/``mlp1``/``mlp2``, ``dec{i}_qkv``/``proj``,
``dec{i}_cross_q``/``cross_kv``/``cross_proj``, ``dec{i}_mlp1``/``mlp2``, ``lm_head``), so TFMOT
and the int8 paths see them; the decoder's causal self-attention is GPT's ``CausalAttention``,
and the one new layer, :class:`PaddedAttention`, carries no weights: attention of queries to
keys/values that masks the word's padding. The same layers, looked up by name, make the
encoder and cached decoder-step graphs of :mod:`edgekit.models._g2p_cache`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models.gpt import attend, custom_layers as gpt_layers, merge_heads

_LAYERS: dict[str, Any] = {}
SOURCE, TARGET = "graphemes", "decoder_input"


class G2PConfig(BuilderConfig):
    dim: int = Field(128, ge=8, description="token width")
    encoder_depth: int = Field(2, ge=1, le=24, description="encoder blocks")
    decoder_depth: int = Field(2, ge=1, le=24, description="decoder blocks")
    heads: int = Field(4, ge=1, description="attention heads; must divide dim")
    mlp_dim: int = Field(512, ge=8, description="hidden width of each block's MLP")
    dropout: float = Field(0.1, ge=0, lt=1, description="on the letter and phoneme embeddings")


def split(x: Any, parts: int, heads: int) -> list[Any]:
    """``(batch, T, parts * dim)`` -> ``parts`` tensors ``(batch, heads, T, dim / heads)``."""
    tf = _tf.tf()
    batch, steps, width = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
    x = tf.transpose(tf.reshape(x, (batch, steps, parts, heads, width // (parts * heads))),
                     (2, 0, 3, 1, 4))
    return [x[i] for i in range(parts)]


def padded_attention(q: Any, kv: Any, source: Any, heads: int) -> Any:
    """Multi-head attention of ``q`` (batch, Tq, dim) to the fused ``kv`` (batch, S, 2 dim)
    of a word whose letter ids ``source`` (batch, S) are 0 where padded."""
    tf = _tf.tf()
    (qh,), (k, v) = split(q, 1, heads), split(kv, 2, heads)
    allowed = tf.cast(tf.not_equal(source, 0), tf.float32)[:, None, None, :]
    return merge_heads(attend(qh, k, v, allowed))


def custom_layers() -> dict[str, Any]:
    """GPT's layers plus :class:`PaddedAttention`, registered with Keras so a saved model loads
    again (the run cache)."""
    if _LAYERS:
        return _LAYERS
    keras = _tf.keras()

    @keras.saving.register_keras_serializable(package="edgekit", name="PaddedAttention")
    class PaddedAttention(keras.layers.Layer):
        """``[q, kv, source ids] -> context``: see :func:`padded_attention`."""

        def __init__(self, heads: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.heads = heads

        def call(self, inputs: list[Any]) -> Any:
            q, kv, source = inputs
            return padded_attention(q, kv, source, self.heads)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "heads": self.heads}

    _LAYERS.update(gpt_layers(), PaddedAttention=PaddedAttention)
    return _LAYERS


def encoder_names(i: int) -> dict[str, str]:
    return {p: f"enc{i}_{p}" for p in ("ln1", "q", "kv", "attention", "proj", "ln2", "mlp1",
                                       "mlp2")}


def decoder_names(i: int) -> dict[str, str]:
    return {p: f"dec{i}_{p}" for p in ("ln1", "qkv", "attention", "proj", "ln2", "cross_q",
                                       "cross_kv", "cross", "cross_proj", "ln3", "mlp1", "mlp2")}


def mlp(layer: Any, names: dict[str, str], norm: str, x: Any) -> Any:
    """The block's position-wise MLP branch (pre-norm)."""
    return layer(names["mlp2"])(layer(names["mlp1"])(layer(names[norm])(x)))


def encoder_block(layer: Any, i: int, x: Any, source: Any) -> Any:
    """One pre-norm encoder block of the built model's layers (``layer``: name -> layer)."""
    n = encoder_names(i)
    h = layer(n["ln1"])(x)
    x = x + layer(n["proj"])(layer(n["attention"])([layer(n["q"])(h), layer(n["kv"])(h),
                                                     source]))
    return x + mlp(layer, n, "ln2", x)


def cross_and_mlp(layer: Any, i: int, x: Any, memory: Any, source: Any) -> Any:
    """The decoder block's second half: attention to the encoder output, then the MLP."""
    n = decoder_names(i)
    q = layer(n["cross_q"])(layer(n["ln2"])(x))
    x = x + layer(n["cross_proj"])(layer(n["cross"])([q, layer(n["cross_kv"])(memory), source]))
    return x + mlp(layer, n, "ln3", x)


def depths(model: Any) -> tuple[int, int]:
    """``(encoder blocks, decoder blocks)`` of a built model, from its layer names."""
    names = {layer.name for layer in model.layers}
    enc = dec = 0
    while encoder_names(enc + 1)["q"] in names:
        enc += 1
    while decoder_names(dec + 1)["qkv"] in names:
        dec += 1
    return enc, dec


class TransformerG2P(ModelBuilder[G2PConfig]):
    name = "transformer_g2p"
    family = "encoder_decoder"
    Config = G2PConfig

    def build(self, config: G2PConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        if config.dim % config.heads:
            raise EdgekitError(f"transformer_g2p: heads ({config.heads}) must divide dim "
                               f"({config.dim})", where="model.params.heads",
                               fix="pick heads that divide dim")
        shapes = data.input_shapes()
        if data.task != "g2p" or set(shapes) != {SOURCE, TARGET}:
            raise EdgekitError(f"data set '{data.name}' is not grapheme-to-phoneme pairs",
                               where="data.dataset", fix="use the cmudict data set with the "
                               "transformer_g2p model")
        letters, phonemes = len(data.extra["grapheme_vocab"]), len(data.extra["phoneme_vocab"])
        (src_len,), (tgt_len,) = shapes[SOURCE], shapes[TARGET]
        from edgekit.models.bert.encoder import erf_gelu

        layers, dim, gelu = custom_layers(), config.dim, erf_gelu()
        built: dict[str, Any] = {}

        def layer(name: str) -> Any:  # each named layer made once, on first use
            if name not in built:
                built[name] = make(name.split("_", 1)[1] if "_" in name else name, name)
            return built[name]

        def make(part: str, name: str) -> Any:
            width = {"qkv": 3 * dim, "kv": 2 * dim, "cross_kv": 2 * dim,
                     "mlp1": config.mlp_dim}.get(part, dim)
            if part.startswith("ln"):
                return L.LayerNormalization(epsilon=1e-5, name=name)
            if part in ("attention", "cross"):
                kind = "CausalAttention" if name.startswith("dec") and part == "attention" \
                    else "PaddedAttention"
                return layers[kind](config.heads, name=name)
            return L.Dense(width, activation=gelu if part == "mlp1" else None, name=name)

        def dropped(x: Any) -> Any:
            return L.Dropout(config.dropout)(x) if config.dropout else x

        source = keras.Input(shape=(src_len,), dtype="int32", name=SOURCE)
        target = keras.Input(shape=(tgt_len,), dtype="int32", name=TARGET)
        x = L.Embedding(letters, dim, name="src_embed")(source)
        x = dropped(layers["Positions"](src_len, dim, name="src_positions")(x))
        for i in range(1, config.encoder_depth + 1):
            x = encoder_block(layer, i, x, source)
        memory = L.LayerNormalization(epsilon=1e-5, name="enc_ln")(x)
        y = L.Embedding(phonemes, dim, name="tgt_embed")(target)
        y = dropped(layers["Positions"](tgt_len, dim, name="tgt_positions")(y))
        for i in range(1, config.decoder_depth + 1):
            n = decoder_names(i)
            h = layer(n["attention"])(layer(n["qkv"])(layer(n["ln1"])(y)))
            y = y + layer(n["proj"])(h)
            y = cross_and_mlp(layer, i, y, memory, source)
        logits = L.Dense(phonemes, name="lm_head")(
            L.LayerNormalization(epsilon=1e-5, name="final_ln")(y))
        return keras.Model([source, target], logits, name=self.name)

    def custom_objects(self) -> dict[str, Any]:
        from edgekit.models.bert.encoder import custom_objects

        return {**custom_objects(), **{f"edgekit>{k}": v for k, v in custom_layers().items()}}


MODELS.register(TransformerG2P.name, TransformerG2P())
