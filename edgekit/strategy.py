"""tf.distribute strategies by name, so a recipe scales out by changing one word, and each
process's part in a multi-worker run.

``default`` is TensorFlow's default (one device). ``mirrored`` replicates over the local
devices (GPUs, or logical CPUs); ``multi_worker_mirrored`` reads the cluster from
``TF_CONFIG`` as TensorFlow documents. Models are built, compiled, trained and distilled inside
``strategy.scope()``.

**Made at program startup.** TensorFlow configures collective ops when its runtime starts, so
a multi-worker strategy must exist before the process runs any TensorFlow op (seeding, loading
data, ...); made later, every worker stops with "Collective ops must be configured at program
startup". :func:`make_strategy` is therefore the first thing ``compress`` does (the CLI calls it
right after the recipe loads), and it makes each strategy once per process: a second ``compress``
in the same process reuses it.

**Roles.** Under ``multi_worker_mirrored`` every worker runs the same program. The *chief*
(TensorFlow's rule: task ``chief``, else ``worker`` 0) writes everything: run cache, teacher
cache, bundle, exports, proofs. The other workers train with it, taking part in every
collective op it does, write nothing, and exit 0 (:class:`Role`).

**Sharding.** ``train.batch_size`` is the global batch, as in Keras: TensorFlow splits each
batch across the workers itself (auto-shard policy ``DATA`` for in-memory arrays and for the
distillation's generator stream, whose batches it re-splits), so the steps per epoch are a
one-process run's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from edgekit import _tf
from edgekit.errors import EdgekitError
from edgekit.registry import Registry

STRATEGIES: Registry[Callable[[], Any]] = Registry("distribution strategy")

STRATEGIES.register("default", lambda: _tf.tf().distribute.get_strategy())
STRATEGIES.register("one_device", lambda: _tf.tf().distribute.OneDeviceStrategy("/cpu:0"))
STRATEGIES.register("mirrored", lambda: _tf.tf().distribute.MirroredStrategy())
STRATEGIES.register("multi_worker_mirrored",
                    lambda: _tf.tf().distribute.MultiWorkerMirroredStrategy())

_made: dict[str, Any] = {}


def make_strategy(name: str) -> Any:
    """The strategy ``name``, made once per process (see the module docstring: call it before
    any TensorFlow op)."""
    factory = STRATEGIES.get(name)
    if name not in _made:
        try:
            _made[name] = factory()
        except RuntimeError as exc:
            if "program startup" not in str(exc):
                raise
            raise EdgekitError(f"strategy '{name}' was made after TensorFlow had started",
                               where="train.strategy",
                               fix="make it first: edgekit.strategy.make_strategy(name) before "
                                   "any TensorFlow op, and pass it to compress(strategy=...)"
                               ) from None
    return _made[name]


@dataclass(frozen=True)
class Role:
    """This process's part in a run: worker ``index`` of ``count``; the chief writes."""

    index: int = 0
    count: int = 1
    is_chief: bool = True
    task: tuple[str, int] = ("", -1)  # (TF_CONFIG's task type, its index) when multi-worker

    def worker_line(self) -> str:
        """What a non-chief worker prints when its part is done."""
        return (f"worker {self.index} of {self.count}: trained with the chief; "
                "the chief writes the bundle")


