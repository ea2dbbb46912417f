"""Machinery shared by the distillation stages.

* :class:`TeacherCache`: the teacher's outputs on the training split, computed **once** and
  kept as float16 memory-mapped arrays in a temporary folder, so that hidden states and
  attention maps of tens of thousands of examples do not have to fit in RAM and are never
  recomputed per epoch. Batches stream from it through ``tf.data``. With ``train.bucketing``
  each text's per-token outputs are stored at its own length and batches are length buckets
  (:mod:`edgekit.length_buckets`).
* :func:`distill_fit`: trains a student (plus any learned projections) against a loss over
  (inputs, labels, teacher targets, student outputs) inside the recipe's ``tf.distribute``
  strategy, with Keras' ``fit`` so multi-replica batching is Keras' own. Targets come from
  the cache, or from a teacher run inside each step where caching them would not fit (a
  language model's logits are examples x positions x vocabulary: 2.6 GB for the gpt recipe in
  float16, ~30 GB from GPT-2's 50,257-wide output).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.data import Split
from edgekit.length_buckets import batch_width, cut, epoch_batches
from edgekit.models.bert.encoder import SEQUENCE_AXES
from edgekit.strategy import process_role
from edgekit.training import TrainContext, per_epoch


class TeacherCache:
    """Teacher outputs for every training example, one float16 memmap per output name.

    With ``lengths`` (each example's real tokens, see :mod:`edgekit.length_buckets`) the
    teacher runs on batches of similar length cut to their longest example (it must accept
    any length), and each per-token output (``SEQUENCE_AXES`` of its kind) is stored at its
    example's own length, back to back: the cache shrinks by the share of padding, quadratically
    for attention maps. :meth:`targets` pads a batch's back to the width asked, with zeros,
    which the per-token losses mask out. Without ``lengths`` every example is stored at the
    full width (data without an attention mask, or training without length buckets)."""

    def __init__(self, teacher: Any, split: Split, batch_size: int = 64,
                 lengths: np.ndarray | None = None) -> None:
        # Only the chief of a multi-worker run writes files: the other workers keep their
        # copy of the teacher's outputs in memory (edgekit.strategy).
        in_memory = not process_role().is_chief
        self._dir = None if in_memory else tempfile.TemporaryDirectory(prefix="edgekit-teacher-")
        self.lengths = lengths
        self.arrays: dict[str, np.ndarray] = {}  # flat per-token values, or [n, ...] per example
        self._shapes: dict[str, tuple[int, ...]] = {}  # one example's shape, seq axes = width
        self._offsets: dict[str, np.ndarray] = {}  # where each example starts in a flat array
        n = len(split)
        order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(n)
        for start in range(0, n, batch_size):
            ix = order[start:start + batch_size]
            width = batch_width(lengths, ix) if lengths is not None else None
            batch = cut(split.x, ix, width) if width is not None else \
                {k: v[start:start + batch_size] for k, v in split.x.items()}
            for name, value in _flatten(teacher(batch, training=False)).items():
                self._store(name, ix, np.asarray(value).astype(np.float16), n)
        for arr in self.arrays.values():
            if isinstance(arr, np.memmap):
                arr.flush()

    def _seq_axes(self, name: str) -> tuple[int, ...]:
        return SEQUENCE_AXES.get(name.split(".")[0], ()) if self.lengths is not None else ()

    def _allocate(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if self._dir is None:
            return np.zeros(shape, np.float16)
        return np.memmap(Path(self._dir.name) / f"{name}.f16", dtype=np.float16, mode="w+",
                         shape=shape)

    def _store(self, name: str, ix: np.ndarray, value: np.ndarray, n: int) -> None:
        axes = self._seq_axes(name)
        if name not in self.arrays:
            self._shapes[name] = value.shape[1:]
            if axes:
                sizes = np.asarray([int(np.prod(self._example_shape(name, int(length))))
                                    for length in self.lengths])
                self._offsets[name] = np.concatenate([[0], np.cumsum(sizes)])
                self.arrays[name] = self._allocate(name, (int(self._offsets[name][-1]),))
            else:
                self.arrays[name] = self._allocate(name, (n, *value.shape[1:]))
        if not axes:
            self.arrays[name][ix] = value
            return
        offsets = self._offsets[name]
        for row, i in zip(value, ix):
            real = row[_real_tokens(axes, int(self.lengths[i]), row.ndim)]
            self.arrays[name][offsets[i]:offsets[i + 1]] = real.reshape(-1)

    def _example_shape(self, name: str, length: int) -> tuple[int, ...]:
        axes = self._seq_axes(name)
        return tuple(length if a in axes else d for a, d in enumerate(self._shapes[name]))

    def targets(self, ix: np.ndarray, keys: Any, width: int | None = None) -> dict[str, np.ndarray]:
        """The cached outputs ``keys`` of examples ``ix``, float32; per-token ones padded (with
        zeros) or cut to ``width`` tokens (None: the longest example's)."""
        out = {}
        for name in keys:
            axes = self._seq_axes(name)
            if not axes:
                out[name] = np.asarray(self.arrays[name][ix], dtype=np.float32)
                continue
            shape = self._example_shape(name, width or int(self.lengths.max()))
            batch = np.zeros((len(ix), *shape), np.float32)
            offsets, flat = self._offsets[name], self.arrays[name]
            for row, i in zip(batch, ix):
                length = int(self.lengths[i])
                real = flat[offsets[i]:offsets[i + 1]].reshape(self._example_shape(name, length))
                row[_real_tokens(axes, length, row.ndim)] = real
            out[name] = batch
        return out

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    def close(self) -> None:
        self.arrays.clear()
        if self._dir is not None:
            self._dir.cleanup()


def bert_stage_footprint(model: Any, student: Any, data: Any, lengths: np.ndarray | None, *,
                         per_example: int = 0, per_token: int = 0, per_pair: int = 0) -> Any:
    """The :class:`~edgekit.footprint.StageFootprint` of a BERT stage that trains ``student``
    (a BertConfig) from ``model`` (a Footprint): the model given and its teacher copy stay
    alive meanwhile, and the :class:`TeacherCache` stores fp16 values for each training text
    of length L: ``per_example + per_token * L + per_pair * L * L`` (logits; hidden states;
    attention scores). L is the fixed length, or with length buckets (``lengths`` given) each
    text's own: on full SST-2 the distilbert cache is 623 MiB at own lengths, not 2,250."""
    from edgekit.models.bert.encoder import footprint
    from edgekit.footprint import StageFootprint

    seq = int(data.extra["seq_len"])
    own = (np.minimum(np.asarray(lengths, dtype=np.int64), seq) if lengths is not None
           else np.full(len(data.train), seq, dtype=np.int64))
    values = int(per_example * len(own) + per_token * own.sum() + per_pair * (own * own).sum())
    return StageFootprint(model=footprint(student, seq), held_params=2 * model.params,
                          temp_bytes=values * np.dtype(np.float16).itemsize)


def _real_tokens(axes: tuple[int, ...], length: int, ndim: int) -> tuple[slice, ...]:
    """The index of one example's real tokens: its first ``length`` along each sequence axis."""
    return tuple(slice(0, length) if a in axes else slice(None) for a in range(ndim))


def bucket_lengths(ctx: TrainContext, teacher: Any, student: Any) -> np.ndarray | None:
    """:meth:`~edgekit.training.TrainContext.token_lengths` of a distillation, with ``teacher``
    made to accept any length when buckets are on: the cache runs it on batches cut to their
    longest text (:func:`distill_fit` relaxes the student)."""
    lengths = ctx.token_lengths(teacher, student)
    if lengths is not None:
        from edgekit.models.bert.lengths import any_length

        any_length(teacher)
    return lengths


def _flatten(out: Any) -> dict[str, Any]:
    """{'logits': t, 'hidden_states': [t0, t1]} → {'logits': t, 'hidden_states.0': t0, ...}."""
    if not isinstance(out, dict):
        return {"logits": out}
    flat: dict[str, Any] = {}
    for key, value in out.items():
        if isinstance(value, (list, tuple)):
            flat.update({f"{key}.{i}": v for i, v in enumerate(value)})
        else:
            flat[key] = value
    return flat


def stream(split: Split, cache: TeacherCache | None, batch_size: int, seed: int,
           keys: tuple[str, ...] | None = None, lengths: np.ndarray | None = None) -> Any:
    """A shuffled, repeating tf.data stream of (inputs, labels, teacher targets).

    ``keys`` limits the targets read from the cache (a later stage may need only logits);
    no cache: no targets (a teacher computes them in the step). Labels keep their shape (one
    per example, or one per position for a language model). With ``lengths``, the batches of
    :func:`~edgekit.length_buckets.epoch_batches`, each cut to its longest example (every
    example once per epoch); without, full batches of random examples at the full width (the
    remainder of each epoch's permutation is left out).
    """
    if cache is not None and (cache.lengths is None) != (lengths is None):
        raise ValueError("stream: bucket the batches by length exactly when the teacher cache "
                         "is stored by length (pass the cache's lengths)")
    tf = _tf.tf()
    rng = np.random.default_rng(seed)
    n = len(split)
    names = [] if cache is None else [k for k in cache.arrays if keys is None or k in keys]

    def plan() -> Iterator[tuple[np.ndarray, int | None]]:
        if lengths is not None:
            yield from ((ix, batch_width(lengths, ix))
                        for ix in epoch_batches(lengths, batch_size, rng))
            return
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield np.sort(order[start:start + batch_size]), None

    def batches() -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]]:
        while True:
            for ix, width in plan():
                x = cut(split.x, ix, width) if width is not None else \
                    {k: v[ix] for k, v in split.x.items()}
                yield x, split.y[ix], {} if cache is None else cache.targets(ix, names, width)

    def spec_of(shape: tuple[int, ...], dtype: Any) -> Any:
        return tf.TensorSpec((None, *([None] * len(shape) if lengths is not None else shape)),
                             dtype)

    sample = {} if cache is None else cache.targets(np.arange(min(n, 1)), names)
    spec = ({k: spec_of(v.shape[1:], tf.as_dtype(v.dtype)) for k, v in split.x.items()},
            tf.TensorSpec((None, *split.y.shape[1:]), tf.as_dtype(split.y.dtype)),
            {k: spec_of(a.shape[1:], tf.float32) for k, a in sample.items()})
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)


