"""Grapheme to phoneme on a device over an encoder-decoder's decoding artifacts (the
``encoder`` and ``decode`` graphs and their ``decoding.json``, written by
``edgekit.exporters._g2p_pair``), with NumPy and the runtime alone: no TensorFlow, nothing of
edgekit outside ``edgekit.device``.

The word's letters go through ``encoder`` once; then each phoneme costs one ``decode`` call,
fed the previous phoneme, the encoder's output and the self-attention caches it returned last
time, until ``</s>`` or the decoder's fixed length. Greedy: the arg-max each step (a G2P model's
output is one pronunciation, not a sample).

Latency, measured around the runtime calls: the encoder call, and each decode step.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.device.errors import EdgekitError
from edgekit.device.generate import _named, load_pair
from edgekit.device.runtimes import Session

MANIFEST = "decoding.json"
BOS, EOS = 1, 2


@dataclass
class Decoding:
    phonemes: list[int]  # ids, </s> excluded
    encoder_s: float
    step_s: list[float] = field(default_factory=list)  # each decode step


class CachedG2P:
    """An encoder/decode pair loaded on one runtime."""

    def __init__(self, folder: str | Path, runtime: str | None = None, threads: int = 1) -> None:
        pair = load_pair(folder, MANIFEST, ("encoder", "decode"), runtime, threads)
        self.manifest, self.runtime = pair.manifest, pair.runtime
        self.encoder_session: Session = pair.sessions["encoder"]
        self.decode_session: Session = pair.sessions["decode"]
        self.max_letters = int(self.manifest["max_letters"])
        self.max_len = int(self.manifest["max_len"])
        self.cache_shape = (int(self.manifest["layers"]), 1, int(self.manifest["heads"]),
                            self.max_len, int(self.manifest["head_dim"]))
        self.letters: list[str] = self.manifest["letters"]
        self.phonemes: list[str] = self.manifest["phonemes"]
        #: what the engine computes in (OpenVINO may run an fp32 pair in bf16)
        self.executed_precision = self.decode_session.executed_precision(
            self.manifest["precision"])

    def encode_word(self, word: str) -> np.ndarray:
        """``(1, max_letters)`` int32 letter ids of ``word`` (lower-cased), 0-padded."""
        index = {c: i for i, c in enumerate(self.letters) if i}
        word = word.strip().lower()
        unknown = sorted({c for c in word if c not in index})
        if unknown or not 0 < len(word) <= self.max_letters:
            raise ValueError(f"'{word}': the model reads 1..{self.max_letters} of the letters "
                             f"{''.join(self.letters[1:])}" + (f"; not {unknown}" if unknown
                                                              else ""))
        ids = np.zeros((1, self.max_letters), dtype=np.int32)
        ids[0, :len(word)] = [index[c] for c in word]
        return ids

    def decode(self, graphemes: np.ndarray) -> Decoding:
        """Greedy phoneme ids for one word's ``(1, max_letters)`` letter ids."""
        start = time.perf_counter()
        memory = _named(self.encoder_session.run_outputs({"graphemes": graphemes}), "memory")
        result = Decoding([], time.perf_counter() - start)
        k_cache = np.zeros(self.cache_shape, dtype=np.float32)
        v_cache = np.zeros_like(k_cache)
        token = BOS
        for position in range(self.max_len):
            start = time.perf_counter()
            out = self.decode_session.run_outputs({
                "token": np.array([[token]], dtype=np.int32),
                "position": np.array([position], dtype=np.int32),
                "graphemes": graphemes, "memory": memory, "past_k": k_cache, "past_v": v_cache})
            token = int(np.argmax(_named(out, "logits")[0]))
            k_cache, v_cache = _named(out, "k_cache"), _named(out, "v_cache")
            result.step_s.append(time.perf_counter() - start)
            if token == EOS:
                break
            result.phonemes.append(token)
        return result

    def pronounce(self, word: str) -> list[str]:
        return [self.phonemes[i] for i in self.decode(self.encode_word(word)).phonemes]


def main(argv: list[str] | None = None) -> int:
    """``python -m edgekit.device.g2p BUNDLE/decoding/PAIR word [word ...]``: each word's
    phonemes (ARPAbet) and the timings."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m edgekit.device.g2p",
                                     description=main.__doc__)
    parser.add_argument("pair", type=Path, help="a decoding pair folder (has decoding.json)")
    parser.add_argument("words", nargs="+")
    parser.add_argument("--runtime", default=None, help="default: the format's own engine")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if not (args.pair / MANIFEST).is_file():
            raise EdgekitError("not found", where=args.pair / MANIFEST, fix="pass a decoding "
                               "pair folder of a transformer_g2p bundle, e.g. "
                               "BUNDLE/decoding/final-onnx-fp32")
        g2p = CachedG2P(args.pair, args.runtime, args.threads)
        for word in args.words:
            result = g2p.decode(g2p.encode_word(word))
            steps = np.asarray(result.step_s) * 1e3
            print(f"{word}\t{' '.join(g2p.phonemes[i] for i in result.phonemes)}\t"
                  f"encoder {result.encoder_s * 1e3:.2f} ms, {len(steps)} steps of "
                  f"{np.median(steps):.2f} ms")
    except (EdgekitError, ImportError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{g2p.runtime} ({g2p.executed_precision})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
