"""Autoencoders (dense, denoising, variational) scored as anomaly detectors."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("autoencoder", FamilySpec(
    name="autoencoder",
    description="reconstruction models; anomaly AUROC from reconstruction error",
    # Outputs are sigmoid pixels in [0, 1]: fp32 reorderings ~1e-6, fp16 weights ~1e-2.
    conversion_atol={"fp32": 1e-3, "fp16": 3e-2, "bf16": 1e-1},
))
