"""Text → label with a bundle's artifact, its tokenizer and a runtime; nothing else.

    python -m edgekit.runners.text_classify BUNDLE "a gripping, beautifully shot film"
        [--artifact artifacts/distilbert-distilbert-dynamic.tflite] [--threads 2]

This is what runs on a device: it imports NumPy, ``tokenizers`` and one runtime adapter.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.models.bert.tokenizer import encode, load_tokenizer
from edgekit.runtimes import RUNTIMES

RUNTIME_FOR_SUFFIX = {".tflite": "litert", ".onnx": "onnxruntime", ".xml": "openvino"}


@dataclass(frozen=True)
class Prediction:
    text: str
    label: str
    probabilities: dict[str, float]


class TextClassifier:
    def __init__(self, bundle: Path, artifact: str | None = None, threads: int = 2) -> None:
        manifest_path = bundle / "text.json"
        if not manifest_path.is_file():
            raise EdgekitError("not a text bundle (no text.json)", where=bundle,
                               fix="pass a bundle written by a text recipe such as distilbert")
        self.manifest = json.loads(manifest_path.read_text())
        self.tokenizer = load_tokenizer(bundle / self.manifest["tokenizer_dir"])
        path = bundle / (artifact or self._fastest(bundle))
        runtime = RUNTIMES.get(RUNTIME_FOR_SUFFIX.get(path.suffix, ""))
        self.session = runtime.load(path, threads)
        self.artifact = path

    @staticmethod
    def _fastest(bundle: Path) -> str:
        """The passing artifact with the lowest p50 in the bundle's report."""
        report = json.loads((bundle / "report.json").read_text())
        passing = [a for a in report["artifacts"] if a["passed"] and a["model"] != "reference"]
        if not passing:
            raise EdgekitError("no artifact passed its budget", where=bundle / "report.json",
                               fix="pass --artifact explicitly")
        return min(passing, key=lambda a: a["latency_ms"]["p50"])["file"]

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        return encode(self.tokenizer, texts, int(self.manifest["seq_len"]))

    def predict(self, texts: list[str]) -> list[Prediction]:
        enc = self.encode(texts)
        labels = self.manifest["labels"]
        out = []
        for i, text in enumerate(texts):
            logits = self.session.run({k: v[i:i + 1] for k, v in enc.items()})[0]
            p = np.exp(logits - logits.max())
            p /= p.sum()
            out.append(Prediction(text, labels[int(p.argmax())],
                                  {lab: round(float(q), 4) for lab, q in zip(labels, p)}))
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--artifact")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        clf = TextClassifier(args.bundle, args.artifact, args.threads)
        for p in clf.predict(args.texts):
            print(json.dumps({"text": p.text, "label": p.label, "probabilities": p.probabilities,
                              "artifact": str(clf.artifact.relative_to(args.bundle))}))
    except EdgekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
