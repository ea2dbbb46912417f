"""MobileNet on Fashion-MNIST: width, learning-rate schedule and augmentation, one arm per call.

Why recipes/mobilenet.yaml trains width 1.0 with a cosine rate (issue 15: at width 0.5 with a
constant rate its full run sat 5.3 points under the published 0.95). Each call trains the
recipe's builder on the recipe's full data (56k photos) from seed 0 and appends one JSON line
(accuracy on all 10,500 held-out photos and on the first 1,000 the proofs use) to ``--out``:

    PYTHONPATH=. python benchmarks/mobilenet_probe.py ARM EPOCHS ALPHA [--out FILE]

ARM: ``const`` (the recipe's old constant rate), ``cos`` (``train.lr_schedule: cosine``),
``cos_aug`` (cosine plus random horizontal flips and shifts of up to 2 pixels, in tf.data).
Results: benchmarks/results/mobilenet-probe.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402

from edgekit import _tf  # noqa: E402
from edgekit.models import MODELS  # noqa: E402
from edgekit.pipeline import load_data  # noqa: E402
from edgekit.recipe import load_recipe  # noqa: E402
from edgekit.tasks import TASKS  # noqa: E402
from edgekit.training import lr_schedule, make_optimizer  # noqa: E402


def _augmented(x: np.ndarray, y: np.ndarray, key: str, batch_size: int) -> object:
    tf = _tf.tf()

    def flip_and_shift(img: object, label: object) -> tuple[object, object]:
        shape = tf.shape(img)
        img = tf.image.random_flip_left_right(img)
        return tf.image.random_crop(tf.pad(img, [[2, 2], [2, 2], [0, 0]]), shape), label

    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0)
          .map(flip_and_shift, num_parallel_calls=2).batch(batch_size).prefetch(2))
    return ds.map(lambda a, b: ({key: a}, b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arm", choices=["const", "cos", "cos_aug"])
    ap.add_argument("epochs", type=int)
    ap.add_argument("alpha", type=float)
    ap.add_argument("--out", type=Path, default=Path("mobilenet-probe.jsonl"))
    args = ap.parse_args()
    recipe = load_recipe("mobilenet", overrides={
        "model.params": {"alpha": args.alpha}, "train.epochs": args.epochs,
        "train.lr_schedule": "constant" if args.arm == "const" else "cosine"})
    data = load_data(recipe)
    _tf.set_seed(0)
    task = TASKS.get(data.task)
    model = MODELS.get("mobilenet").build(recipe.model.params, data)
    model.compile(make_optimizer(recipe.train.optimizer, recipe.train.learning_rate),
                  loss=task.keras_loss(), metrics=task.keras_metrics())
    y = task.fit_targets(data.train)
    batch = recipe.train.batch_size
    callbacks = lr_schedule(recipe.train)
    start = time.time()
    if args.arm == "cos_aug":
        (key, x), = data.train.x.items()
        history = model.fit(_augmented(x, y, key, batch), epochs=args.epochs, verbose=0,
                            callbacks=callbacks)
    else:
        history = model.fit(data.train.x, y, batch_size=batch, epochs=args.epochs, verbose=0,
                            shuffle=True, callbacks=callbacks)
    seconds = time.time() - start
    predicted = model.predict(data.test.x, batch_size=256, verbose=0).argmax(-1)
    right = predicted == data.test.y
    row = {"arm": args.arm, "epochs": args.epochs, "alpha": args.alpha, "params":
           model.count_params(), "train_s": round(seconds), "acc_first_1000":
           float(right[:1000].mean()), "acc_all": round(float(right.mean()), 4),
           "loss": [round(v, 4) for v in history.history["loss"]]}
    print(json.dumps(row))
    with args.out.open("a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
