"""Read and write Hugging Face BERT checkpoints without PyTorch.

Weights travel as ``dict[str, np.ndarray]`` keyed by *bare* HF names (see
:mod:`edgekit.models.bert.names`), so the same dict serves BertModel, sentence-transformers and
BertForSequenceClassification checkpoints. Writing produces the BertForSequenceClassification
layout so ``transformers`` (and anything built on it) can load an edgekit model directly.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from . import names
from .config import BertConfig

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

#: Tokenizer files copied next to a saved model so the folder is self-contained.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                   "special_tokens_map.json")

SAFETENSORS = "model.safetensors"
PICKLE_BIN = "pytorch_model.bin"


class CheckpointMismatchError(ValueError):
    """The checkpoint's tensors do not fit the model (names or shapes)."""


# --- reading --------------------------------------------------------------------------------

def load_hf_checkpoint(folder: str | Path, *, allow_pickle: bool = False
                       ) -> tuple[BertConfig, dict[str, np.ndarray]]:
    """Load ``config.json`` and the weights of a HF BERT checkpoint folder.

    ``model.safetensors`` is read with the safetensors numpy API (no torch needed) and is
    preferred. ``pytorch_model.bin`` is used only when there is no safetensors file, torch is
    importable **and** ``allow_pickle=True``: a ``.bin`` file is a Python pickle, and unpickling
    can execute arbitrary code, so only opt in for files you trust (torch's ``weights_only``
    loader is used as a second line of defence).

    Returns the config and float32 weights keyed by bare HF names (``bert.`` prefix stripped,
    legacy ``gamma``/``beta`` renamed), with buffers such as ``position_ids`` dropped.
    """
    folder = Path(folder)
    config = BertConfig.from_hf_folder(folder)
    raw = read_tensors(folder, allow_pickle)
    weights: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        bare = names.canonical_hf_name(name)
        if bare in names.HF_BUFFERS:
            continue
        weights[bare] = np.asarray(value, dtype=np.float32)
    return config, weights


def read_tensors(folder: Path, allow_pickle: bool) -> dict[str, np.ndarray]:
    """The raw tensors of a HF checkpoint folder, by file name: ``model.safetensors`` (numpy,
    no torch), else ``pytorch_model.bin`` under :func:`load_hf_checkpoint`'s opt-in. Any
    architecture's (the GPT-2 loader reads through it too)."""
    st = folder / SAFETENSORS
    if st.is_file():
        from safetensors.numpy import load_file
        try:
            return load_file(str(st))
        except Exception as exc:  # SafetensorError: truncated, empty or not safetensors at all
            raise ValueError(f"{st} is truncated or not a safetensors file ({exc}); download or "
                             "convert the checkpoint again") from None
    if (folder / PICKLE_BIN).is_file():
        return _read_pickle_bin(folder / PICKLE_BIN, allow_pickle)
    raise FileNotFoundError(f"no {SAFETENSORS} or {PICKLE_BIN} in {folder}; pass a Hugging Face "
                            "checkpoint folder that has its weights")


def _read_pickle_bin(path: Path, allow_pickle: bool) -> dict[str, np.ndarray]:
    if not allow_pickle:
        raise ValueError(f"{path} is a pickle file, which can run code when loaded; convert it to "
                         "model.safetensors or pass allow_pickle=True if you trust it")
    try:
        import torch
    except ImportError as exc:
        raise ValueError(f"reading {path} needs PyTorch (pip install torch), or convert the "
                         "checkpoint to model.safetensors") from exc
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError: objects beyond tensors, or not a checkpoint
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")[:200]
        raise ValueError(f"{path} was refused by torch's safe (weights_only) loader "
                         f"({type(exc).__name__}: {first}); convert it to model.safetensors") \
            from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict of tensors; "
                         "convert it to model.safetensors")
    return {k: v.float().numpy() for k, v in state.items()}


# --- Keras <-> HF ---------------------------------------------------------------------------

def assign_hf_weights(model: "tf_keras.Model", weights: dict[str, np.ndarray],
                      config: BertConfig, *, allow_missing: Iterable[str] = (),
                      ignore_unexpected: Iterable[str] = ()) -> list[str]:
    """Load HF-named weights into a model from :func:`~edgekit.models.bert.encoder.build_bert`.

    Strict by default because a silently skipped tensor yields a model that runs but is wrong.
    ``allow_missing`` lists name prefixes that may be absent and keep their initialisation
    (e.g. ``("classifier.",)`` to put a new head on a BertModel/sentence-transformers
    encoder); ``ignore_unexpected`` lists prefixes of extra tensors to skip (e.g. ``"cls."``
    for BertForPreTraining heads). Layers the model does not contain (a model built without
    ``logits`` has no pooler/classifier) are skipped. Returns the HF names left at init.
    """
    allow_missing, ignore_unexpected = tuple(allow_missing), tuple(ignore_unexpected)
    weights = {names.canonical_hf_name(k): v for k, v in weights.items()}
    present = {layer.name for layer in model.layers}
    slots = [s for s in names.weight_slots(config.num_layers) if s.layer in present]

    expected = {s.hf_name for s in names.weight_slots(config.num_layers)}
    missing = sorted(s.hf_name for s in slots
                     if s.hf_name not in weights and not s.hf_name.startswith(allow_missing))
    unexpected = sorted(k for k in weights if k not in expected and k not in names.HF_BUFFERS
                        and not k.startswith(ignore_unexpected))
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"checkpoint does not match the model: missing {_short(missing)}; unexpected "
            f"{_short(unexpected)} (use allow_missing / ignore_unexpected prefixes if intended)")

    left_at_init = []
    by_layer: dict[str, list[np.ndarray]] = {}
    for slot in slots:
        current = by_layer.setdefault(slot.layer, model.get_layer(slot.layer).get_weights())
        if slot.hf_name not in weights:
            left_at_init.append(slot.hf_name)
            continue
        value = weights[slot.hf_name].T if slot.transpose else weights[slot.hf_name]
        if value.shape != current[slot.index].shape:
            raise CheckpointMismatchError(
                f"{slot.hf_name}: checkpoint shape {tuple(weights[slot.hf_name].shape)} does not "
                f"fit layer {slot.layer!r} (Keras shape {current[slot.index].shape}); the config "
                "does not describe this checkpoint")
        current[slot.index] = value
    for layer, values in by_layer.items():
        model.get_layer(layer).set_weights(values)
    return left_at_init


