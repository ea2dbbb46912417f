"""Recurrent networks (SimpleRNN, LSTM, GRU, bidirectional LSTM) on series and token ids."""

from edgekit.families import FAMILIES, FamilySpec

FAMILIES.register("recurrent", FamilySpec(
    name="recurrent",
    description="recurrent forecasters and text classifiers (unrolled for portability)",
    # Errors compound over the time steps (sigmoid/tanh approximations differ per runtime);
    # fp32 stays ~1e-5 on 24 steps, fp16 weights ~1e-2.
    conversion_atol={"fp32": 1e-3, "fp16": 5e-2, "bf16": 2e-1},
))
