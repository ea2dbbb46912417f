"""Text → label with a bundle's artifact, its tokenizer and a runtime; nothing else.

    python -m edgekit.device.text_classify BUNDLE "a gripping, beautifully shot film"
        [--artifact artifacts/distilbert-distilbert-dynamic.tflite] [--threads 2]
    python -m edgekit.device.text_classify BUNDLE --texts-file texts.npy --out text.npz

The second form is how ``edgekit validate`` proves the text path on a target: it writes the
token arrays (``x__<input>``) and logits of every text to an ``.npz``.

This is what runs on a device: it imports NumPy, ``tokenizers`` and one runtime adapter, all
from :mod:`edgekit.device` (no pydantic, no TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.device.errors import EdgekitError
from edgekit.device.formats import files_for_suffix
from edgekit.device.runner import exit_with_stdin
from edgekit.device.runtimes import RUNTIMES
from edgekit.device.tokenizer import encode, load_tokenizer


@dataclass(frozen=True)
class Prediction:
    text: str
    label: str
    probabilities: dict[str, float]


class TextClassifier:
    def __init__(self, bundle: Path, artifact: str | None = None, threads: int = 2,
                 runtime: str | None = None, options: dict[str, str] | None = None) -> None:
        manifest_path = bundle / "text.json"
        if not manifest_path.is_file():
            raise EdgekitError("not a text bundle (no text.json)", where=bundle,
                               fix="pass a bundle written by a text recipe such as distilbert")
        self.manifest = json.loads(manifest_path.read_text())
        self.tokenizer = load_tokenizer(bundle / self.manifest["tokenizer_dir"])
        path = bundle / (artifact or self._fastest(bundle))
        files = files_for_suffix(path.suffix)  # no --runtime: the format's default one
        self.runtime = RUNTIMES.get(runtime or (files.runtime if files else ""))
        self.session = self.runtime.load(path, threads, **(options or {}))
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

    def facts(self) -> dict[str, object]:
        """Where this ran (for ``edgekit validate``): the runtime, its version, the machine,
        and whether TensorFlow was imported (a device has none)."""
        import platform

        from edgekit.device.hardware import detect

        return {"runtime": self.runtime.name, "runtime_version": self.runtime.version(),
                "machine": platform.machine(), "hardware": detect(),
                "imported_tensorflow": "tensorflow" in sys.modules}

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        return encode(self.tokenizer, texts, int(self.manifest["seq_len"]))

    def logits(self, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The token arrays of ``texts`` and the model's logits, one text at a time."""
        enc = self.encode(texts)
        rows = [self.session.run({k: v[i:i + 1] for k, v in enc.items()})[0]
                for i in range(len(texts))]
        return enc, np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)

    def predict(self, texts: list[str]) -> list[Prediction]:
        _, all_logits = self.logits(texts)
        labels = self.manifest["labels"]
        out = []
        for text, logits in zip(texts, all_logits):
            p = np.exp(logits - logits.max())
            p /= p.sum()
            out.append(Prediction(text, labels[int(p.argmax())],
                                  {lab: round(float(q), 4) for lab, q in zip(labels, p)}))
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("texts", nargs="*")
    parser.add_argument("--artifact")
    parser.add_argument("--runtime", help="default: by the artifact's suffix")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts-file", type=Path, help=".npy of strings to classify")
    parser.add_argument("--out", type=Path, help="write x__<input> token arrays and logits (.npz)")
    parser.add_argument("--timings", type=Path, help="with --out: write runtime facts (JSON)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a runtime load option from the device profile, e.g. spinning=0")
    args = parser.parse_args(argv)
    exit_with_stdin()
    try:
        clf = TextClassifier(args.bundle, args.artifact, args.threads, args.runtime,
                             dict(opt.split("=", 1) for opt in args.option))
        texts = list(args.texts)
        if args.texts_file:
            texts += [str(t) for t in np.load(args.texts_file, allow_pickle=False)]
        if args.out:
            enc, logits = clf.logits(texts)
            np.savez(args.out, logits=logits, **{f"x__{k}": v for k, v in enc.items()})
            if args.timings:
                args.timings.write_text(json.dumps(clf.facts()))
            return 0
        for p in clf.predict(texts):
            print(json.dumps({"text": p.text, "label": p.label, "probabilities": p.probabilities,
                              "artifact": str(clf.artifact.relative_to(args.bundle))}))
    except EdgekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
