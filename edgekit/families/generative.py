"""Generators: latent code → image (a VAE's decoder; DCGAN and diffusion to come)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("generative", FamilySpec(
    name="generative",
    description="latent-to-image generators judged by a sample-quality proxy",
    # Sigmoid pixels in [0, 1], as the autoencoders'.
    conversion_atol={"fp32": 1e-3, "fp16": 3e-2, "bf16": 1e-1},
))
