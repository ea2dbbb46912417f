"""Decoder-only language models (GPT): causal self-attention over token ids, next-token
logits; exported whole (the pipeline's proofs) and as a KV-cache prefill/decode pair (the
device's generation loop, :mod:`edgekit.device.generate`)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("gpt", FamilySpec(
    name="gpt",
    description="decoder-only language models (causal self-attention, next-token logits)",
    # Logits of O(10) over a few thousand tokens after LayerNorm + softmax attention: fp32
    # runtimes differ ~1e-5; fp16 weights ~1e-2; OpenVINO's bf16 ~1e-1 (as the ViT family).
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