def role_of(strategy: Any) -> Role:
    """The role of this process under ``strategy``: the chief of one unless the strategy is
    multi-worker with a cluster of several tasks (``TF_CONFIG``)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    tasks = [(kind, i) for kind in ("chief", "worker") for i in range(len(spec.get(kind, [])))]
    if len(tasks) < 2:
        return Role()
    me = (resolver.task_type, int(resolver.task_id))
    return Role(index=tasks.index(me), count=len(tasks), is_chief=me == tasks[0], task=me)


def process_role() -> Role:
    """The role of this process under the multi-worker strategy it made, if any (a process
    takes part in one cluster, the one its ``TF_CONFIG`` names)."""
    made = _made.get("multi_worker_mirrored")
    return role_of(made) if made is not None else Role()


def chief_decides(strategy: Any, value: bool) -> bool:
    """The chief's ``value``, agreed by every worker through one collective op (the others
    pass anything): how a decision only the chief can make (e.g. reusing its run cache)
    reaches the workers, which must then run the same collective ops as the chief."""
    if role_of(strategy).count < 2:
        return value
    tf = _tf.tf()
    mine = 1 if value and role_of(strategy).is_chief else 0
    per_replica = strategy.run(lambda: tf.constant(mine, tf.int32))
    return bool(int(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)) > 0)


def detached(model: Any, custom_objects: dict[str, Any]) -> Any:
    """A plain copy of ``model``, made outside any strategy, with its weights: what the chief
    exports and runs alone once the other workers are done. A model trained under a
    multi-worker strategy may run collective ops when read later (TensorFlow's converter
    reading a QAT model's variables does), which would wait for workers that are no longer
    there. Every worker calls this, in the same order, because reading the weights may itself
    be a collective op; ``model`` itself if it cannot be rebuilt from its config."""
    import numpy as np

    def base(variable: Any) -> str:  # scopes differ in and out of a strategy: 'kernel'
        return variable.name.split("/")[-1].split(":")[0]

    values = [[(base(v), np.asarray(v)) for v in layer.weights] for layer in model.layers]
    keras = _tf.keras()
    try:
        with _tf.tfmot().quantization.keras.quantize_scope(), \
                keras.utils.custom_object_scope(custom_objects):
            copy = keras.models.model_from_json(model.to_json())
        for layer, copied, held in zip(model.layers, copy.layers, values, strict=True):
            if layer.name != copied.name or not _assign(copied.weights, held, base):
                return model
    except Exception:  # a model that cannot be rebuilt from its config
        return model
    return copy


def _assign(variables: list[Any], held: list[tuple[str, Any]],
            base: Callable[[Any], str]) -> bool:
    """Give one layer's rebuilt ``variables`` the ``held`` (name, value) pairs: in order when
    they are as many, else by name when names are unique (a rebuilt QAT layer tracks its
    ranges twice); False when neither fits."""
    if len(variables) == len(held):
        pairs = [(v, value) for v, (_, value) in zip(variables, held)]
    else:
        by_name = dict(held)
        if len(by_name) != len(held) or {base(v) for v in variables} != set(by_name):
            return False
        pairs = [(v, by_name[base(v)]) for v in variables]
    if any(tuple(v.shape) != value.shape for v, value in pairs):
        return False
    for v, value in pairs:
        v.assign(value)
    return True


_TASK = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)")


@contextmanager
def peer_failures(role: Role) -> Iterator[None]:
    """A worker that dies (or stops answering) fails the run in one line naming it.

    TensorFlow's multi-worker strategy checks its peers' health in the background and aborts
    the collective ops when one stops answering; the op then raises an ``UnavailableError``
    (or ``DeadlineExceeded``/``Cancelled``/``Aborted``) whose message names the task."""
    if role.count < 2:
        yield
        return
    errors = _tf.tf().errors
    try:
        yield
    except (errors.UnavailableError, errors.DeadlineExceededError, errors.CancelledError,
            errors.AbortedError, errors.InternalError) as exc:
        text = str(getattr(exc, "message", exc))
        found = _TASK.findall(text)
        peers = [f"{job} {task}" for job, task in dict.fromkeys(found)
                 if (job, int(task)) != role.task] or [f"{j} {t}" for j, t in found]
        who = peers[0] if peers else "another worker"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        first = next((line for line in lines if "unhealthy" in line or "aborted" in line),
                     lines[0] if lines else type(exc).__name__)
        raise EdgekitError(f"{who} of the cluster stopped answering "
                           f"({type(exc).__name__}: {first[:160]})",
                           where=f"worker {role.index} of {role.count}",
                           fix="check that worker's log and restart every worker with the "
                               "same command; the chief resumes from its run cache") from None

