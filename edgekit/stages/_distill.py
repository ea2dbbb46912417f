"""Machinery shared by the distillation stages.

* :class:`TeacherCache`: the teacher's outputs on the training split, computed **once** and
  kept as float16 memory-mapped arrays in a temporary folder, so that hidden states and
  attention maps of tens of thousands of examples do not have to fit in RAM and are never
  recomputed per epoch. Batches stream from it through ``tf.data``.
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
from edgekit.strategy import process_role
from edgekit.training import per_epoch


class TeacherCache:
    """Teacher outputs for every training example, one float16 memmap per output name."""

    def __init__(self, teacher: Any, split: Split, batch_size: int = 64) -> None:
        # Only the chief of a multi-worker run writes files: the other workers keep their
        # copy of the teacher's outputs in memory (edgekit.strategy).
        in_memory = not process_role().is_chief
        self._dir = None if in_memory else tempfile.TemporaryDirectory(prefix="edgekit-teacher-")
        self.arrays: dict[str, np.ndarray] = {}
        n = len(split)
        for start in range(0, n, batch_size):
            batch = {k: v[start:start + batch_size] for k, v in split.x.items()}
            out = teacher(batch, training=False)
            for name, value in _flatten(out).items():
                value = np.asarray(value)
                if name not in self.arrays:
                    shape = (n, *value.shape[1:])
                    self.arrays[name] = np.zeros(shape, np.float16) if self._dir is None else \
                        np.memmap(Path(self._dir.name) / f"{name}.f16", dtype=np.float16,
                                  mode="w+", shape=shape)
                self.arrays[name][start:start + len(value)] = value.astype(np.float16)
        for arr in self.arrays.values():
            if isinstance(arr, np.memmap):
                arr.flush()

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    def close(self) -> None:
        self.arrays.clear()
        if self._dir is not None:
            self._dir.cleanup()


def bert_stage_footprint(model: Any, student: Any, data: Any, cached: int) -> Any:
    """The :class:`~edgekit.footprint.StageFootprint` of a BERT stage that trains ``student``
    (a BertConfig) from ``model`` (a Footprint): the model given and its teacher copy stay
    alive meanwhile, and the :class:`TeacherCache` stores ``cached`` fp16 values per training
    example (examples x seq x hidden x cached layers x 2 bytes, plus logits)."""
    from edgekit.models.bert.encoder import footprint
    from edgekit.footprint import StageFootprint

    return StageFootprint(model=footprint(student, int(data.extra["seq_len"])),
                          held_params=2 * model.params,
                          temp_bytes=len(data.train) * cached * np.dtype(np.float16).itemsize)


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
           keys: tuple[str, ...] | None = None) -> Any:
    """A shuffled, repeating tf.data stream of (inputs, labels, teacher targets).

    ``keys`` limits the targets read from the cache (a later stage may need only logits);
    no cache: no targets (a teacher computes them in the step). Labels keep their shape (one
    per example, or one per position for a language model).
    """
    tf = _tf.tf()
    rng = np.random.default_rng(seed)
    n = len(split)
    arrays = {} if cache is None else {k: a for k, a in cache.arrays.items()
                                       if keys is None or k in keys}

    def batches() -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]]:
        while True:
            order = rng.permutation(n)
            for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
                ix = np.sort(order[start:start + batch_size])
                yield ({k: v[ix] for k, v in split.x.items()}, split.y[ix],
                       {k: np.asarray(a[ix], dtype=np.float32) for k, a in arrays.items()})

    spec = ({k: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype)) for k, v in split.x.items()},
            tf.TensorSpec((None, *split.y.shape[1:]), tf.as_dtype(split.y.dtype)),
            {k: tf.TensorSpec((None, *a.shape[1:]), tf.float32) for k, a in arrays.items()})
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)


LossFn = Callable[[Any, Any, dict[str, Any], Any], tuple[Any, dict[str, Any]]]


def distill_fit(student: Any, loss_fn: LossFn, split: Split, cache: TeacherCache | None, *,
                epochs: int, batch_size: int, learning_rate: float, strategy: Any,
                extra_layers: list[Any] | None = None, seed: int = 0,
                keys: tuple[str, ...] | None = None,
                teacher: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, list[float]]:
    """Train ``student`` (and ``extra_layers``, e.g. projections) to minimise ``loss_fn``.

    ``loss_fn(inputs, labels, teacher_targets, student_outputs) -> (loss, logs)``; ``keys``
    picks the cached teacher outputs it reads; ``teacher(inputs) -> targets`` adds targets
    computed in each step (not trained: it is no attribute of the trained model, and its
    outputs are cut from the gradient). Returns each log's per-epoch means
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

    steps = max(1, len(split) // batch_size)
    total = steps * epochs
    with strategy.scope():
        distiller = Distiller()
        schedule = keras.optimizers.schedules.PolynomialDecay(learning_rate, total, learning_rate * 0.05)
        distiller.compile(optimizer=keras.optimizers.Adam(schedule))
    history = distiller.fit(stream(split, cache, batch_size, seed, keys), epochs=epochs,
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
