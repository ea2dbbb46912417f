"""edgekit's GPU artifacts against PyTorch on the same weights, on one NVIDIA GPU, in one run.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/gpu.py [--models tinybert distilbert cnn]
        [--seq 48] [--rounds 30 --per-round 10]

Needs onnxruntime-gpu (CUDA EP) and an NVIDIA driver; without them it prints why and exits 0
having written nothing (``skipped: ...``). PyTorch rows need ``torch`` with CUDA and
``transformers`` (the ``peers`` extra); without them those rows are skipped and say why.

Models, built here with random weights (latency does not depend on what the weights learned):
the TinyBERT student of ``recipes/tinybert.yaml`` (3 layers x 192, 12 heads, FFN 768), the
DistilBERT student of ``recipes/distilbert.yaml`` (3 layers x 384, 12 heads, FFN 1536), both
with the 30,522-token vocabulary and ``--seq`` tokens, and a CNN (the ``mobilenet`` builder's
MobileNet v1 at alpha 0.5, 28x28x1 images: the recipe's width when the committed results were
measured; its full form trains 1.0 now, its --quick form still 0.5). For each, at batch 1 and 64:

- edgekit ONNX fp32 and fp16 (fused: ONNX Runtime's BERT fusions), each with and without CUDA
  graphs + I/O binding (the ``cuda_graphs`` option of ``devices/gpu-nvidia.yaml``), run through
  edgekit's own ``onnxruntime-cuda`` adapter, so this measures the code path ``edgekit
  profile``/``validate`` use; each session's execution-provider placement is recorded.
- For the BERTs, PyTorch on the *same weights* (the Hugging Face checkpoint edgekit writes from
  the same Keras model): eager fp32, eager fp16, and ``torch.compile`` (mode
  ``reduce-overhead``, which uses CUDA graphs) in fp32 and fp16. The CNN has no Hugging Face
  form, so it has edgekit rows only.

Every engine takes NumPy inputs on the host and returns NumPy logits (host->device copy,
compute, device->host copy), timed in interleaved rounds so drifting clocks hit every engine
alike. Reported: p50/p99 ms and sequences (or images) per second at p50, and each engine's max
|Δ| against ONNX Runtime CPU fp32 logits on the same batch. Writes
``benchmarks/results/gpu.md`` and ``.json`` with the GPU, driver, versions and this command.

Goals (issue 14): the TinyBERT student's best edgekit artifact <= 0.15 ms at batch 1 and
>= 250,000 sequences/s at batch 64 on an H100-class GPU, and never slower than the best
PyTorch path at either batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from timing import interleaved_samples

from edgekit.device import hardware

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BATCHES = (1, 64)
Feed = dict[str, np.ndarray]
Engine = Callable[[Feed], np.ndarray]
GOALS = {"tinybert_p50_ms_batch1": 0.15, "tinybert_per_s_batch64": 250_000}


def cuda_missing() -> str | None:
    """Why this machine cannot run the benchmark (None: it can)."""
    from edgekit.device.runtimes import RUNTIMES

    return RUNTIMES.get("onnxruntime-cuda").missing()


# --- models ---------------------------------------------------------------------------------

def bert_configs() -> dict[str, Any]:
    from edgekit.models.bert.config import BertConfig

    common = dict(vocab_size=30522, max_position_embeddings=512, num_labels=2, num_layers=3,
                  num_heads=12)
    return {"tinybert": BertConfig(hidden_size=192, intermediate_size=768, **common),
            "distilbert": BertConfig(hidden_size=384, intermediate_size=1536, **common)}


def bert_feed(vocab: int, seq: int, batch: int, seed: int) -> Feed:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(seq // 4, seq + 1, batch)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(1000, vocab, (batch, seq)).astype(np.int32) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}


def image_feed(batch: int, seed: int) -> Feed:
    return {"image": np.random.default_rng(seed).random((batch, 28, 28, 1), dtype=np.float32)}


def build_bert(config: Any, seq: int) -> Any:
    from edgekit.models.bert.encoder import build_bert as build

    model = build(config, seq)
    head = model.get_layer("classifier")  # unit-scale head: logits of O(1-10), not ~1e-2
    kernel, bias = head.get_weights()
    head.set_weights([np.random.default_rng(0).normal(0, 1, kernel.shape).astype(np.float32), bias])
    return model


def build_cnn() -> Any:
    from edgekit.models import MODELS

    builder = MODELS.get("mobilenet")
    data = SimpleNamespace(input_shapes=lambda: {"image": (28, 28, 1)}, num_classes=10)
    model = builder.build(builder.Config(alpha=0.5), data)
    head = model.layers[-1]  # unit-scale classifier, as for the BERTs
    kernel, *rest = head.get_weights()
    head.set_weights([np.random.default_rng(0).normal(0, 1, kernel.shape).astype(np.float32), *rest])
    return model


def export_onnx(model: Any, family: str, calib: Feed, folder: Path) -> dict[str, Path]:
    """edgekit's fp32 and fp16 ONNX files (fused for BERTs), as a recipe would export them."""
    from edgekit.data import Split
    from edgekit.exporters.onnx import ONNXExporter, ONNXOptions
    from edgekit.families import FAMILIES

    n = len(next(iter(calib.values())))
    opts = ONNXOptions(fusion="bert" if family == "bert" else "none")
    return {p: ONNXExporter().export(model, p, folder / f"{family}-{p}.onnx",
                                     Split(calib, np.zeros(n, np.int64)), opts,
                                     family=FAMILIES.get(family)).path
            for p in ("fp32", "fp16")}


