"""Graph neural networks on dense adjacency inputs (GCN, GraphSAGE-mean, GAT)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("graph", FamilySpec(
    name="graph",
    description="node classifiers; adjacency and features as dense inputs",
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
