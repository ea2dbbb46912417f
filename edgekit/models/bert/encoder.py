"""A BERT encoder + classifier in tf-keras that compresses and exports cleanly.

Design constraints, and why:

* Every projection is a plain ``keras.layers.Dense`` (no ``EinsumDense``/``MultiHeadAttention``):
  TFMOT pruning and QAT only wrap layers they know, and TFLite then lowers everything to
  builtin ops (FULLY_CONNECTED, BATCH_MATMUL), so no Flex delegate is needed.
* Attention is reshape/transpose/matmul on static shapes, which TFLite, tf2onnx and OpenVINO all
  handle without custom ops.
* GELU is the exact erf form (HF ``"gelu"``) written as ``0.5*x*(1+erf(x/sqrt(2)))``: the
  TFLite converter fuses it into its builtin GELU and tf2onnx maps ``Erf``. (Keras' own
  ``"gelu"`` lowers to ``Erfc``, which tf2onnx cannot convert.) The function is registered as
  ``edgekit>gelu`` so ``clone_model`` (used by TFMOT) keeps it, and its ``__name__`` is
  ``gelu`` so TFMOT QAT quantizes it as it would Keras' gelu.
* Padding is masked additively with ``(1 - mask) * -50``. HF uses ``finfo.min``; after the
  softmax a padded key weighs ``e^-50`` (1e-22) relative to the real ones, far below float32
  resolution, so outputs match. A small constant matters for int8: the masked scores share
  one quantization range, and -1e4 made its step ~40, zeroing every real score (OpenVINO int8
  agreement rose from 0.73 to 0.91 on a TinyBERT student when -1e4 became -50).
* Layer names come from :mod:`edgekit.models.bert.names`, so weights map 1:1 to HF names.

TensorFlow is imported inside functions, through :mod:`edgekit._tf`, so ``import
edgekit.models.bert`` stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import names
from .config import BertConfig

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import tf_keras

    from edgekit.footprint import Footprint

#: What ``build_bert(outputs=...)`` can return.
OUTPUT_KINDS = ("logits", "pooled", "hidden_states", "attention_scores")

#: Which axes of one example's output (batch axis left out) run over the sequence, by kind:
#: what a cache of outputs stored at each example's own length cuts and pads.
SEQUENCE_AXES: dict[str, tuple[int, ...]] = {"logits": (), "pooled": (), "hidden_states": (0,),
                                             "attention_scores": (1, 2)}

#: Additive mask value for padded keys (see module docstring).
MASK_VALUE = -50.0

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def _keras():
    from edgekit import _tf

    return _tf.tf(), _tf.keras()


_GELU = None


def erf_gelu():
    """The registered exact-GELU activation (created once, after TF is imported)."""
    global _GELU
    if _GELU is None:
        tf, keras = _keras()

        @keras.saving.register_keras_serializable(package="edgekit", name="gelu")
        def gelu(x):
            return 0.5 * x * (1.0 + tf.math.erf(x * (1.0 / math.sqrt(2.0))))

        _GELU = gelu
    return _GELU


def custom_objects() -> dict[str, Any]:
    """Objects to pass to ``keras.models.load_model`` for a saved edgekit BERT."""
    from .lengths import custom_objects as length_objects
    from .vocab import custom_objects as vocab_objects

    return {"edgekit>gelu": erf_gelu(), **vocab_objects(), **length_objects()}


def _activation(name: str):
    return erf_gelu() if name == "gelu" else name


def _init(config: BertConfig):
    _, keras = _keras()
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def _dense(config: BertConfig, units: int, name: str, activation: str | None = None):
    _, keras = _keras()
    return keras.layers.Dense(units, activation=activation, kernel_initializer=_init(config),
                              name=name)


def _norm(config: BertConfig, name: str):
    _, keras = _keras()
    return keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name=name)


def _embeddings(config: BertConfig, input_ids, token_type_ids, vocab_map=None):
    """Word + position + token-type embeddings, then LayerNorm and dropout (as HF)."""
    from .lengths import POSITION_IDS, position_ids_layer
    from .vocab import remap_ids

    _, keras = _keras()

    def embed(rows: int, name: str):
        return keras.layers.Embedding(rows, config.hidden_size,
                                      embeddings_initializer=_init(config), name=name)

    # The position table sliced to the batch's length (see lengths.py: any length <= seq_len).
    position_ids = position_ids_layer()(name=POSITION_IDS)(input_ids)
    summed = keras.layers.Add(name="embeddings/sum")([
        embed(config.vocab_size, names.EMB_WORD)(remap_ids(input_ids, vocab_map)),
        embed(config.max_position_embeddings, names.EMB_POSITION)(position_ids),
        embed(config.type_vocab_size, names.EMB_TOKEN_TYPE)(token_type_ids),
    ])
    x = _norm(config, names.EMB_NORM)(summed)
    return keras.layers.Dropout(config.hidden_dropout, name="embeddings/dropout")(x)


def _additive_mask(attention_mask):
    """[batch, seq] 1/0 mask -> [batch, 1, 1, seq] additive bias for the scores."""
    from .lengths import KEY_MASK, key_mask_layer

    tf, _ = _keras()
    keep = key_mask_layer()(name=KEY_MASK)(attention_mask)
    return tf.multiply(tf.subtract(1.0, keep, name="mask/invert"), MASK_VALUE, name="mask/bias")


def _split_heads(config: BertConfig, x, name: str):
    """[batch, seq, hidden] -> [batch, heads, seq, head_size]."""
    _, keras = _keras()
    x = keras.layers.Reshape((-1, config.num_heads, config.head_size), name=f"{name}/split")(x)
    return keras.layers.Permute((2, 1, 3), name=f"{name}/heads_first")(x)


def _self_attention(config: BertConfig, i: int, x, mask_bias):
    """One multi-head self-attention block; returns (output, pre-softmax masked scores)."""
    tf, keras = _keras()
    ln = lambda part: names.layer_name(i, part)  # noqa: E731 - local shorthand
    # Q/K/V are attention_width wide: hidden_size unless whole heads were pruned.
    q, k, v = (_split_heads(config, _dense(config, config.attention_width, ln(f"attention/{p}"))(x),
                            ln(f"attention/{p}"))
               for p in ("query", "key", "value"))
    scores = tf.matmul(q, k, transpose_b=True, name=ln("attention/qk"))
    scores = tf.multiply(scores, 1.0 / math.sqrt(config.head_size), name=ln("attention/scale"))
    if mask_bias.dtype != scores.dtype:  # bf16 scores under a mixed-precision policy only:
        mask_bias = tf.cast(mask_bias, scores.dtype)  # fp32 graphs (every export) stay as they were
    scores = tf.add(scores, mask_bias, name=ln("attention/masked_scores"))
    probs = keras.layers.Softmax(axis=-1, name=ln("attention/softmax"))(scores)
    probs = keras.layers.Dropout(config.attention_dropout, name=ln("attention/dropout"))(probs)
    context = tf.matmul(probs, v, name=ln("attention/context"))
    context = keras.layers.Permute((2, 1, 3), name=ln("attention/seq_first"))(context)
    context = keras.layers.Reshape((-1, config.attention_width), name=ln("attention/merge"))(context)
    out = _dense(config, config.hidden_size, ln("attention/output"))(context)
    return _residual_norm(config, out, x, ln("attention")), scores


def _residual_norm(config: BertConfig, out, residual, prefix: str):
    """dropout(out) + residual, then LayerNorm: the post-LN step BERT uses twice per block."""
    _, keras = _keras()
    out = keras.layers.Dropout(config.hidden_dropout, name=f"{prefix}/dropout_out")(out)
    summed = keras.layers.Add(name=f"{prefix}/residual")([out, residual])
    return _norm(config, f"{prefix}/norm")(summed)


def _feed_forward(config: BertConfig, i: int, x):
    ln = lambda part: names.layer_name(i, part)  # noqa: E731
    h = _dense(config, config.intermediate_size, ln("ffn/intermediate"),
               activation=_activation(config.hidden_act))(x)
    out = _dense(config, config.hidden_size, ln("ffn/output"))(h)
    return _residual_norm(config, out, x, ln("ffn"))


def _classifier_head(config: BertConfig, sequence):
    """HF BertPooler (tanh(Dense(h[CLS]))) then dropout and the classifier Dense."""
    tf, keras = _keras()
    cls_token = tf.gather(sequence, 0, axis=1, name="pooler/cls_token")
    pooled = _dense(config, config.hidden_size, names.POOLER, activation="tanh")(cls_token)
    dropped = keras.layers.Dropout(config.hidden_dropout, name="classifier/dropout")(pooled)
    logits = _dense(config, config.num_labels, names.CLASSIFIER)(dropped)
    return pooled, logits


def build_bert(config: BertConfig, seq_len: int, *,
               outputs: Sequence[str] = ("logits",), name: str = "bert",
               vocab_map: "np.ndarray | None" = None) -> "tf_keras.Model":
    """Build the model for fixed ``seq_len`` (static shapes keep TFLite/NPU exports simple).
    The graph also runs at any shorter length once :func:`~edgekit.models.bert.lengths.any_length`
    relaxes Keras' input check: training batches padded only to their longest text.

    Inputs (all int32 ``[batch, seq_len]``): ``input_ids``, ``attention_mask`` (1 = real
    token), ``token_type_ids``.

    ``outputs`` picks what the model returns; one name gives that value alone (so ``fit`` with
    a single loss just works), several give a dict keyed by name:

    * ``logits``: ``[batch, num_labels]``.
    * ``pooled``: ``[batch, hidden]``, tanh pooler output on ``[CLS]`` (HF ``pooler_output``).
    * ``hidden_states``: list of ``num_layers + 1`` tensors ``[batch, seq, hidden]``: the
      embeddings output, then each block's output (HF ``output_hidden_states``).
    * ``attention_scores``: list of ``num_layers`` tensors ``[batch, heads, seq, seq]``:
      **pre-softmax** scaled scores ``QK^T/sqrt(d)`` with the additive padding mask already
      applied (masked keys hold about ``MASK_VALUE``). This is what TinyBERT distils; zero the
      masked keys (from ``attention_mask``) before an MSE, as its reference code does.

    ``vocab_map`` (int32 ``[original vocab]``, see :mod:`edgekit.models.bert.vocab`) builds a
    vocabulary-trimmed model: ``config.vocab_size`` is then the number of kept rows, and
    ``input_ids`` are still the original tokenizer's.
    """
    unknown = [o for o in outputs if o not in OUTPUT_KINDS]
    if unknown or not outputs:
        raise ValueError(f"build_bert: unknown outputs {unknown or list(outputs)}; "
                         f"choose from {OUTPUT_KINDS}")
    if not 0 < seq_len <= config.max_position_embeddings:
        raise ValueError(f"build_bert: seq_len={seq_len} must be in "
                         f"1..max_position_embeddings ({config.max_position_embeddings})")
    _, keras = _keras()
    inputs = {n: keras.Input(shape=(seq_len,), dtype="int32", name=n) for n in INPUT_NAMES}

    x = _embeddings(config, inputs["input_ids"], inputs["token_type_ids"], vocab_map)
    mask_bias = _additive_mask(inputs["attention_mask"])
    hidden_states, scores = [x], []
    for i in range(config.num_layers):
        x, layer_scores = _self_attention(config, i, x, mask_bias)
        x = _feed_forward(config, i, x)
        hidden_states.append(x)
        scores.append(layer_scores)

    available: dict[str, Any] = {"hidden_states": hidden_states, "attention_scores": scores}
    if "logits" in outputs or "pooled" in outputs:
        available["pooled"], available["logits"] = _classifier_head(config, x)
    chosen = {o: available[o] for o in outputs}
    result = chosen[outputs[0]] if len(outputs) == 1 else chosen
    return keras.Model(inputs=[inputs[n] for n in INPUT_NAMES], outputs=result, name=name)


def parameter_count(config: BertConfig) -> int:
    """Parameters of :func:`build_bert` for ``config`` (with its pooler and classifier),
    without building it: for the run's up-front estimate, where a checkpoint may be large."""
    h, i, a = config.hidden_size, config.intermediate_size, config.attention_width
    embeddings = (config.vocab_size + config.max_position_embeddings
                  + config.type_vocab_size) * h + 2 * h
    # Q, K, V: h -> a; attention output: a -> h (a = h unless heads were pruned)
    block = 3 * (h * a + a) + (a * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    head = (h * h + h) + (h * config.num_labels + config.num_labels)
    return embeddings + config.num_layers * block + head


def footprint(config: BertConfig, seq_len: int) -> "Footprint":
    """The :class:`~edgekit.footprint.Footprint` of :func:`build_bert` at ``seq_len``: values
    per example are the embeddings, each block's projections, FFN and norms, and its
    attention scores, softmax and dropout (``heads x seq x seq`` each)."""
    from edgekit.footprint import Footprint

    h, i, s = config.hidden_size, config.intermediate_size, seq_len
    block = s * (6 * h + 4 * config.attention_width + 2 * i) + 3 * config.num_heads * s * s
    return Footprint(params=parameter_count(config), outputs=config.num_labels,
                     activations=5 * s * h + config.num_layers * block, arch=config)


# --- students -------------------------------------------------------------------------------

def make_student_config(teacher: BertConfig, num_layers: int, hidden_size: int | None = None, *,
                        num_heads: int | None = None, intermediate_size: int | None = None,
                        **overrides: Any) -> BertConfig:
    """Shrink a teacher config: fewer layers and optionally a narrower hidden size.

    When only depth changes, widths stay equal so :func:`init_student_from_teacher` can copy
    weights (DistilBERT init). When the width changes, the head size is kept (heads scale with
    width) and the FFN keeps the teacher's expansion ratio, matching how TinyBERT sizes its
    students; such a student starts from random weights.
    """
    hidden = hidden_size or teacher.hidden_size
    if num_heads is None:
        num_heads = max(1, hidden // teacher.head_size) if hidden != teacher.hidden_size \
            else teacher.num_heads
    if intermediate_size is None:
        intermediate_size = teacher.intermediate_size * hidden // teacher.hidden_size
    return replace(teacher, num_layers=num_layers, hidden_size=hidden, num_heads=num_heads,
                   intermediate_size=intermediate_size, **overrides)


def default_layer_map(teacher_layers: int, student_layers: int) -> list[int]:
    """Teacher block for each student block: every other one for a half-depth student.

    ``i * T // S`` gives 0, 2, 4, ... for S = T/2 (DistilBERT) and spreads evenly otherwise.
    """
    if not 0 < student_layers <= teacher_layers:
        raise ValueError(f"student has {student_layers} layers; it needs 1..{teacher_layers} "
                         "(the teacher's depth) to be initialised from the teacher")
    return [i * teacher_layers // student_layers for i in range(student_layers)]


def count_layers(model: "tf_keras.Model") -> int:
    """Number of encoder blocks in a model built by :func:`build_bert`."""
    layer_names = {layer.name for layer in model.layers}
    n = 0
    while names.layer_name(n, "attention/query") in layer_names:
        n += 1
    return n


def init_student_from_teacher(student: "tf_keras.Model", teacher: "tf_keras.Model",
                              layer_map: Iterable[int] | None = None) -> list[str]:
    """Copy teacher weights into a same-width student (DistilBERT initialisation).

    Embeddings are copied, student block ``i`` gets teacher block ``layer_map[i]`` (default
    :func:`default_layer_map`, every other block), and pooler/classifier are copied when both
    models have them with equal shapes. Returns the names of the student layers written.
    """
    t_width = teacher.get_layer(names.EMB_WORD).output_dim
    s_width = student.get_layer(names.EMB_WORD).output_dim
    if t_width != s_width:
        raise ValueError(f"student hidden size {s_width} != teacher's {t_width}: weights cannot "
                         "be copied; train this student from random init with distillation")
    t_layers, s_layers = count_layers(teacher), count_layers(student)
    mapping = list(layer_map) if layer_map is not None else default_layer_map(t_layers, s_layers)
    if len(mapping) != s_layers or not all(0 <= t < t_layers for t in mapping):
        raise ValueError(f"layer_map {mapping} must give one teacher block in 0..{t_layers - 1} "
                         f"for each of the student's {s_layers} blocks")

    pairs = [(n, n) for n in (names.EMB_WORD, names.EMB_POSITION, names.EMB_TOKEN_TYPE,
                              names.EMB_NORM)]
    pairs += [(names.layer_name(s, part), names.layer_name(t, part))
              for s, t in enumerate(mapping) for part in names.BLOCK_PARTS]
    pairs += [(n, n) for n in (names.POOLER, names.CLASSIFIER) if _same_shapes(student, teacher, n)]
    for s_name, t_name in pairs:
        student.get_layer(s_name).set_weights(teacher.get_layer(t_name).get_weights())
    return [s_name for s_name, _ in pairs]


def _same_shapes(a: "tf_keras.Model", b: "tf_keras.Model", layer: str) -> bool:
    try:
        wa, wb = a.get_layer(layer).get_weights(), b.get_layer(layer).get_weights()
    except ValueError:  # layer absent from one of the models
        return False
    return [w.shape for w in wa] == [w.shape for w in wb]
