"""A small GPT (Radford et al. 2018/2019): decoder-only, causal self-attention, learned
positions, pre-LayerNorm blocks, a separate output projection; trained from scratch as a
next-token language model.

Every projection is a top-level ``Dense`` layer (``block{i}_qkv``, ``block{i}_proj``,
``block{i}_mlp1``/``mlp2``, ``lm_head``), so TFMOT and the int8 paths see them; the only custom
layers carry no projection: :class:`Positions` (the learned table) and :class:`CausalAttention`
(the masked softmax over the fused q/k/v). The same layers, looked up by name, make the KV-cache
graphs of :mod:`edgekit.models._gpt_cache`, so the cached and full forwards share weights.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder

_LAYERS: dict[str, Any] = {}


class GPTConfig(BuilderConfig):
    dim: int = Field(128, ge=8, description="token width")
    depth: int = Field(2, ge=1, le=48, description="decoder blocks")
    heads: int = Field(4, ge=1, description="attention heads; must divide dim")
    mlp_dim: int = Field(512, ge=8, description="hidden width of each block's MLP")
    dropout: float = Field(0.1, ge=0, lt=1, description="on the embeddings and residual branches")
    activation: Literal["gelu", "gelu_new"] = Field(
        "gelu", description="the MLP's GELU: exact erf form, or GPT-2's tanh approximation")
    layer_norm_epsilon: float = Field(1e-5, gt=0, description="every LayerNorm's epsilon")
    checkpoint: str | None = Field(
        None, description="start from a Hugging Face GPT-2-format checkpoint (folder, "
        "package:NAME or hub id such as gpt2 / distilgpt2): its config.json sets dim, depth, "
        "heads, mlp_dim, activation and epsilon, and model.safetensors the weights")
    allow_pickle: bool = Field(False, description="read the checkpoint's pytorch_model.bin when "
                               "it has no model.safetensors: a .bin file is a Python pickle and "
                               "loading it can run code from the file; only for files you trust")


def custom_layers() -> dict[str, Any]:
    """The two custom layers, defined once after TF is imported and registered with Keras so a
    saved GPT loads again (the run cache)."""
    if _LAYERS:
        return _LAYERS
    tf, keras = _tf.tf(), _tf.keras()

    @keras.saving.register_keras_serializable(package="edgekit", name="Positions")
    class Positions(keras.layers.Layer):
        """Adds a learned ``(max_len, dim)`` position table to token embeddings."""

        def __init__(self, max_len: int, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.max_len, self.dim = max_len, dim

        def build(self, input_shape: Any) -> None:
            self.table = self.add_weight(name="table", shape=(self.max_len, self.dim),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

        def call(self, x: Any) -> Any:
            return x + self.table[None, :tf.shape(x)[1]]

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "max_len": self.max_len, "dim": self.dim}

    @keras.saving.register_keras_serializable(package="edgekit", name="CausalAttention")
    class CausalAttention(keras.layers.Layer):
        """Multi-head attention of a fused ``(batch, T, 3 * dim)`` q/k/v projection, each
        position attending to itself and the positions before it."""

        def __init__(self, heads: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.heads = heads

        def call(self, qkv: Any) -> Any:
            q, k, v = split_heads(qkv, self.heads)
            steps = tf.shape(q)[2]
            allowed = tf.linalg.band_part(tf.ones((steps, steps)), -1, 0)
            return merge_heads(attend(q, k, v, allowed))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "heads": self.heads}

    @keras.saving.register_keras_serializable(package="edgekit", name="gelu_new")
    def gelu_new(x: Any) -> Any:
        """GPT-2's GELU (HF ``gelu_new``): the tanh approximation, written out so every
        converter sees plain ops."""
        return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))

    _LAYERS.update(Positions=Positions, CausalAttention=CausalAttention, gelu_new=gelu_new)
    return _LAYERS


def split_heads(qkv: Any, heads: int) -> tuple[Any, Any, Any]:
    """``(batch, T, 3 * dim)`` -> q, k, v each ``(batch, heads, T, dim / heads)``."""
    tf = _tf.tf()
    batch, steps, width = tf.shape(qkv)[0], tf.shape(qkv)[1], qkv.shape[-1]
    parts = tf.reshape(qkv, (batch, steps, 3, heads, width // (3 * heads)))
    parts = tf.transpose(parts, (2, 0, 3, 1, 4))
    return parts[0], parts[1], parts[2]


def merge_heads(ctx: Any) -> Any:
    """``(batch, heads, T, head_dim)`` -> ``(batch, T, heads * head_dim)``."""
    tf = _tf.tf()
    ctx = tf.transpose(ctx, (0, 2, 1, 3))
    return tf.reshape(ctx, (tf.shape(ctx)[0], tf.shape(ctx)[1], ctx.shape[2] * ctx.shape[3]))


def attend(q: Any, k: Any, v: Any, allowed: Any) -> Any:
    """Scaled dot-product attention; ``allowed`` (1 = may attend) broadcasts over the scores.
    Masked scores get -1e9 added rather than -inf: no NaN when a row is all masked, and every
    runtime's softmax handles it."""
    tf = _tf.tf()
    scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(q.shape[-1]))
    scores += (1.0 - allowed) * -1e9
    return tf.matmul(tf.nn.softmax(scores, axis=-1), v)


