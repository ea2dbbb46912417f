"""The one table that ties edgekit's Keras layer names to Hugging Face parameter names.

Both the encoder (which names its layers) and the checkpoint code (which moves weights) read
this module, so a rename can never make them disagree. Pure Python: no TensorFlow import.

HF names here are *bare* (BertModel style, ``embeddings.word_embeddings.weight``); the
``bert.`` prefix of ``BertForSequenceClassification`` is added/stripped at the file boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

# Keras layer names. A "/" in a name becomes a TF name scope, so weights read
# ``layer_0/attention/query/kernel:0`` and sort layer-by-layer in any tool.
EMB_WORD = "embeddings/word"
# Trimmed vocabularies only: original id -> kept row, before EMB_WORD (no HF counterpart).
EMB_VOCAB_MAP = "embeddings/vocab_map"
EMB_POSITION = "embeddings/position"
EMB_TOKEN_TYPE = "embeddings/token_type"
EMB_NORM = "embeddings/norm"
POOLER = "pooler"
CLASSIFIER = "classifier"


def layer_name(i: int, part: str) -> str:
    """Keras name of a sub-layer of encoder block ``i`` (``part`` like ``attention/query``)."""
    return f"layer_{i}/{part}"


# Sub-layers of one encoder block: Keras suffix -> HF module path under encoder.layer.N.
BLOCK_PARTS: dict[str, str] = {
    "attention/query": "attention.self.query",
    "attention/key": "attention.self.key",
    "attention/value": "attention.self.value",
    "attention/output": "attention.output.dense",
    "attention/norm": "attention.output.LayerNorm",
    "ffn/intermediate": "intermediate.dense",
    "ffn/output": "output.dense",
    "ffn/norm": "output.LayerNorm",
}


@dataclass(frozen=True)
class WeightSlot:
    """One Keras weight and the HF tensor that fills it."""

    layer: str          # Keras layer name
    index: int          # position in ``layer.get_weights()``
    hf_name: str        # bare HF parameter name
    transpose: bool     # Dense kernels are [in, out] in Keras but [out, in] in torch Linear


def _dense(layer: str, hf_module: str) -> list[WeightSlot]:
    return [WeightSlot(layer, 0, f"{hf_module}.weight", True),
            WeightSlot(layer, 1, f"{hf_module}.bias", False)]


def _norm(layer: str, hf_module: str) -> list[WeightSlot]:
    # Keras LayerNormalization weights are [gamma, beta] = HF [weight, bias].
    return [WeightSlot(layer, 0, f"{hf_module}.weight", False),
            WeightSlot(layer, 1, f"{hf_module}.bias", False)]


def _embedding(layer: str, hf_module: str) -> list[WeightSlot]:
    return [WeightSlot(layer, 0, f"{hf_module}.weight", False)]


def weight_slots(num_layers: int) -> list[WeightSlot]:
    """Every weight of a BERT classifier with ``num_layers`` blocks, in a stable order."""
    slots = (_embedding(EMB_WORD, "embeddings.word_embeddings")
             + _embedding(EMB_POSITION, "embeddings.position_embeddings")
             + _embedding(EMB_TOKEN_TYPE, "embeddings.token_type_embeddings")
             + _norm(EMB_NORM, "embeddings.LayerNorm"))
    for i in range(num_layers):
        for part, hf_module in BLOCK_PARTS.items():
            make = _norm if part.endswith("norm") else _dense
            slots += make(layer_name(i, part), f"encoder.layer.{i}.{hf_module}")
    slots += _dense(POOLER, "pooler.dense") + _dense(CLASSIFIER, "classifier")
    return slots


#: Prefix of BertForSequenceClassification (and other task heads) in front of the encoder.
HF_ENCODER_PREFIX = "bert."

#: Non-parameter tensors some checkpoints carry; never an error to find them.
HF_BUFFERS = ("embeddings.position_ids",)


def canonical_hf_name(name: str) -> str:
    """Map any spelling of a BERT parameter name to the bare form used in :func:`weight_slots`.

    Accepts ``bert.``-prefixed names (task models), bare names (BertModel and
    sentence-transformers), and the TF1-era ``LayerNorm.gamma``/``beta`` spellings that old
    checkpoints converted from Google's release still use.
    """
    if name.startswith(HF_ENCODER_PREFIX):
        name = name[len(HF_ENCODER_PREFIX):]
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    elif name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    return name


def file_hf_name(bare: str) -> str:
    """Name a BertForSequenceClassification checkpoint file expects for a bare name."""
    return bare if bare.startswith("classifier.") else HF_ENCODER_PREFIX + bare
