"""BERT-style transformer encoders with a classification head."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("bert", FamilySpec(
    name="bert",
    description="transformer encoders (BERT, DistilBERT/TinyBERT students) for text",
    # Logits are O(5); fp32 runtimes reorder the long attention/FFN sums (~1e-5 observed).
    # OpenVINO's bf16 default measured 4e-3 on MiniLM logits; fp16 weights ~1e-2.
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 1e-1},
    # torch.onnx's layout, so ONNX Runtime fuses Attention/LayerNorm/GELU (tf2onnx's does not).
    graph_writers={"onnx": "bert_onnx"},
))
