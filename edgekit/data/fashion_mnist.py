"""Fashion-MNIST (Zalando; 70,000 real 28×28 grey product photos, 10 classes), read offline
from Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``).

The 60k/10k files are pooled and re-split by the recipe's plan, so every data set in edgekit
follows the same split rules; ``limit`` draws a stratified subset for CPU-sized runs.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, SplitPlan
from edgekit.data._images import ImageTaskConfig, image_dataset
from edgekit.errors import EdgekitError

ROOT = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "t10k": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


class FashionMNISTConfig(ImageTaskConfig):
    root: str = Field(str(ROOT), description="folder with the four idx .gz files")
    limit: int | None = Field(20000, ge=100, description="stratified subset size (None: all 70k)")
    image_size: int = Field(28, ge=28, description="28, or larger: zero-padded around")


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


def read_fashion_mnist(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 images (uint8, N×28×28) and labels, or a one-line error naming the package."""
    paths = [root / f for pair in FILES.values() for f in pair]
    if not all(p.is_file() for p in paths):
        raise EdgekitError(f"Fashion-MNIST files not found in {root}", where="data.dataset",
                           fix="apt-get install dataset-fashion-mnist (Debian/Ubuntu), or set "
                               "data.params.root")
    images, labels = [], []
    for img_file, lbl_file in FILES.values():
        images.append(_read_idx(root / img_file, 16).reshape(-1, 28, 28))
        labels.append(_read_idx(root / lbl_file, 8))
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


class FashionMNIST(DatasetLoader[FashionMNISTConfig]):
    name = "fashion_mnist"
    description = "Fashion-MNIST, 70,000 real 28x28 product photos, 10 classes (Debian package)"
    Config = FashionMNISTConfig

    def load(self, config: FashionMNISTConfig, plan: SplitPlan) -> Dataset:
        images, labels = read_fashion_mnist(Path(config.root))
        if config.limit is not None and config.limit < len(labels):
            from sklearn.model_selection import train_test_split

            keep, _ = train_test_split(np.arange(len(labels)), train_size=config.limit,
                                       random_state=plan.seed, stratify=labels)
            images, labels = images[np.sort(keep)], labels[np.sort(keep)]
        x = images.astype(np.float32) / 255.0
        pad = config.image_size - 28
        if pad:
            x = np.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2)))
        return image_dataset(self.name, x, labels, config, plan,
                             source=f"Fashion-MNIST (Xiao et al. 2017) from {config.root}",
                             class_names=CLASSES)


DATASETS.register(FashionMNIST.name, FashionMNIST())