def block_names(i: int) -> dict[str, str]:
    return {part: f"block{i}_{part}" for part in
            ("ln1", "qkv", "attention", "proj", "ln2", "mlp1", "mlp2")}


#: Layers outside the blocks that hold weights: what a shallower copy keeps as they are.
SHARED_LAYERS = ("token_embed", "positions", "final_ln", "lm_head")


def depth_of(model: Any) -> int:
    """Number of decoder blocks of a model built by :class:`GPT`."""
    names = {layer.name for layer in model.layers}
    depth = 0
    while block_names(depth + 1)["qkv"] in names:
        depth += 1
    return depth


def config_of(model: Any) -> GPTConfig:
    """The :class:`GPTConfig` a built GPT has, read from its layers (not from the recipe: a
    GPT-2 checkpoint sets the sizes, and a stage sees only the model). ``checkpoint`` is None:
    the config builds a fresh model of the same shape."""
    first = block_names(1)
    mlp1 = model.get_layer(first["mlp1"])
    return GPTConfig(dim=model.get_layer("positions").dim, depth=depth_of(model),
                     heads=model.get_layer(first["attention"]).heads, mlp_dim=mlp1.units,
                     dropout=model.get_layer("embed_dropout").rate,
                     activation="gelu_new" if mlp1.activation.__name__ == "gelu_new" else "gelu",
                     layer_norm_epsilon=model.get_layer("final_ln").epsilon)


def copy_blocks(src: Any, dst: Any, mapping: list[int]) -> None:
    """Give ``dst`` ``src``'s embeddings, final norm and output layer, and as its block
    ``j + 1`` ``src``'s block ``mapping[j] + 1`` (DistilGPT2's initialisation of a shallower
    student from its teacher)."""
    for name in SHARED_LAYERS:
        dst.get_layer(name).set_weights(src.get_layer(name).get_weights())
    for j, t in enumerate(mapping):
        for part, name in block_names(j + 1).items():
            dst.get_layer(name).set_weights(src.get_layer(block_names(t + 1)[part]).get_weights())


