"""Hybrids: architectures that join two kinds of computation in one graph: convolution then
attention (CoAtNet-style), or a learned vector field integrated by an unrolled ODE solver
(Neural ODE)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("hybrid", FamilySpec(
    name="hybrid",
    description="convolution–attention hybrids and Neural ODEs (unrolled fixed-step solver)",
    # The CNN and transformer tolerances: fp32 runtimes reorder sums (~1e-5 on logits of O(10)
    # and on standardized forecasts of O(1), also through the ODE's 16 shared-weight vector
    # field evaluations); fp16 weights ~1e-2; OpenVINO's bf16 default ~1e-1.
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
