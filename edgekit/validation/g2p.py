"""The decoding proof of an encoder-decoder G2P model: its encoder and cached decoder-step
graphs written beside the artifacts, and held-out words decoded through the device loop
(:mod:`edgekit.device.g2p`, NumPy + the runtime) checked against the float Keras model.

The pipeline's per-artifact proofs cover the *teacher-forced* whole model (next-phoneme
agreement and a teacher-forced phoneme error rate on each runtime). This check covers what a
device does: free-running greedy decoding, each phoneme fed back, over the graphs it ships.
Per recipe export entry whose (format, precision) has a writer (GPT's KV-cache table: ONNX at
fp32 and dynamic, TFLite also at fp16; OpenVINO runs the ONNX pair):

* ``greedy_match``: the share of held-out words whose decoded phonemes are exactly the float
  Keras model's greedy decode (its whole teacher-forced graph, fed its own picks);
* ``per`` and ``word_accuracy`` of the decoded phonemes against the dictionary, each word
  scored against the nearest of its pronunciations;
* ``encoder_ms`` (once per word) and ``decode_step_ms`` (per phoneme) as p50/p90/p99;
* samples: the first words and their phonemes.

Pairs *computed* in fp32 must match the float model exactly; a quantized pair's, or one a
runtime computes in bf16, is reported, not gated (one flipped near-tie changes the rest of
the word). Words: the first :data:`WORDS` distinct held-out words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.tasks.g2p import BOS, nearest_reference, until_end
from edgekit.validation.pairs import gate, pair_entries, percentiles_ms

#: export format -> the format of the pair it proves (OpenVINO reads the ONNX pair)
PAIR_FORMAT = {"onnx": "onnx", "tflite": "tflite", "openvino": "onnx"}

WORDS = 200
SAMPLES = 5


def heldout_words(graphemes: np.ndarray, labels: np.ndarray
                  ) -> tuple[np.ndarray, list[list[list[int]]]]:
    """The first :data:`WORDS` distinct held-out words' letter ids ``(n, S)``, and each one's
    pronunciations (every held-out row of that word: split by word, so they are all here)."""
    order: dict[bytes, int] = {}
    refs: list[list[list[int]]] = []
    rows = []
    for letters, label in zip(graphemes, labels):
        key = letters.tobytes()
        if key not in order:
            order[key] = len(rows)
            rows.append(letters)
            refs.append([])
        refs[order[key]].append(until_end(label))
    keep = min(WORDS, len(rows))
    return np.asarray(rows[:keep], dtype=np.int32), refs[:keep]


def keras_greedy(model: Any, graphemes: np.ndarray) -> list[list[int]]:
    """Each word's greedy phonemes from the whole teacher-forced model, fed its own picks: one
    batched forward per decoder position (causal: later positions never change earlier ones)."""
    steps = int(model.inputs[1].shape[1])
    decoder = np.zeros((len(graphemes), steps), dtype=np.int32)
    decoder[:, 0] = BOS
    picks = np.zeros_like(decoder)
    for t in range(steps):
        logits = model([graphemes, decoder], training=False)
        picks[:, t] = np.argmax(np.asarray(logits[:, t]), axis=-1)
        if t + 1 < steps:
            decoder[:, t + 1] = picks[:, t]
    return [until_end(row) for row in picks]


def scores(decoded: list[list[int]], refs: list[list[list[int]]]) -> dict[str, float]:
    """Phoneme error rate and word accuracy against the nearest pronunciation."""
    pairs = np.asarray([nearest_reference(d, r) for d, r in zip(decoded, refs)], dtype=float)
    return {"per": round(float(pairs[:, 0].sum() / max(1.0, pairs[:, 1].sum())), 5),
            "word_accuracy": round(float(np.mean(pairs[:, 0] == 0)), 5)}


def spelled(ids: list[int], vocab: list[str]) -> str:
    return " ".join(vocab[i] for i in ids)


def prove_pair(folder: Path, runtime: str, graphemes: np.ndarray, refs: list[list[list[int]]],
               reference: list[list[int]], threads: int) -> dict[str, Any]:
    from edgekit.device.g2p import CachedG2P

    g2p = CachedG2P(folder, runtime, threads)
    g2p.decode(graphemes[:1])  # warm-up: first calls allocate
    decoded, encoder_s, step_s = [], [], []
    for word in graphemes:
        got = g2p.decode(word[None, :])
        decoded.append(got.phonemes)
        encoder_s.append(got.encoder_s)
        step_s.extend(got.step_s)
    letters = g2p.letters
    return {"runtime": runtime, "executed_precision": g2p.executed_precision,
            "greedy_match": float(np.mean([d == r for d, r in zip(decoded, reference)])),
            **scores(decoded, refs), "encoder_ms": percentiles_ms(encoder_s),
            "decode_step_ms": percentiles_ms(step_s),
            "samples": {"".join(letters[i] for i in word if i): spelled(d, g2p.phonemes)
                        for word, d in zip(graphemes[:SAMPLES], decoded)}}


def prove_decoding(recipe: Any, bundle: Path, models: dict[str, Any], data: Any,
                   threads: int, progress: Any) -> dict[str, Any]:
    """Write each export entry's encoder/decoder-step pair under ``bundle/decoding/`` and
    prove it; the facts for report.json's ``extras["generation"]``."""
    from edgekit.exporters._g2p_pair import write_decoding_graphs

    letters, phonemes = list(data.extra["grapheme_vocab"]), list(data.extra["phoneme_vocab"])
    graphemes, refs = heldout_words(np.asarray(data.test.x["graphemes"]), np.asarray(data.test.y))
    root = bundle / "decoding"
    references: dict[str, list[list[int]]] = {}
    results: list[dict[str, Any]] = []

    def write(model: str, folder: Path, fmt: str, precision: str) -> None:
        write_decoding_graphs(models[model], folder, fmt, precision, letters, phonemes)

    for job in pair_entries(recipe.export, root, PAIR_FORMAT, "decoding", write, progress):
        if isinstance(job, dict):
            results.append(job)
            continue
        if job.model not in references:
            references[job.model] = keras_greedy(models[job.model], graphemes)
        with progress.stage("prove", f"decoding {job.folder.name} on {job.runtime}"):
            facts = gate(prove_pair(job.folder, job.runtime, graphemes, refs,
                                    references[job.model], threads), job.precision)
        progress.note(f"greedy decode of {len(graphemes)} words: {facts['greedy_match']:.0%} "
                      f"match the float model's; PER {facts['per']:.4f}, word accuracy "
                      f"{facts['word_accuracy']:.2%}; encoder {facts['encoder_ms']['p50']} ms, "
                      f"step {facts['decode_step_ms']['p50']} ms")
        results.append({**job.facts, "folder": str(job.folder.relative_to(bundle)), **facts})
    keras_scores = {name: scores(decoded, refs) for name, decoded in references.items()}
    return {"words": len(graphemes), "threads": threads, "keras": keras_scores,
            "pairs": results, "passed": all(r.get("passed") is not False for r in results)}