class GPT(ModelBuilder[GPTConfig]):
    name = "gpt"
    family = "gpt"
    Config = GPTConfig

    def build(self, config: GPTConfig, data: Dataset) -> Any:
        if not config.checkpoint:
            return self.build_layers(config, data)
        from edgekit.models._gpt_checkpoint import (assign_gpt2_weights, load_gpt2_checkpoint,
                                                    weights_file)

        folder, gpt2, sized = self.checkpoint_config(config, data)
        model = self.build_layers(sized, data)
        _, weights = load_gpt2_checkpoint(folder, allow_pickle=config.allow_pickle)
        assign_gpt2_weights(model, weights, gpt2, block_names, source=weights_file(folder))
        return model

    def checkpoint_config(self, config: GPTConfig, data: Dataset) -> tuple[Any, Any, GPTConfig]:
        """``model.params.checkpoint``'s folder, its GPT-2 config and ``config`` at the
        checkpoint's sizes, after checking the data fits it (the same vocabulary size, windows
        no longer than its position table)."""
        from edgekit.models._gpt_checkpoint import WHERE, GPT2Config, checkpoint_folder

        assert config.checkpoint
        folder = checkpoint_folder(config.checkpoint)
        gpt2 = GPT2Config.from_folder(folder)
        vocab, steps = data.extra.get("vocab_size"), data.extra.get("seq_len")
        if vocab and int(vocab) != gpt2.vocab_size:
            raise EdgekitError(
                f"checkpoint {config.checkpoint} has a {gpt2.vocab_size}-token vocabulary, data "
                f"set '{data.name}' {vocab}", where=WHERE, fix="tokenize the data with the "
                "checkpoint's own tokenizer (its tokenizer.json), or drop model.params.checkpoint")
        if steps and int(steps) > gpt2.n_positions:
            raise EdgekitError(f"data.params.seq_len {steps} exceeds the checkpoint's "
                               f"{gpt2.n_positions} positions", where="data.params.seq_len",
                               fix=f"set it to {gpt2.n_positions} or less")
        return folder, gpt2, config.model_copy(update=gpt2.gpt_params())

    def build_layers(self, config: GPTConfig, data: Dataset) -> Any:
        """The Keras model at ``config``'s sizes, freshly initialised."""
        from edgekit.models.bert.encoder import erf_gelu

        keras = _tf.keras()
        L = keras.layers
        if config.dim % config.heads:
            raise EdgekitError(f"gpt: heads ({config.heads}) must divide dim ({config.dim})",
                               where="model.params.heads", fix="pick heads that divide dim")
        vocab = data.extra.get("vocab_size")
        if data.task != "language_model" or not vocab:
            raise EdgekitError(f"data set '{data.name}' is not next-token text",
                               where="data.dataset", fix="use a language-model data set "
                               "(e.g. rotten_tomatoes_lm) with the gpt model")
        (input_name, (steps,)), = data.input_shapes().items()
        layers = custom_layers()
        activation = layers["gelu_new"] if config.activation == "gelu_new" else erf_gelu()
        eps = config.layer_norm_epsilon

        def init() -> Any:  # GPT-2's N(0, 0.02), a fresh initializer per layer
            return keras.initializers.RandomNormal(stddev=0.02)

        inp = keras.Input(shape=(steps,), dtype="int32", name=input_name)
        x = L.Embedding(int(vocab), config.dim, embeddings_initializer=init(),
                        name="token_embed")(inp)
        x = layers["Positions"](steps, config.dim, name="positions")(x)
        x = L.Dropout(config.dropout, name="embed_dropout")(x)
        for i in range(1, config.depth + 1):
            n = block_names(i)
            h = L.LayerNormalization(epsilon=eps, name=n["ln1"])(x)
            h = L.Dense(3 * config.dim, kernel_initializer=init(), name=n["qkv"])(h)
            h = layers["CausalAttention"](config.heads, name=n["attention"])(h)
            h = L.Dense(config.dim, kernel_initializer=init(), name=n["proj"])(h)
            h = L.Dropout(config.dropout, name=f"block{i}_drop1")(h)
            x = L.Add(name=f"block{i}_res1")([x, h])
            h = L.LayerNormalization(epsilon=eps, name=n["ln2"])(x)
            h = L.Dense(config.mlp_dim, activation=activation, kernel_initializer=init(),
                        name=n["mlp1"])(h)
            h = L.Dense(config.dim, kernel_initializer=init(), name=n["mlp2"])(h)
            h = L.Dropout(config.dropout, name=f"block{i}_drop2")(h)
            x = L.Add(name=f"block{i}_res2")([x, h])
        x = L.LayerNormalization(epsilon=eps, name="final_ln")(x)
        logits = L.Dense(int(vocab), kernel_initializer=init(), name="lm_head")(x)
        return keras.Model(inp, logits, name=self.name)

    def footprint(self, config: GPTConfig, data: Dataset) -> Any:
        """Built without weights (with a checkpoint: at its sizes from its config.json alone,
        without reading its weights); ``arch`` is the config at those sizes."""
        from dataclasses import replace

        from edgekit.footprint import built_footprint

        sized = self.checkpoint_config(config, data)[2] if config.checkpoint else config
        model = self.build_layers(sized, data)
        try:  # arch: the sizes, for a stage's own estimate (distilgpt2's student)
            return replace(built_footprint(model), arch=sized)
        finally:
            del model
            _tf.keras().backend.clear_session()

    def custom_objects(self) -> dict[str, Any]:
        from edgekit.models.bert.encoder import custom_objects

        return {**custom_objects(), **{f"edgekit>{k}": v for k, v in custom_layers().items()}}


MODELS.register(GPT.name, GPT())
