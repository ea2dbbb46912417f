"""Text generation on a device over a GPT's KV-cache artifacts (the ``prefill`` and ``decode``
graphs and their ``generation.json``, written by ``edgekit.exporters._kv_cache``), with NumPy
and the runtime alone: no TensorFlow, nothing of edgekit outside ``edgekit.device``.

The prompt goes through ``prefill`` once (padded to the graph's fixed length; causal masking
keeps the padding out of every earlier position), which returns the caches; then each new
token costs one ``decode`` call that writes its key/value row into the caches and hands them
back. Greedy picks the arg-max; top-k samples among the k most likely tokens with a seeded
generator, so a run is reproducible.

Latency: time to first token (prefill + the first pick) and the decode steps' tokens per
second, measured around the runtime calls.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.device.errors import EdgekitError
from edgekit.device.runtimes import RUNTIMES, Session

MANIFEST = "generation.json"
#: The runtime that loads each format's pair by default (OpenVINO also reads the ONNX pair).
DEFAULT_RUNTIME = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}


@dataclass
class Generation:
    tokens: list[int]  # the new tokens, prompt excluded
    first_token_s: float  # prefill + first pick
    step_s: list[float] = field(default_factory=list)  # each later decode step

    @property
    def tokens_per_s(self) -> float:
        return len(self.step_s) / sum(self.step_s) if self.step_s else float("nan")


def _named(outputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The output called ``name``; converters decorate names ('StatefulPartitionedCall:1' is
    not one of ours, but 'serving_default_logits:0' contains it)."""
    if name in outputs:
        return outputs[name]
    hits = [k for k in outputs if name in k]
    if len(hits) != 1:
        raise KeyError(f"no single output named '{name}' among {sorted(outputs)}")
    return outputs[hits[0]]


@dataclass
class LoadedPair:
    """A pair folder's manifest, the runtime it runs on and one session per graph: what the
    GPT's prefill/decode pair and an encoder-decoder's encoder/decode-step pair load alike."""

    manifest: dict
    runtime: str
    sessions: dict[str, Session]


def load_pair(folder: str | Path, manifest_name: str, roles: tuple[str, ...],
              runtime: str | None, threads: int) -> LoadedPair:
    """Load ``roles`` (keys of the manifest's ``files``) on ``runtime``, by default the
    format's own; ImportError naming the missing package when the runtime is absent."""
    folder = Path(folder)
    manifest = json.loads((folder / manifest_name).read_text(encoding="utf-8"))
    runtime = runtime or DEFAULT_RUNTIME[manifest["format"]]
    engine = RUNTIMES.get(runtime)
    missing = engine.missing()
    if missing:
        raise ImportError(missing)
    return LoadedPair(manifest, runtime,
                      {role: engine.load(folder / manifest["files"][role], threads)
                       for role in roles})