def extract_hf_weights(model: "tf_keras.Model", config: BertConfig) -> dict[str, np.ndarray]:
    """The model's weights as a bare-HF-named dict (inverse of :func:`assign_hf_weights`).

    Shapes are the model's own: a head-pruned model gives narrow Q/K/V (ONNX writers want
    that); :func:`save_hf_checkpoint` widens them for Hugging Face.
    """
    return hf_named(layer_weights(model, config), config)


def layer_weights(model: "tf_keras.Model", config: BertConfig) -> dict[str, list[np.ndarray]]:
    """Keras weights of every layer :func:`~edgekit.models.bert.names.weight_slots` names that
    the model has, keyed by layer name."""
    present = {layer.name for layer in model.layers}
    wanted = dict.fromkeys(s.layer for s in names.weight_slots(config.num_layers))
    return {name: model.get_layer(name).get_weights() for name in wanted if name in present}


def hf_named(layers: dict[str, list[np.ndarray]], config: BertConfig) -> dict[str, np.ndarray]:
    """Keras per-layer weights to bare HF names (torch Linear layout: kernels transposed)."""
    out: dict[str, np.ndarray] = {}
    for slot in names.weight_slots(config.num_layers):
        if slot.layer in layers:
            value = layers[slot.layer][slot.index]
            out[slot.hf_name] = np.ascontiguousarray(value.T if slot.transpose else value,
                                                     dtype=np.float32)
    return out


def _short(items: list[str], limit: int = 8) -> str:
    if not items:
        return "none"
    more = f" ... (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


# --- writing --------------------------------------------------------------------------------

def save_hf_checkpoint(model: "tf_keras.Model", config: BertConfig, out_dir: str | Path,
                       tokenizer_dir: str | Path | None = None) -> Path:
    """Write a folder ``transformers.BertForSequenceClassification.from_pretrained`` loads.

    Files are written under a temporary name and moved into place with ``os.replace``, so an
    interrupted save never leaves a truncated ``model.safetensors`` that looks valid. A model
    built without ``logits``/``pooled`` has no head layers; its file then lacks them and
    transformers initialises that head randomly (with its usual warning).

    A head-pruned model (attention narrower than the hidden size) is written full-width, its
    removed heads as all-zero heads (:func:`~edgekit.models.bert.heads.zero_pad_heads`),
    which computes the same logits: transformers 5 removed ``pruned_heads`` and derives the
    head size from ``hidden_size / num_attention_heads``, so no config can describe the
    narrow shapes. The file is as large as the unpruned model's; the speed-up lives in the
    exported artifacts, which keep the narrow shapes.
    """
    from safetensors.numpy import save_file

    from .heads import zero_pad_heads
    from .vocab import untrimmed

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Head-pruned: full width with zero heads; vocabulary-trimmed: the full table. Either way
    # a plain HF BERT with the same outputs.
    config, layers = zero_pad_heads(config, layer_weights(model, config))
    weights, config = untrimmed(model, hf_named(layers, config), config)
    tensors = {names.file_hf_name(k): v for k, v in weights.items()}
    _atomic_write(out / SAFETENSORS, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    config_text = json.dumps(config.to_hf_dict(), indent=2, sort_keys=True) + "\n"
    _atomic_write(out / "config.json", lambda tmp: Path(tmp).write_text(config_text, "utf-8"))
    if tokenizer_dir is not None:
        copy_tokenizer_files(tokenizer_dir, out)
    return out


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> list[str]:
    """Copy whichever of :data:`TOKENIZER_FILES` exist in ``src``; returns their names."""
    src, dst = Path(src), Path(dst)
    found = [n for n in TOKENIZER_FILES if (src / n).is_file()]
    if not found:
        raise FileNotFoundError(f"no tokenizer files ({', '.join(TOKENIZER_FILES)}) in {src}; "
                                "pass the folder of the checkpoint the model was trained from")
    for name in found:
        _atomic_write(dst / name, lambda tmp, n=name: shutil.copyfile(src / n, tmp))
    return found


def _atomic_write(target: Path, write) -> None:
    """Run ``write(tmp_path)`` then atomically rename the temp file onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
