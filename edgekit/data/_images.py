"""Shared by the image loaders: one set of images can pose several tasks.

``classification``: labels are the classes. ``anomaly``: one class is held out as the anomaly;
train and validation splits keep only the normal classes (an autoencoder never sees the
anomaly), the held-out split keeps everything with ``y = 1`` for the anomaly, so reconstruction
error can be scored by AUROC. ``generation``: inputs are seeded N(0, I) latent codes (``code``
wide), labels are the real images (flattened) a generator's samples are compared with.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from edgekit.data import Dataset, DatasetExtra, LoaderConfig, Split, SplitPlan, stratified_split


class ImageTaskConfig(LoaderConfig):
    input_name: str = "image"
    flatten: bool = Field(False, description="feature vectors (for dense models) instead of "
                          "H×W×1 images")
    task: Literal["classification", "anomaly", "generation"] = "classification"
    anomaly_class: int = Field(0, ge=0, description="with task: anomaly, the class held out of "
                               "training and scored as the anomaly")
    code: int = Field(8, ge=1, description="with task: generation, latent code width")


def _only(split: Split, keep: np.ndarray) -> Split:
    return Split({k: v[keep] for k, v in split.x.items()}, split.y[keep])


def image_dataset(name: str, images: np.ndarray, labels: np.ndarray, config: ImageTaskConfig,
                  plan: SplitPlan, *, source: str, class_names: list[str] | None = None) -> Dataset:
    """Images in [0, 1] (N×H×W) and integer labels → a Dataset posing ``config.task``."""
    images = images.astype(np.float32)
    x = {config.input_name: images.reshape(len(images), -1) if config.flatten
         else images[..., None]}
    parts = stratified_split(x, labels, plan)  # identical images grouped by their bytes
    train, val, test = parts
    extra: DatasetExtra = {"class_names": class_names} if class_names else {}
    extra["split"] = parts.report.to_json()
    if config.task == "generation":
        rng = np.random.default_rng(plan.seed)
        flat = {config.input_name: images.reshape(len(images), -1)}
        parts = stratified_split(flat, labels, plan)
        train, val, test = (Split({"z": rng.standard_normal((len(p), config.code))
                                   .astype(np.float32)}, p.x[config.input_name]) for p in parts)
        return Dataset(name=name, task="generation", train=train, val=val, test=test,
                       num_classes=None, source=f"{source}; seeded N(0, I) codes → real images",
                       extra={**extra, "image_shape": list(images.shape[1:])})
    if config.task == "classification":
        return Dataset(name=name, task="classification", train=train, val=val, test=test,
                       num_classes=int(labels.max()) + 1, source=source, extra=extra)
    a = config.anomaly_class
    train, val = (_only(s, s.y != a) for s in (train, val))
    test = Split(test.x, (test.y == a).astype(np.int64))
    extra["anomaly_class"] = a
    return Dataset(name=name, task="anomaly", train=train, val=val, test=test, num_classes=None,
                   source=f"{source}; class {a} held out as the anomaly", extra=extra)
