"""tf.distribute strategies by name, so a recipe scales out by changing one word.

``default`` is TensorFlow's default (one device). ``mirrored`` replicates over the local
GPUs; ``multi_worker_mirrored`` reads the cluster from ``TF_CONFIG`` as TensorFlow documents.
Models are built, compiled, trained and distilled inside ``strategy.scope()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekit import _tf
from edgekit.registry import Registry

STRATEGIES: Registry[Callable[[], Any]] = Registry("distribution strategy")

STRATEGIES.register("default", lambda: _tf.tf().distribute.get_strategy())
STRATEGIES.register("one_device", lambda: _tf.tf().distribute.OneDeviceStrategy("/cpu:0"))
STRATEGIES.register("mirrored", lambda: _tf.tf().distribute.MirroredStrategy())
STRATEGIES.register("multi_worker_mirrored",
                    lambda: _tf.tf().distribute.MultiWorkerMirroredStrategy())


def make_strategy(name: str) -> Any:
    return STRATEGIES.get(name)()
