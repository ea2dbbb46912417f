"""Feed-forward networks on feature vectors (perceptron, MLP, RBF network)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("feedforward", FamilySpec(
    name="feedforward",
    description="dense classifiers on tabular features or flattened images",
    # A few matmuls: fp32 reorderings stay ~1e-5; fp16 weights ~1e-2 on logits of O(10).
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