LossFn = Callable[[Any, Any, dict[str, Any], Any], tuple[Any, dict[str, Any]]]


def distill_fit(student: Any, loss_fn: LossFn, split: Split, cache: TeacherCache | None, *,
                epochs: int, batch_size: int, learning_rate: float, strategy: Any,
                extra_layers: list[Any] | None = None, seed: int = 0,
                keys: tuple[str, ...] | None = None,
                teacher: Callable[[Any], dict[str, Any]] | None = None,
                lengths: np.ndarray | None = None) -> dict[str, list[float]]:
    """Train ``student`` (and ``extra_layers``, e.g. projections) to minimise ``loss_fn``.

    ``loss_fn(inputs, labels, teacher_targets, student_outputs) -> (loss, logs)``; ``keys``
    picks the cached teacher outputs it reads; ``teacher(inputs) -> targets`` adds targets
    computed in each step (not trained: it is no attribute of the trained model, and its
    outputs are cut from the gradient). ``lengths`` (the examples' real tokens) trains on
    length buckets (:func:`stream`; the student must accept any length), with every example
    once per epoch. Returns each log's per-epoch means
    (:func:`edgekit.training.per_epoch`; :func:`~edgekit.training.last_epoch` gives the last).
    """
    tf, keras = _tf.tf(), _tf.keras()

    class Distiller(keras.Model):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.extras = extra_layers or []

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.student(inputs, training=training)

        def train_step(self, data: Any) -> dict[str, Any]:
            x, y, targets = data
            if teacher is not None:
                targets = {**targets, **{k: tf.stop_gradient(v) for k, v in teacher(x).items()}}
            with tf.GradientTape() as tape:
                loss, logs = loss_fn(x, y, targets, self.student(x, training=True))
                # Keras sums gradients over replicas; scale so the step is the global mean.
                scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
            variables = self.trainable_variables
            grads = tape.gradient(scaled, variables)
            # Stage losses may not reach every weight (TinyBERT's stage 1 skips the head).
            self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables)
                                            if g is not None])
            return {"loss": loss, **logs}

    if lengths is not None:
        from edgekit.models.bert.lengths import any_length

        any_length(student)
        steps = max(1, -(-len(split) // batch_size))
    else:
        steps = max(1, len(split) // batch_size)
    total = steps * epochs
    with strategy.scope():
        distiller = Distiller()
        schedule = keras.optimizers.schedules.PolynomialDecay(learning_rate, total, learning_rate * 0.05)
        distiller.compile(optimizer=keras.optimizers.Adam(schedule))
    history = distiller.fit(stream(split, cache, batch_size, seed, keys, lengths),
                            epochs=epochs,
                            steps_per_epoch=steps, verbose=0)
    return per_epoch(history)


def soft_cross_entropy(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    """Hinton et al.'s soft-target loss, scaled by T² so its gradients match the hard loss's."""
    tf = _tf.tf()
    t = tf.nn.softmax(teacher_logits / temperature)
    log_s = tf.nn.log_softmax(student_logits / temperature)
    return -tf.reduce_mean(tf.reduce_sum(t * log_s, axis=-1)) * temperature ** 2


def soft_kl(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    """KL(teacher || student) of the softened distributions, scaled by T², averaged over every
    leading axis (examples, and positions for a language model). Its gradients are
    :func:`soft_cross_entropy`'s; its value reads 0 where the student matches the teacher."""
    tf = _tf.tf()
    log_t = tf.nn.log_softmax(teacher_logits / temperature)
    log_s = tf.nn.log_softmax(student_logits / temperature)
    return tf.reduce_mean(tf.reduce_sum(tf.exp(log_t) * (log_t - log_s), axis=-1)) \
        * temperature ** 2


def masked_mse(a: Any, b: Any, weights: Any) -> Any:
    """Mean squared difference over the entries ``weights`` (1 real, 0 padding, broadcast to
    ``a``'s shape) keeps: independent of how far a batch is padded."""
    tf = _tf.tf()
    weights = tf.broadcast_to(weights, tf.shape(a))
    return tf.reduce_sum(tf.square(a - b) * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def hard_cross_entropy(logits: Any, labels: Any) -> Any:
    tf = _tf.tf()
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits))


def copy_weights_by_name(src: Any, dst: Any) -> None:
    """Copy weights between models built from the same layer names (multi- vs single-output)."""
    src_layers = {layer.name: layer for layer in src.layers}
    for layer in dst.layers:
        if layer.weights:
            layer.set_weights(src_layers[layer.name].get_weights())


def text_fields(ctx: Any) -> dict[str, Any]:
    """Label facts of the task, for reading a BERT config back from a model."""
    labels = tuple(str(n) for n in ctx.data.extra.get("label_names", ()))
    return {"num_labels": ctx.data.num_classes or 2, "id2label": labels}


def only(model: Any, keys: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A callable giving just ``keys`` (flattened names) of a multi-output model."""

    def call(batch: Any, training: bool = False) -> dict[str, Any]:
        flat = _flatten(model(batch, training=training))
        return {k: flat[k] for k in keys}

    return call


def single_output(student: Any, config: Any, seq_len: int, name: str, strategy: Any) -> Any:
    """The trained multi-output student rebuilt as a plain logits model (what ships)."""
    from edgekit.models.bert.encoder import build_bert

    with strategy.scope():
        final = build_bert(config, seq_len, name=name)
        copy_weights_by_name(student, final)
    return final