# --- engines --------------------------------------------------------------------------------

def edgekit_engines(files: dict[str, Path], feed: Feed) -> tuple[dict[str, Engine], dict[str, Any]]:
    from edgekit.device.runtimes import RUNTIMES

    cuda = RUNTIMES.get("onnxruntime-cuda")
    engines: dict[str, Engine] = {}
    details: dict[str, Any] = {}
    for precision, path in files.items():
        for graphs in (False, True):
            name = f"edgekit onnx {precision}{' + CUDA graphs' if graphs else ''}"
            session = cuda.load(path, 1, cuda_graphs=graphs)
            details[name] = session.execution_details(feed)
            engines[name] = session.run
    return engines, details


def torch_engines(model: Any, config: Any, folder: Path) -> tuple[dict[str, Engine], str]:
    """PyTorch on the same weights: the HF checkpoint edgekit writes from the Keras model."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        return {}, f"PyTorch rows skipped: {exc.name} is not installed"
    if not torch.cuda.is_available():
        return {}, "PyTorch rows skipped: torch has no CUDA device (a CPU-only torch build?)"
    from edgekit.models.bert.checkpoint import save_hf_checkpoint

    hf = save_hf_checkpoint(model, config, folder / "hf")
    names = ("input_ids", "attention_mask", "token_type_ids")
    base = transformers.BertForSequenceClassification.from_pretrained(
        str(hf), attn_implementation="sdpa").eval().cuda()
    half = transformers.BertForSequenceClassification.from_pretrained(
        str(hf), attn_implementation="sdpa").eval().cuda().half()

    def runner(module: Any) -> Engine:
        def run(feed: Feed) -> np.ndarray:
            with torch.inference_mode():
                args = {k: torch.as_tensor(feed[k], dtype=torch.long).cuda() for k in names}
                return module(**args).logits.float().cpu().numpy()
        return run

    engines = {"pytorch eager fp32": runner(base), "pytorch eager fp16": runner(half),
               "torch.compile fp32": runner(torch.compile(base, mode="reduce-overhead")),
               "torch.compile fp16": runner(torch.compile(half, mode="reduce-overhead"))}
    return engines, f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}"


def cpu_reference(path: Path) -> Engine:
    from edgekit.device.runtimes import RUNTIMES

    return RUNTIMES.get("onnxruntime").load(path, 4).run


# --- measurement ----------------------------------------------------------------------------

def interleaved(engines: dict[str, Engine], feeds: list[Feed], rounds: int, per_round: int,
                warmup: int) -> dict[str, dict[str, float]]:
    """p50/p99 and rate per engine, timed in interleaved rounds (:mod:`timing`)."""
    samples = interleaved_samples(engines, feeds, rounds, per_round, warmup)
    batch = len(next(iter(feeds[0].values())))
    return {name: {"p50_ms": float(np.percentile(s, 50)), "p99_ms": float(np.percentile(s, 99)),
                   "per_s": batch * 1e3 / float(np.percentile(s, 50)), "runs": len(s)}
            for name, s in samples.items()}


def gpu_info() -> dict[str, str]:
    """The first GPU as its driver reports it (:mod:`edgekit.device.hardware`, as reports record it)."""
    found = hardware.gpus()
    if not found:
        return {"gpu": "unknown (nvidia-smi not found)", "driver": "unknown"}
    g = found[0]
    return {"gpu": g["name"], "driver": g["driver"], "memory": f"{g['memory_mib']} MiB",
            "compute_capability": g["compute_capability"]}


def bench_model(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if name == "cnn":
        model, family, config = build_cnn(), "cnn", None
        make = image_feed
    else:
        config = bert_configs()[name]
        model, family = build_bert(config, args.seq), "bert"

        def make(batch: int, seed: int) -> Feed:
            return bert_feed(config.vocab_size, args.seq, batch, seed)
    folder = work / name
    folder.mkdir()
    files = export_onnx(model, family, make(16, seed=99), folder)
    torch_rows, torch_note = ({}, "no Hugging Face form for the CNN: edgekit rows only") \
        if config is None else torch_engines(model, config, folder)
    reference = cpu_reference(files["fp32"])
    out: dict[str, Any] = {"model": name, "files_bytes": {p: f.stat().st_size for p, f in files.items()},
                           "peers": torch_note, "batches": {}}
    for batch in BATCHES:
        feeds = [make(batch, seed=s) for s in range(8)]
        engines, details = edgekit_engines(files, feeds[0])
        engines |= torch_rows
        want = reference(feeds[0])
        diffs = {k: float(np.max(np.abs(run(feeds[0]).astype(np.float32) - want)))
                 for k, run in engines.items()}
        timing = interleaved(engines, feeds, args.rounds, args.per_round, args.warmup)
        scale = float(np.max(np.abs(want)))  # random-weight CNN logits are tiny: read Δ against it
        out["batches"][str(batch)] = {k: timing[k] | {"max_abs_diff_vs_cpu_fp32": diffs[k],
                                                      "max_abs_logit": scale} for k in engines}
        out.setdefault("execution", {})[str(batch)] = details
    return out


def goals(results: dict[str, Any]) -> dict[str, Any]:
    tiny = next((r for r in results["models"] if r["model"] == "tinybert"), None)
    if tiny is None:
        return {}
    verdict: dict[str, Any] = {}
    for batch, rows in tiny["batches"].items():
        ours = min((v for k, v in rows.items() if k.startswith("edgekit")), key=lambda v: v["p50_ms"])
        theirs = [v for k, v in rows.items() if not k.startswith("edgekit")]
        if theirs:
            best = min(theirs, key=lambda v: v["p50_ms"])
            verdict[f"never_slower_than_pytorch_batch{batch}"] = ours["p50_ms"] <= best["p50_ms"]
        if batch == "1":
            verdict["p50_ms_batch1"] = {"value": ours["p50_ms"], "goal": GOALS["tinybert_p50_ms_batch1"],
                                        "met": ours["p50_ms"] <= GOALS["tinybert_p50_ms_batch1"]}
        if batch == "64":
            verdict["per_s_batch64"] = {"value": ours["per_s"], "goal": GOALS["tinybert_per_s_batch64"],
                                        "met": ours["per_s"] >= GOALS["tinybert_per_s_batch64"]}
    return verdict


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# GPU benchmark: {r['machine']['gpu']} (driver {r['machine']['driver']})", "",
             f"`{r['command']}`", "",
             f"onnxruntime {r['versions']['onnxruntime']}; {r['models'][0]['peers'] if r['models'] else ''}; "
             f"{r['seq']} tokens; medians of {r['runs_per_engine']} interleaved runs per engine; "
             "host NumPy in, host NumPy out for every engine.", ""]
    for m in r["models"]:
        lines += [f"## {m['model']}", "", "| engine | batch | p50 ms | p99 ms | per s | "
                  "max abs diff vs CPU fp32 (max abs logit) |", "|---|---|---|---|---|---|"]
        for batch, rows in m["batches"].items():
            for k, v in rows.items():
                lines.append(f"| {k} | {batch} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | "
                             f"{v['per_s']:,.0f} | {v['max_abs_diff_vs_cpu_fp32']:.1e} "
                             f"({v['max_abs_logit']:.1e}) |")
        warned = {k: v["placement"]["warning"] for b in m["execution"].values() for k, v in b.items()
                  if v.get("placement", {}).get("warning")}
        lines += [""] + [f"- {k}: {w}" for k, w in warned.items()] + [""]
    lines += ["## Goals (TinyBERT student)", "", "```", json.dumps(r["goals"], indent=2), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tinybert", "distilbert", "cnn"],
                        choices=["tinybert", "distilbert", "cnn"])
    parser.add_argument("--seq", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu")
    args = parser.parse_args(argv)
    reason = cuda_missing()
    if reason:
        print(f"skipped: no CUDA execution provider here ({reason}); nothing written")
        return 0
    import onnxruntime as ort

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="edgekit-gpu-bench-") as tmp:
        models = [bench_model(name, args, Path(tmp)) for name in args.models]
    results = {"schema": "edgekit.gpu-benchmark/1", "machine": gpu_info() | {
                   "cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
               "versions": {"onnxruntime": ort.__version__},
               "command": " ".join(["python", "benchmarks/gpu.py", *(argv or sys.argv[1:])]),
               "seq": args.seq, "runs_per_engine": args.rounds * args.per_round,
               "models": models, "wall_s": round(time.time() - t0, 1)}
    results["goals"] = goals(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
