"""Start a :mod:`edgekit.models.gpt` model from a Hugging Face GPT-2-format checkpoint
(``gpt2``, ``distilgpt2``, or any folder ``GPT2LMHeadModel.save_pretrained`` wrote), without
PyTorch.

The folder comes from the BERT family's spec resolution (:func:`~edgekit.models.bert.sources.
resolve_teacher`: a folder, ``package:NAME`` or a hub id) and its tensors from the same reader
(:func:`~edgekit.models.bert.checkpoint.read_tensors`: ``model.safetensors`` through
safetensors' numpy API; ``pytorch_model.bin`` only with ``allow_pickle``). GPT-2 maps onto
edgekit's GPT one to one: both are pre-LayerNorm with a final LayerNorm, GPT-2's ``Conv1D``
weights are stored ``[in, out]`` as Keras ``Dense`` kernels are, and ``c_attn`` packs q, k, v
(each head-major) in the order :func:`~edgekit.models.gpt.split_heads` splits them. GPT-2's
output layer is the token table itself (tied): ``lm_head`` gets ``wte`` transposed and a zero
bias, so the loaded model computes transformers' logits; fine-tuning then trains the two
copies separately.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit.errors import EdgekitError

WHERE = "model.params.checkpoint"
#: config.json's activation_function -> GPTConfig.activation
ACTIVATIONS = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu"}
#: Per-block buffers older GPT-2 files carry (the causal mask), not weights.
BUFFERS = re.compile(r"^h\.\d+\.attn\.(bias|masked_bias)$")


@dataclass(frozen=True)
class GPT2Config:
    """The fields of a GPT-2 ``config.json`` that shape the model."""

    n_layer: int
    n_head: int
    n_embd: int
    n_inner: int
    n_positions: int
    vocab_size: int
    layer_norm_epsilon: float
    activation: str  # GPTConfig.activation

    @classmethod
    def from_folder(cls, folder: str | Path) -> "GPT2Config":
        path = Path(folder) / "config.json"
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise EdgekitError(f"cannot read a GPT-2 config ({type(exc).__name__}: {exc})",
                               where=path, fix="point model.params.checkpoint at a GPT-2 "
                               "checkpoint folder (config.json + model.safetensors)") from None

        def bad(what: str) -> EdgekitError:
            return EdgekitError(f"not a GPT-2 checkpoint this model can match: {what}",
                                where=path, fix="use a GPT-2-format checkpoint (gpt2, "
                                "distilgpt2, or a GPT2LMHeadModel saved with save_pretrained)")

        if raw.get("model_type", "gpt2") != "gpt2":
            raise bad(f"model_type is {raw.get('model_type')!r}")
        missing = [k for k in ("n_layer", "n_head", "n_embd", "vocab_size") if k not in raw]
        if missing:
            raise bad(f"config.json lacks {', '.join(missing)}")
        act = raw.get("activation_function", "gelu_new")
        if act not in ACTIVATIONS:
            raise bad(f"activation_function {act!r} (supported: {', '.join(ACTIVATIONS)})")
        if not raw.get("scale_attn_weights", True) or raw.get("scale_attn_by_inverse_layer_idx"):
            raise bad("attention scaling other than 1/sqrt(head_dim)")
        if raw["n_embd"] % raw["n_head"]:
            raise bad(f"n_head {raw['n_head']} does not divide n_embd {raw['n_embd']}")
        return cls(n_layer=int(raw["n_layer"]), n_head=int(raw["n_head"]),
                   n_embd=int(raw["n_embd"]),
                   n_inner=int(raw.get("n_inner") or 4 * raw["n_embd"]),
                   n_positions=int(raw.get("n_positions", raw.get("n_ctx", 1024))),
                   vocab_size=int(raw["vocab_size"]),
                   layer_norm_epsilon=float(raw.get("layer_norm_epsilon", 1e-5)),
                   activation=ACTIVATIONS[act])

    def gpt_params(self) -> dict[str, Any]:
        """The :class:`~edgekit.models.gpt.GPTConfig` fields this checkpoint fixes."""
        return {"dim": self.n_embd, "depth": self.n_layer, "heads": self.n_head,
                "mlp_dim": self.n_inner, "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon}


def checkpoint_folder(spec: str) -> Path:
    """The local folder of ``spec`` (folder, ``package:NAME`` or hub id), or one line naming
    the field and the fix."""
    from edgekit.models.bert.sources import resolve_teacher

    try:
        return resolve_teacher(spec)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise EdgekitError(str(exc), where=WHERE, fix="pass a GPT-2 checkpoint folder, "
                           "package:NAME or a hub id such as gpt2 / distilgpt2") from None


def weights_file(folder: Path) -> Path:
    from edgekit.models.bert.checkpoint import PICKLE_BIN, SAFETENSORS

    st = folder / SAFETENSORS
    return st if st.is_file() or not (folder / PICKLE_BIN).is_file() else folder / PICKLE_BIN


def load_gpt2_checkpoint(folder: str | Path, *, allow_pickle: bool = False
                         ) -> tuple[GPT2Config, dict[str, np.ndarray]]:
    """``config.json`` and the float32 weights of a GPT-2 checkpoint folder, keyed by bare
    GPT-2 names (``wte.weight``, ``h.0.attn.c_attn.weight``, ...: the ``transformer.`` prefix
    of ``GPT2LMHeadModel`` files stripped, mask buffers dropped)."""
    from edgekit.models.bert.checkpoint import read_tensors

    folder = Path(folder)
    config = GPT2Config.from_folder(folder)
    try:
        raw = read_tensors(folder, allow_pickle)
    except (ValueError, FileNotFoundError) as exc:
        raise EdgekitError(str(exc), where=WHERE, fix="use an intact model.safetensors "
                           "checkpoint, or set model.params.allow_pickle: true for a .bin "
                           "you trust") from None
    weights = {}
    for name, value in raw.items():
        bare = name.removeprefix("transformer.")
        if not BUFFERS.match(bare):
            weights[bare] = np.asarray(value, dtype=np.float32)
    return config, weights


def weight_map(config: GPT2Config, block_names: Callable[[int], dict[str, str]]
               ) -> dict[str, list[str]]:
    """Keras layer name -> the GPT-2 tensors of its weights, in ``get_weights()`` order
    (``lm_head`` is handled apart: tied to ``wte``); ``block_names(i)`` names block ``i``'s
    layers (:func:`edgekit.models.gpt.block_names`, passed in: this module sits below gpt)."""
    out = {"token_embed": ["wte.weight"], "positions": ["wpe.weight"]}
    hf = {"ln1": "ln_1", "qkv": "attn.c_attn", "proj": "attn.c_proj", "ln2": "ln_2",
          "mlp1": "mlp.c_fc", "mlp2": "mlp.c_proj"}
    for i in range(config.n_layer):
        names = block_names(i + 1)
        for part, stem in hf.items():
            out[names[part]] = [f"h.{i}.{stem}.weight", f"h.{i}.{stem}.bias"]
    out["final_ln"] = ["ln_f.weight", "ln_f.bias"]
    return out


def assign_gpt2_weights(model: Any, weights: dict[str, np.ndarray], config: GPT2Config,
                        block_names: Callable[[int], dict[str, str]],
                        source: str | Path = "the checkpoint") -> None:
    """Load GPT-2-named weights into a model :class:`~edgekit.models.gpt.GPT` built at the
    checkpoint's sizes. Strict: a missing, unexpected or misshapen tensor is one
    :class:`EdgekitError` naming ``source`` (the weights file) and the tensor, since a
    silently skipped tensor yields a model that runs but is wrong. The position table is cut
    to the model's length (the data's ``seq_len``)."""
    def fail(what: str) -> EdgekitError:
        return EdgekitError(what, where=source, fix="use the checkpoint's own config.json and "
                            "weights (a complete GPT-2 save_pretrained folder)")

    mapping = weight_map(config, block_names)
    tied = "lm_head.weight" not in weights
    expected = {n for names in mapping.values() for n in names} | {"lm_head.weight"}
    missing = [n for names in mapping.values() for n in names if n not in weights]
    if missing:
        raise fail(f"tensor {missing[0]} is missing" + (
            f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    unexpected = sorted(set(weights) - expected)
    if unexpected:
        raise fail(f"unexpected tensor {unexpected[0]}" + (
            f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
            + ": not a GPT-2 layout this model matches")
    for layer_name, names in mapping.items():
        layer = model.get_layer(layer_name)
        current = layer.get_weights()
        values = []
        for name, now in zip(names, current):
            value = weights[name]
            if layer_name == "positions":
                if value.ndim != 2 or value.shape[0] < now.shape[0]:
                    raise fail(f"tensor {name} has shape {value.shape}; the model needs "
                               f"{now.shape[0]} positions of width {now.shape[1]}")
                value = value[:now.shape[0]]
            if value.shape != now.shape:
                raise fail(f"tensor {name} has shape {value.shape}, layer {layer_name!r} "
                           f"needs {now.shape}; config.json does not describe this file")
            values.append(value)
        layer.set_weights(values)
    head = model.get_layer("lm_head")
    kernel, bias = head.get_weights()
    table = weights["wte.weight" if tied else "lm_head.weight"]
    if table.T.shape != kernel.shape:
        raise fail(f"tensor {'wte.weight' if tied else 'lm_head.weight'} has shape "
                   f"{table.shape}, lm_head needs {kernel.T.shape}")
    head.set_weights([np.ascontiguousarray(table.T), np.zeros_like(bias)])


def gpt2_config_of(model: Any, block_names: Callable[[int], dict[str, str]]) -> GPT2Config:
    """The GPT-2 config that describes a :class:`~edgekit.models.gpt.GPT` Keras model, read
    from its layers (depth from the ``block{i}`` layers, heads from the attention layer, the
    GELU form from the MLP's activation)."""
    depth = 0
    while any(layer.name == block_names(depth + 1)["qkv"] for layer in model.layers):
        depth += 1
    first = block_names(1)
    embed = model.get_layer("token_embed")
    activation = getattr(model.get_layer(first["mlp1"]).activation, "__name__", "")
    return GPT2Config(n_layer=depth, n_head=int(model.get_layer(first["attention"]).heads),
                      n_embd=int(embed.output_dim),
                      n_inner=int(model.get_layer(first["mlp1"]).units),
                      n_positions=int(model.get_layer("positions").max_len),
                      vocab_size=int(embed.input_dim),
                      layer_norm_epsilon=float(model.get_layer("final_ln").epsilon),
                      activation="gelu_new" if activation == "gelu_new" else "gelu")


def write_gpt2_checkpoint(model: Any, folder: str | Path,
                          block_names: Callable[[int], dict[str, str]]) -> np.ndarray:
    """Write a :class:`~edgekit.models.gpt.GPT` Keras model as a Hugging Face GPT-2 checkpoint
    (``config.json`` + ``model.safetensors``, what ``GPT2LMHeadModel.from_pretrained`` reads):
    the inverse of :func:`load_gpt2_checkpoint` / :func:`assign_gpt2_weights`, so the same
    trained weights run on GPT-2 tooling (the peer benchmark, ``benchmarks/gpt_peer.py``).

    A model trained here has its own output layer, so it is written untied
    (``tie_word_embeddings: false``, ``lm_head.weight``). GPT-2's output layer has no bias and
    ours has one: it is returned, not written (the format has no place for it), and a caller
    that needs the same logits adds it (for a model loaded from GPT-2 it is zero)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    config = gpt2_config_of(model, block_names)
    tensors: dict[str, np.ndarray] = {}
    for layer_name, names in weight_map(config, block_names).items():
        for name, value in zip(names, model.get_layer(layer_name).get_weights()):
            tensors[f"transformer.{name}"] = np.ascontiguousarray(value, dtype=np.float32)
    kernel, bias = model.get_layer("lm_head").get_weights()
    tensors["lm_head.weight"] = np.ascontiguousarray(kernel.T, dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": config.n_layer,
        "n_head": config.n_head, "n_embd": config.n_embd, "n_inner": config.n_inner,
        "n_positions": config.n_positions, "n_ctx": config.n_positions,
        "vocab_size": config.vocab_size, "layer_norm_epsilon": config.layer_norm_epsilon,
        "activation_function": config.activation, "tie_word_embeddings": False,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "scale_attn_weights": True, "bos_token_id": None, "eos_token_id": None}, indent=2),
        encoding="utf-8")
    return np.asarray(bias, dtype=np.float32)