class CachedLM:
    """A prefill/decode pair loaded on one runtime."""

    def __init__(self, folder: str | Path, runtime: str | None = None, threads: int = 1) -> None:
        pair = load_pair(folder, MANIFEST, ("prefill", "decode"), runtime, threads)
        self.manifest, self.runtime = pair.manifest, pair.runtime
        self.prefill_session: Session = pair.sessions["prefill"]
        self.decode_session: Session = pair.sessions["decode"]
        self.max_len = int(self.manifest["max_len"])
        #: what the engine computes in (OpenVINO may run an fp32 pair in bf16)
        self.executed_precision = self.decode_session.executed_precision(
            self.manifest["precision"])

    def prefill(self, prompt: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits after the prompt's last token, and the caches."""
        if not 0 < len(prompt) <= self.max_len:
            raise ValueError(f"prompt of {len(prompt)} tokens; the graphs take 1..{self.max_len}")
        ids = np.zeros((1, self.max_len), dtype=np.int32)
        ids[0, :len(prompt)] = prompt
        out = self.prefill_session.run_outputs({"input_ids": ids})
        logits = _named(out, "logits")[0, len(prompt) - 1]
        return logits, _named(out, "k_cache"), _named(out, "v_cache")

    def decode(self, token: int, position: int, k_cache: np.ndarray,
               v_cache: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits after ``token`` placed at ``position``, and the updated caches."""
        out = self.decode_session.run_outputs({
            "token": np.array([[token]], dtype=np.int32),
            "position": np.array([position], dtype=np.int32),
            "past_k": k_cache, "past_v": v_cache})
        return _named(out, "logits")[0], _named(out, "k_cache"), _named(out, "v_cache")

    def generate(self, prompt: list[int], max_new: int, *, top_k: int | None = None,
                 seed: int = 0, stop: int | None = None) -> Generation:
        """Up to ``max_new`` tokens after ``prompt`` (fewer where the fixed length ends or
        ``stop`` is generated, which is kept). ``top_k`` None: greedy."""
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        logits, k_cache, v_cache = self.prefill(prompt)
        token = pick(logits, top_k, rng)
        result = Generation([token], time.perf_counter() - start)
        position = len(prompt)
        while (len(result.tokens) < max_new and position < self.max_len
               and token != stop):
            start = time.perf_counter()
            logits, k_cache, v_cache = self.decode(token, position, k_cache, v_cache)
            token = pick(logits, top_k, rng)
            result.step_s.append(time.perf_counter() - start)
            result.tokens.append(token)
            position += 1
        return result


def pick(logits: np.ndarray, top_k: int | None, rng: np.random.Generator) -> int:
    """Arg-max (``top_k`` None or 1), else a draw from the softmax over the k best logits."""
    if not top_k or top_k <= 1:
        return int(np.argmax(logits))
    best = np.argpartition(logits, -top_k)[-top_k:]
    weights = np.exp(logits[best] - logits[best].max())
    return int(rng.choice(best, p=weights / weights.sum()))


#: GPT-2's end-of-text token: a byte-level BPE vocabulary's snippet separator.
END_OF_TEXT = "<|endoftext|>"
_BYTES: dict[str, int] = {}


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: the printable character each byte is written
    as -> the byte (printable Latin-1 bytes stand for themselves, the rest from U+0100 on)."""
    if not _BYTES:
        bs = [*range(33, 127), *range(161, 173), *range(174, 256)]
        extra = [b for b in range(256) if b not in bs]
        _BYTES.update({chr(b): b for b in bs})
        _BYTES.update({chr(256 + n): b for n, b in enumerate(extra)})
    return _BYTES


def detokenize(ids: list[int], vocab: list[str]) -> str:
    """Ids back to text. WordPiece: '##' pieces join the word before them. A GPT-2 byte-level
    vocabulary (it holds ``<|endoftext|>``): the pieces' characters are bytes."""
    if END_OF_TEXT in vocab:
        table, out = _byte_decoder(), bytearray()
        for i in ids:
            piece = vocab[i]
            if piece.startswith("<|") and piece.endswith("|>"):
                out += piece.encode()
            else:
                for c in piece:
                    out += bytes([table[c]]) if c in table else c.encode()
        return out.decode("utf-8", errors="replace")
    words: list[str] = []
    for i in ids:
        piece = vocab[i]
        if piece.startswith("##") and words:
            words[-1] += piece[2:]
        else:
            words.append(piece)
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """``python -m edgekit.device.generate BUNDLE/generation/PAIR "a prompt"``: encode the
    prompt with the bundle's tokenizer, generate, print the text and the timings."""
    import argparse

    from edgekit.device.tokenizer import load_tokenizer

    parser = argparse.ArgumentParser(prog="python -m edgekit.device.generate",
                                     description=main.__doc__)
    parser.add_argument("pair", type=Path, help="a KV-cache pair folder (has generation.json)")
    parser.add_argument("prompt")
    parser.add_argument("--tokens", type=int, default=20, help="new tokens at most")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k best "
                        "(default: greedy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runtime", default=None, help="default: the format's own engine")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    shared = args.pair.parent  # the tokenizer and vocabulary sit beside the pairs
    try:
        for path in (args.pair / MANIFEST, shared / "vocab.json", shared / "tokenizer.json"):
            if not path.is_file():
                raise EdgekitError("not found", where=path, fix="pass a KV-cache pair folder of "
                                   "a gpt bundle, e.g. BUNDLE/generation/final-onnx-fp32")
        vocab = json.loads((shared / "vocab.json").read_text(encoding="utf-8"))
        prompt = load_tokenizer(shared).encode(args.prompt, add_special_tokens=False).ids
        if not prompt:
            raise EdgekitError("the prompt has no tokens", where="prompt", fix="give some text")
        lm = CachedLM(args.pair, args.runtime, args.threads)
        result = lm.generate(prompt, args.tokens, top_k=args.top_k, seed=args.seed,
                             stop=next((vocab.index(t) for t in ("[SEP]", END_OF_TEXT)
                                       if t in vocab), None))
    except (EdgekitError, ImportError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(detokenize(prompt, vocab), "→", detokenize(result.tokens, vocab))
    print(f"{lm.runtime} ({lm.executed_precision}): first token "
          f"{result.first_token_s * 1e3:.2f} ms, {result.tokens_per_s:.0f} tokens/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
