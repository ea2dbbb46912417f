"""The generation proof of a GPT: its KV-cache prefill/decode pairs written beside the
artifacts, and text generated from them through the device loop
(:mod:`edgekit.device.generate`, NumPy + the runtime) checked against the float Keras model.

The pipeline's per-artifact proofs cover the *whole-sequence* graphs (held-out perplexity and
next-token top-1 agreement on each runtime). This check covers what those cannot: the cached
graphs a device actually generates with. Per recipe export entry whose (format, precision)
has a KV-cache writer (:data:`edgekit.exporters._kv_cache.FORMAT_PRECISIONS`: every precision
the whole-sequence exporters give, OpenVINO as its own IR of the pair):

* ``greedy_match``: the share of held-out prompts whose first ``tokens`` greedy tokens are
  exactly the float Keras model's (its full-sequence forward, one token at a time), and
  ``token_match``, the mean share of those tokens before the first difference;
* ``first_token_ms`` (prefill + first pick) and ``decode_ms`` (each later step) as
  p50/p90/p99, and ``tokens_per_s`` over all decode steps;
* a sample: the first prompt and its greedy continuation, as text.

Pairs *computed* in fp32 must match the float model exactly (greedy picks are discontinuous,
but fp32 runtimes differ by ~1e-5 on logits, far below typical gaps between the top two); a
quantized pair's, or one a runtime computes in bf16 (OpenVINO on AVX512-BF16/AMX CPUs), is
reported, not gated: one flipped near-tie changes every token after it. Prompts: the first
:data:`PROMPT_LEN` tokens of the first :data:`PROMPTS` held-out snippets (read after each
``[SEP]`` of the held-out windows, so a prompt opens a sentence rather than cutting a word).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.validation.g2p import prove_decoding
from edgekit.validation.pairs import gate, pair_entries, percentiles_ms

PROMPTS = 16
PROMPT_LEN = 8
NEW_TOKENS = 16
#: export format -> the format of the pair it proves (OpenVINO its own IR of the pair)
PAIR_FORMAT = {"onnx": "onnx", "tflite": "tflite", "openvino": "openvino"}


def keras_greedy(model: Any, prompts: np.ndarray, new_tokens: int) -> np.ndarray:
    """``(n, new_tokens)`` greedy continuations by the full-sequence model, all prompts at once
    (they share one length, so every step is one batched forward)."""
    n, steps = len(prompts), int(model.inputs[0].shape[1])
    ids = np.zeros((n, steps), dtype=np.int32)
    ids[:, :prompts.shape[1]] = prompts
    for t in range(prompts.shape[1], prompts.shape[1] + new_tokens):
        logits = model(ids, training=False)
        ids[:, t] = np.argmax(np.asarray(logits[:, t - 1]), axis=-1)
    return ids[:, prompts.shape[1]:prompts.shape[1] + new_tokens]


def heldout_prompts(windows: np.ndarray, sep: int) -> np.ndarray:
    """``(<= PROMPTS, PROMPT_LEN)`` int32: the openings of the held-out snippets, each the
    tokens after a ``[SEP]`` (none crossing the next one); the windows' first tokens when the
    split has too few snippets."""
    stream = windows.reshape(-1)
    found = []
    for start in np.flatnonzero(stream[:-PROMPT_LEN] == sep) + 1:
        piece = stream[start:start + PROMPT_LEN]
        if sep not in piece:
            found.append(piece)
        if len(found) == PROMPTS:
            break
    if not found:
        found = list(windows[:PROMPTS, :PROMPT_LEN])
    return np.asarray(found, dtype=np.int32)


def token_match(outputs: list[list[int]], reference: np.ndarray) -> dict[str, float]:
    """``greedy_match``: the share of prompts whose tokens are exactly ``reference``'s row;
    ``token_match``: the mean share of each row's tokens before the first difference."""
    exact, prefix = 0, []
    for got, want in zip(outputs, reference):
        same = np.asarray(got[:len(want)]) == want[:len(got)]
        exact += bool(same.all() and len(got) == len(want))
        prefix.append(int(np.argmin(same)) if not same.all() else len(same))
    return {"greedy_match": exact / len(outputs),
            "token_match": float(np.mean(prefix)) / reference.shape[1]}


def timing_facts(firsts: list[float], steps: list[float]) -> dict[str, Any]:
    """Time to first token and per decode step (p50/p90/p99, ms) and tokens/s over all steps,
    from seconds measured around the runtime calls (here, or on a target)."""
    return {"first_token_ms": percentiles_ms(firsts), "decode_ms": percentiles_ms(steps),
            "tokens_per_s": round(len(steps) / sum(steps), 1)}


