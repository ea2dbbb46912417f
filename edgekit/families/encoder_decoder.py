"""Encoder-decoder Transformers (sequence to sequence): an encoder reads the input sequence,
a decoder writes the output one token at a time attending to it; exported whole (teacher
forced: the pipeline's proofs) and as an encoder graph plus a cached one-step decoder graph
(the device's greedy decoding loop, :mod:`edgekit.device.g2p`)."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("encoder_decoder", FamilySpec(
    name="encoder_decoder",
    description="encoder-decoder Transformers (sequence to sequence, e.g. grapheme to phoneme)",
    # Next-phoneme logits of O(10) over ~40 phonemes after LayerNorm + softmax attention: fp32
    # runtimes differ ~1e-5, fp16 weights ~1e-2. OpenVINO's bf16 (8-bit mantissa, ~0.4% a
    # rounding) compounds through the encoder, the memory and every decoder block: 0.44 on the
    # --quick model, above GPT's 0.2; agreement and the PER budget judge what it costs.
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 1.0},
))
