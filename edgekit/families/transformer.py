"""Vision transformers (ViT): patch embedding, self-attention blocks, pooled class scores.
(Text encoders have their own family, ``bert``, with checkpoints and tokenizers.)"""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("transformer", FamilySpec(
    name="transformer",
    description="vision transformers on image patches",
    # LayerNorm + softmax + erf GELU: fp32 runtimes differ ~1e-5 on logits of O(10);
    # fp16 weights ~1e-2, OpenVINO's bf16 ~1e-1.
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
