"""Convolutional networks (LeNet, MobileNet, ResNet ...)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("cnn", FamilySpec(
    name="cnn",
    description="convolutional image classifiers",
    # fp32 conversions reorder float sums (NHWC→NCHW, fused kernels): ~1e-5 on logits of O(10).
    # fp16 weights cost ~3 decimal digits; bf16 (OpenVINO's default on AVX512-BF16) ~2.
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
