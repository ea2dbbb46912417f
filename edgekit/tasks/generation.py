"""Generation: the model maps latent codes (fixed, seeded N(0, I) draws in the held-out split)
to images; the held-out split's labels are *real* held-out images.

Metric, ``frechet_pca`` (lower is better): the Fréchet distance between Gaussians fitted to
generated and real images in the space of the real held-out images' top principal components
(FID's formula with linear features instead of Inception's: nothing to download, deterministic,
and it penalises both blurry samples, whose spread is too small, and off-manifold ones, whose
mean is off). Agreement: the share of samples within a mean |pixel diff| of 0.02 of the
reference generator's sample for the same code (pixels are in [0, 1]).

Reference points on scikit-learn digits (25% held out): real training images 0.08, independent
per-pixel Gaussians with the real means/variances 1.05, uniform noise 2.17; the quick VAE
decoder scores ~0.8; the mean image repeated (the blurriest generator) 4.2. On Fashion-MNIST
(the full recipes' 20k images, 10% held out, 784 pixels: distances are larger): real training
images 0.13, independent per-pixel Gaussians 41.6, the mean image 52.8, uniform noise 72.4;
the full VAE decoder 11.9, DCGAN 10.7 (benchmarks/results/families-full.md).
"""

from __future__ import annotations

import numpy as np

from edgekit import _tf
from edgekit.tasks import TASKS, Task
from edgekit.tasks.anomaly import mean_within

COMPONENTS = 16


def _pca_basis(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = real.mean(axis=0)
    _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
    return mean, vt[:COMPONENTS].T


def pca_features(outputs: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Per example, the real image's and the generated one's coordinates on the real held-out
    images' top principal components, side by side: ``(n, 2 * COMPONENTS)``."""
    from threadpoolctl import threadpool_limits

    real = real.reshape(len(real), -1).astype(np.float64)
    fake = outputs.reshape(len(outputs), -1).astype(np.float64)
    # One BLAS thread: these matrices are tiny, and OpenBLAS's spinning worker threads were
    # seen to stall for minutes next to OpenVINO's thread pool on a loaded 2-core machine.
    with threadpool_limits(1):
        mean, basis = _pca_basis(real)
        return np.concatenate([(real - mean) @ basis, (fake - mean) @ basis], axis=1)


def frechet_of_features(features: np.ndarray, _labels: np.ndarray | None = None) -> float:
    """The Fréchet distance between the Gaussians fitted to the real and generated halves of
    :func:`pca_features` (the bootstrap resamples these rows; the basis stays the full
    split's, as FID keeps its feature extractor fixed)."""
    # 16-wide matrices: too small for BLAS to start its threads (no threadpool_limits, whose
    # library scan would cost more than the arithmetic across 2000 resamples)
    a, b = features[:, :COMPONENTS], features[:, COMPONENTS:]
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    eps = 1e-6 * np.eye(COMPONENTS)  # keeps the root defined when samples collapse (no spread)
    da, db = a - mu_a, b - mu_b
    cov_a, cov_b = da.T @ da / (len(a) - 1) + eps, db.T @ db / (len(b) - 1) + eps  # as np.cov
    # tr(sqrtm(A B)) is the sum of the square roots of A B's eigenvalues (real and >= 0 for
    # covariance matrices, up to rounding): much cheaper than scipy's sqrtm.
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real
    trace_covmean = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b) - 2.0 * trace_covmean)


def frechet_pca(outputs: np.ndarray, real: np.ndarray) -> float:
    return frechet_of_features(pca_features(outputs, real))


TASKS.register("generation", Task(
    name="generation",
    metric="frechet_pca",
    higher_is_better=False,
    score=frechet_pca,
    agreement=mean_within,
    keras_loss=lambda: _tf.keras().losses.MeanSquaredError(),  # generators train their own loss
    keras_metrics=lambda: [],
    per_example=lambda outputs, split: pca_features(outputs, split.y),
    reduce=frechet_of_features,
    interval_resamples=1000,  # two covariances and an eigen-decomposition per resample
))
