"""scikit-learn's handwritten digits (1,797 real 8×8 scans, bundled in the wheel, offline).

Upsampled to the size a recipe asks for (LeNet-5 expects 32×32) by pixel replication, which
adds no information but keeps the classic architecture's shapes.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data._images import ImageTaskConfig, image_dataset


class DigitsConfig(ImageTaskConfig):
    image_size: int = Field(8, description="side in pixels; a multiple of 8", ge=8)


class SklearnDigits(DatasetLoader[DigitsConfig]):
    name = "sklearn_digits"
    description = "scikit-learn digits, 1,797 real 8x8 handwritten digits, 10 classes"
    Config = DigitsConfig

    def load(self, config: DigitsConfig, plan: SplitPlan) -> Dataset:
        from sklearn.datasets import load_digits

        from edgekit.errors import EdgekitError

        if config.image_size % 8:
            raise EdgekitError("image_size must be a multiple of 8", where="data.params.image_size",
                               fix="use 8, 16, 32, ...")
        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)
        factor = config.image_size // 8
        if factor > 1:
            images = np.kron(images, np.ones((1, factor, factor), dtype=np.float32))
        return image_dataset(self.name, images, digits.target.astype(np.int64), config, plan,
                             source="sklearn.datasets.load_digits (UCI optical digits)")


DATASETS.register(SklearnDigits.name, SklearnDigits())