def prove_pair(folder: Path, runtime: str, prompts: np.ndarray, reference: np.ndarray,
               threads: int, vocab: list[str]) -> dict[str, Any]:
    from edgekit.device.generate import CachedLM, detokenize

    lm = CachedLM(folder, runtime, threads)
    lm.generate(list(prompts[0]), 2)  # warm-up: first calls allocate
    firsts, steps, outputs = [], [], []
    for prompt, want in zip(prompts, reference):
        got = lm.generate(list(prompt), len(want))
        outputs.append(got.tokens)
        firsts.append(got.first_token_s)
        steps.extend(got.step_s)
    return {"runtime": runtime, "executed_precision": lm.executed_precision,
            **token_match(outputs, reference), **timing_facts(firsts, steps),
            "sample": {"prompt": detokenize(list(prompts[0]), vocab),
                       "greedy": detokenize(outputs[0], vocab)}}


PROMPTS_FILE = "prompts.json"
"""Beside the pairs: the held-out prompts and the float model's greedy tokens after each, so
``edgekit validate`` re-proves the pairs on a target against the same tokens (no TensorFlow
there, and the bundle does not keep the Keras model)."""


def write_prompts(root: Path, prompts: np.ndarray, new_tokens: int,
                  references: dict[str, np.ndarray]) -> None:
    """``generation/prompts.json``: the prompts and, per model, its float greedy tokens."""
    (root / PROMPTS_FILE).write_text(json.dumps({
        "schema": "edgekit.generation-prompts/1", "prompt_tokens": int(prompts.shape[1]),
        "new_tokens": new_tokens, "prompts": prompts.tolist(),
        "float_greedy": {name: ref.tolist() for name, ref in references.items()}}),
        encoding="utf-8")


def prove_generation(recipe: Any, bundle: Path, models: dict[str, Any], data: Any,
                     threads: int, progress: Any) -> dict[str, Any]:
    """Write each export entry's KV-cache pair under ``bundle/generation/`` and prove it; the
    facts for report.json's ``extras["generation"]``."""
    from edgekit.device.generate import detokenize
    from edgekit.exporters._kv_cache import write_cached_graphs

    vocab = list(data.extra["lm_vocab"])
    steps = int(data.extra["seq_len"])
    new_tokens = min(NEW_TOKENS, steps - PROMPT_LEN)
    prompts = heldout_prompts(np.asarray(data.test.x[data.input_names[0]]), int(data.extra.get(
        "sep_id", 1)))
    root = bundle / "generation"
    root.mkdir(parents=True, exist_ok=True)
    references: dict[str, np.ndarray] = {}
    results: list[dict[str, Any]] = []
    calibration = np.asarray(data.train.x[data.input_names[0]])  # int8's activation ranges

    def write(model: str, folder: Path, fmt: str, precision: str) -> None:
        write_cached_graphs(models[model], folder, fmt, precision, calibration=calibration)

    for job in pair_entries(recipe.export, root, PAIR_FORMAT, "KV-cache", write, progress):
        if isinstance(job, dict):
            results.append(job)
            continue
        if job.model not in references:
            references[job.model] = keras_greedy(models[job.model], prompts, new_tokens)
        with progress.stage("prove", f"generation {job.folder.name} on {job.runtime}"):
            facts = gate(prove_pair(job.folder, job.runtime, prompts, references[job.model],
                                    threads, vocab), job.precision)
        progress.note(f"greedy {facts['greedy_match']:.0%} of {len(prompts)} prompts match the "
                      f"float model's {new_tokens} tokens; first token "
                      f"{facts['first_token_ms']['p50']} ms, {facts['tokens_per_s']} tokens/s")
        results.append({**job.facts, "folder": str(job.folder.relative_to(bundle)), **facts})
    (root / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    write_prompts(root, prompts, new_tokens, references)
    (root / "tokenizer.json").write_text(str(data.extra["tokenizer_json"]), encoding="utf-8")
    float_sample = {"prompt": detokenize(list(prompts[0]), vocab),
                    "greedy": detokenize(list(next(iter(references.values()))[0]), vocab)} \
        if references else None
    return {"prompts": len(prompts), "prompt_tokens": PROMPT_LEN, "new_tokens": new_tokens,
            "threads": threads, "keras_sample": float_sample, "pairs": results,
            "passed": all(r.get("passed") is not False for r in results)}


#: Family -> its check beyond the per-artifact proofs (called by the pipeline's extras step).
FAMILY_PROOFS = {"gpt": prove_generation, "encoder_decoder": prove_decoding}
