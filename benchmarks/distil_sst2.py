"""DistilBERT / TinyBERT on SST-2: accuracy goals and latency side by side with peers, one run.

    .venv/bin/python benchmarks/distil_sst2.py --stage distilbert [--train-examples 8000]

1. Runs the recipe (``recipes/<stage>.yaml``) on GLUE SST-2 from ``../shared/data/sst2``
   (dev = the held-out split): fine-tunes the packaged MiniLM-L6 teacher, distils, quantizes,
   exports and proves every artifact, as ``edgekit compress`` does.
2. In the same process, times at batch 1, 2 threads, the bundle's sequence length, on the
   same dev examples, in interleaved rounds (so machine noise hits every engine alike):
   the teacher in ONNX Runtime fp32; every edgekit artifact of the student; and the peer
   paths on the *same student weights* (the bundle's Hugging Face checkpoint): PyTorch eager
   fp32, ``torch.onnx`` → ONNX Runtime fp32, → ONNX Runtime BERT fusions + dynamic int8 (the
   Optimum/Olive recipe), → OpenVINO with its default precision, → OpenVINO int8 by NNCF
   post-training quantization (transformer preset, calibrated on the same training rows).
3. Writes ``benchmarks/results/<stage>-sst2.md`` and ``.json``: accuracies, the goals of the
   distillation issue as pass/fail, and latency ratios (never absolute claims across runs).

Peers need ``torch``, ``transformers`` and ``nncf`` (the ``peers`` extra, not edgekit
dependencies); without them the peer rows are skipped and say why.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from timing import interleaved_samples

from edgekit.exporters.onnx import quantize_dynamic_int8
from edgekit.device.heldout import open_arrays
from edgekit.pipeline import compress, load_data
from edgekit.progress import RichProgress
from edgekit.recipe import load_recipe
from edgekit.device.runtimes import RUNTIMES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SST2 = ROOT.parent / "shared" / "data" / "sst2"
THREADS = 2
Feed = dict[str, np.ndarray]


def sst2_recipe(stage: str, train_examples: int, data: Path, vocab_trim: bool = False,
                tflite_int8: bool = False, bucketing: bool | None = None) -> Any:
    recipe = load_recipe(stage, overrides={
        "data.dataset": "text_file",
        "data.params.path": str(data),
        "data.params.max_train_examples": train_examples,
        "validation.runs": 20,  # the bundle's own timing; the side-by-side below is the figure
        # length buckets: the recipe's own choice unless asked (distilbert on, tinybert off)
        **({"train.bucketing": bucketing} if bucketing is not None else {}),
    })
    if vocab_trim:  # the recipe's optional stage, switched on, and the trimmed student's artifacts
        from edgekit.recipe.schema import ExportEntry, StageEntry

        # Its vocabulary: tokens of the labelled rows plus the whole train.tsv read as unlabelled
        # text (67k sentences; labels unused). dev.tsv, the held-out split, takes no part.
        recipe.compression.append(StageEntry(stage="vocab_trim", params={
            "min_count": 1, "corpus": str(data / "train.tsv"), "corpus_column": "sentence"}))
        recipe.export.append(ExportEntry(format="tflite", precision="dynamic", model="vocab_trim"))
        recipe.export.append(ExportEntry(format="onnx", precision="dynamic", model="vocab_trim",
                                         options={"fusion": "bert", "per_channel": True,
                                                  "reduce_range": True}))
    if tflite_int8:  # the recipe's commented full-integer TFLite export, with its fallback
        from edgekit.recipe.schema import ExportEntry

        recipe.export.append(ExportEntry(format="tflite", precision="int8", model=stage,
                                         name=f"{stage}-int8-full", options={
                                             "fallback_min_agreement": 0.97,
                                             "fallback_examples": 256}))
    return recipe


# --- engines: name -> (run one batch-1 feed -> logits) ---------------------------------------

def student_models(report: dict[str, Any], stage: str) -> list[str]:
    """The distilled student and what later stages (vocab_trim, pruning) made of it."""
    names = [s["name"] for s in report["stages"]]
    return names[names.index(stage):]


def engine_name(art: dict[str, Any], stage: str) -> str:
    """'edgekit onnx dynamic', 'edgekit onnx dynamic (vocab_trim)', 'teacher onnx fp32'."""
    who = "teacher" if art["model"] == "reference" else "edgekit"
    later = f" ({art['model']})" if art["model"] not in (stage, "reference") else ""
    return f"{who} {art['format']} {art['stored_precision']}{later}"


def edgekit_engines(bundle: Path, report: dict[str, Any], stage: str) -> dict[str, Callable[[Feed], np.ndarray]]:
    engines = {}
    for art in report["artifacts"]:
        if art.get("model") not in ("reference", *student_models(report, stage)):
            continue
        session = RUNTIMES.get(art["runtime"]).load(bundle / art["file"], THREADS)
        engines[engine_name(art, stage)] = session.run
    return engines


def peer_engines(hf_folder: Path, seq: int, work: Path,
                 calibration: list[Feed]) -> tuple[dict[str, Callable[[Feed], np.ndarray]], str]:
    try:
        import nncf
        import torch
        import transformers
    except ImportError as exc:
        return {}, f"peers skipped: {exc.name} is not installed"
    import onnxruntime as ort
    import openvino as ov
    from onnxruntime.transformers.optimizer import optimize_model

    torch.set_num_threads(THREADS)
    model = transformers.BertForSequenceClassification.from_pretrained(str(hf_folder)).eval()
    names = ("input_ids", "attention_mask", "token_type_ids")
    dummy = tuple(torch.ones((1, seq), dtype=torch.long) for _ in names)
    onnx_fp32 = work / "peer-fp32.onnx"
    torch.onnx.export(model, dummy, str(onnx_fp32), input_names=list(names), output_names=["logits"],
                      opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch"} for n in (*names, "logits")})
    cfg = model.config
    fused = optimize_model(str(onnx_fp32), model_type="bert", num_heads=cfg.num_attention_heads,
                           hidden_size=cfg.hidden_size)
    fused_path = work / "peer-fused.onnx"
    fused.save_model_to_file(str(fused_path))
    int8_path = work / "peer-fused-int8.onnx"
    # s8 per-tensor weights: ONNX Runtime's default and Optimum's documented dynamic example
    # (avx512_vnni(is_static=False, per_channel=False)), 8-bit; the recipes' per-channel 7-bit runs as fast.
    quantize_dynamic_int8(fused_path, int8_path, per_channel=False, reduce_range=False)

    def ort_session(path: Path) -> Callable[[Feed], np.ndarray]:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda feed: sess.run(None, {k: feed[k].astype(np.int64) for k in names})[0]

    def torch_run(feed: Feed) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.as_tensor(feed[k], dtype=torch.long) for k in names}).logits.numpy()

    core = ov.Core()
    compiled = core.compile_model(str(onnx_fp32), "CPU", {"INFERENCE_NUM_THREADS": THREADS})
    hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    ov_precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    request = compiled.create_infer_request()

    def ov_run(feed: Feed) -> np.ndarray:
        return request.infer({k: feed[k].astype(np.int64) for k in names})[0]

    # NNCF's own recipe for transformers: quantize the OpenVINO model, calibrated on training rows.
    nncf_model = nncf.quantize(core.read_model(str(onnx_fp32)),
                               nncf.Dataset(calibration, lambda f: {k: f[k].astype(np.int64) for k in names}),
                               model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    nncf_request = core.compile_model(nncf_model, "CPU", {"INFERENCE_NUM_THREADS": THREADS}).create_infer_request()

    def nncf_run(feed: Feed) -> np.ndarray:
        return nncf_request.infer({k: feed[k].astype(np.int64) for k in names})[0]

    return {
        "peer pytorch fp32": torch_run,
        "peer torch.onnx → onnxruntime fp32": ort_session(onnx_fp32),
        "peer torch.onnx → onnxruntime fused + dynamic int8": ort_session(int8_path),
        f"peer torch.onnx → openvino ({ov_precision})": ov_run,
        f"peer torch.onnx → openvino + nncf int8 ({ov_precision})": nncf_run,
    }, (f"transformers {transformers.__version__}, torch {torch.__version__}, nncf {nncf.__version__}; "
        f"ONNX Runtime fused { {k: v for k, v in fused.get_fused_operator_statistics().items() if v} }")


# --- measurement ------------------------------------------------------------------------------

def accuracy(run: Callable[[Feed], np.ndarray], feeds: list[Feed], labels: np.ndarray) -> float:
    preds = np.array([int(np.argmax(run(f))) for f in feeds])
    return float((preds == labels[:len(preds)]).mean())


def interleaved_latency(engines: dict[str, Callable[[Feed], np.ndarray]], feeds: list[Feed],
                        rounds: int, per_round: int, warmup: int) -> dict[str, dict[str, float]]:
    """Time every engine in turn, ``rounds`` times, so drifting load hits all of them alike."""
    samples = interleaved_samples(engines, feeds, rounds, per_round, warmup)
    return {name: {"p50": float(np.percentile(s, 50)), "p90": float(np.percentile(s, 90)),
                   "p99": float(np.percentile(s, 99)), "runs": len(s)} for name, s in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("distilbert", "tinybert"), default="distilbert")
    parser.add_argument("--train-examples", type=int, default=8000,
                        help="stratified subsample of SST-2 train (67,349 rows incl. phrases)")
    parser.add_argument("--data", type=Path, default=SST2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the bundle here")
    parser.add_argument("--vocab-trim", action="store_true",
                        help="add the recipe's optional vocab_trim stage (its corpus: the whole "
                             "train.tsv as unlabelled text) and dynamic-int8 TFLite and fused ONNX "
                             "artifacts of the trimmed student")
    parser.add_argument("--tflite-int8", action="store_true",
                        help="add the recipe's commented full-integer TFLite int8 export (with "
                             "its per-layer float fallback)")
    parser.add_argument("--bucketing", choices=("on", "off"),
                        help="train and distil on length buckets, or on fixed-length batches "
                             "(train.bucketing; default: the recipe's, on in distilbert, off in "
                             "tinybert)")
    args = parser.parse_args(argv)
    if not (args.data / "train.tsv").is_file():
        print(f"error: {args.data}/train.tsv not found; pass --data with the GLUE SST-2 folder",
              file=sys.stderr)
        return 2
    command = "python benchmarks/distil_sst2.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-sst2-") as tmp:
        bundle = args.keep or Path(tmp) / "bundle"
        t0 = time.time()
        recipe = sst2_recipe(args.stage, args.train_examples, args.data, args.vocab_trim,
                             args.tflite_int8,
                             None if args.bucketing is None else args.bucketing == "on")
        report = compress(recipe, bundle, RichProgress())
        wall = time.time() - t0
        train = load_data(recipe).train  # the rows edgekit calibrated on, for the NNCF peer
        calibration = [{k: v[i:i + 1] for k, v in train.x.items()} for i in range(min(300, len(train)))]
        held = open_arrays(bundle / report["dataset"]["heldout_file"])
        names = ("input_ids", "attention_mask", "token_type_ids")
        feeds = [{k: held[f"x__{k}"][i:i + 1] for k in names} for i in range(len(held["y"]))]
        labels = held["y"]
        seq = int(feeds[0]["input_ids"].shape[1])
        engines = edgekit_engines(bundle, report, args.stage)
        hf = bundle / report["extras"]["hf_checkpoint"]["path"]
        peers, peer_note = peer_engines(hf, seq, Path(tmp), calibration)
        engines.update(peers)
        peer_acc = {name: accuracy(run, feeds, labels) for name, run in peers.items()}
        latency = interleaved_latency(engines, feeds, args.rounds, args.per_round, warmup=10)
    results = summarise(report, latency, peer_acc, args, wall, seq, peer_note, command)
    RESULTS.mkdir(parents=True, exist_ok=True)
    extras = [flag for flag, on in (("vocab_trim", args.vocab_trim),
                                    ("tflite_int8", args.tflite_int8),
                                    ("bucketing", args.bucketing == "on"),
                                    ("fixed", args.bucketing == "off")) if on]
    stem = RESULTS / "-".join([f"{args.stage}-sst2", *extras])
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2))
    stem.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


def summarise(report: dict[str, Any], latency: dict[str, dict[str, float]], peer_acc: dict[str, float],
              args: argparse.Namespace, wall: float, seq: int, peer_note: str, command: str) -> dict[str, Any]:
    stage = args.stage
    teacher_acc = report["reference"]["value"]
    float_student = next(a for a in report["artifacts"]
                         if a["model"] == stage and a["format"] == "tflite" and a["stored_precision"] == "fp32")
    student_acc = float_student["metric"]["value"]
    int8 = [a for a in report["artifacts"] if a["model"] in student_models(report, stage)
            and a["stored_precision"] in ("int8", "dynamic")]
    teacher_ort = latency["teacher onnx fp32"]["p50"]
    timed_int8 = {engine_name(a, stage): a for a in int8}
    fastest = min(timed_int8, key=lambda n: latency[n]["p50"])
    peer_names = [n for n in latency if n.startswith("peer")]
    best_peer = min(peer_names, key=lambda n: latency[n]["p50"]) if peer_names else None
    goals = {
        "student keeps >= 97% of teacher accuracy": student_acc >= 0.97 * teacher_acc,
        "int8 artifacts lose <= 1 point vs float student": all(
            a["metric"]["value"] >= student_acc - 0.01 for a in int8),
        "fastest int8 >= 2x faster than teacher ORT fp32": teacher_ort / latency[fastest]["p50"] >= 2.0,
    }
    if best_peer:
        goals["fastest int8 no slower than best peer on the same student"] = \
            latency[fastest]["p50"] <= latency[best_peer]["p50"]
    teacher_size = next(a["size_bytes"] for a in report["artifacts"]
                        if a["model"] == "reference" and a["stored_precision"] == "fp32")
    smallest = min(int8, key=lambda a: a["size_bytes"])
    goals["smallest int8 student <= 1/6 of the fp32 teacher"] = smallest["size_bytes"] * 6 <= teacher_size
    return {
        "command": command, "created": report["created"], "machine": platform.processor() or platform.machine(),
        "threads": THREADS, "batch": 1, "seq_len": seq, "stage": stage,
        "train_examples": args.train_examples, "dev_examples": report["dataset"]["test_examples"],
        "compress_wall_s": round(wall), "peers": peer_note,
        "hf_model": report["extras"]["hf_checkpoint"].get("model", stage),
        "teacher_accuracy": teacher_acc, "student_accuracy": student_acc,
        "student_parameters": report["stages"][0]["facts"]["parameters"],
        "teacher_parameters": report["stages"][0]["facts"]["teacher_parameters"],
        "artifacts": [{"name": engine_name(a, stage), "model": a["model"],
                       "accuracy": a["metric"]["value"], "size_bytes": a["size_bytes"],
                       "precision_ran": a["precision"], "passed": a["passed"]}
                      for a in report["artifacts"]],
        "peer_accuracy": peer_acc, "latency_ms": latency,
        "ratios": {"teacher_ort_fp32 / fastest_int8": teacher_ort / latency[fastest]["p50"],
                   **({"best_peer / fastest_int8": latency[best_peer]["p50"] / latency[fastest]["p50"]}
                      if best_peer else {})},
        "fastest_int8": fastest, "best_peer": best_peer, "goals": goals,
        "size_ratio": {"teacher_fp32_bytes": teacher_size, "smallest_int8": engine_name(smallest, stage),
                       "smallest_int8_bytes": smallest["size_bytes"],
                       "teacher / smallest_int8": teacher_size / smallest["size_bytes"]},
        "int8_fallback": {engine_name(a, stage): a["notes"]["fallback"]
                          for a in int8 if "fallback" in a.get("notes", {})},
        "vocab_trim": next(({k: s["facts"][k] for k in ("vocab", "unk_fallback", "counted", "corpus")
                             if k in s["facts"]}
                            for s in report["stages"] if s["name"] == "vocab_trim"), None),
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# {r['stage']} on SST-2: accuracy and latency side by side", "",
             f"Command: `{r['command']}`  ",
             f"Run {r['created']} on {r['machine']}, batch {r['batch']}, {r['threads']} threads, "
             f"sequence length {r['seq_len']} for every engine; teacher fine-tuned and student "
             f"distilled on {r['train_examples']:,} SST-2 train rows, evaluated on "
             f"{r['dev_examples']} dev sentences. Whole compress run {r['compress_wall_s']} s. "
             f"Peers run the bundle's Hugging Face checkpoint of `{r['hf_model']}`: {r['peers']}.", "",
             f"Teacher (MiniLM-L6, {r['teacher_parameters']:,} params) accuracy "
             f"{r['teacher_accuracy']:.4f}; student ({r['student_parameters']:,} params) "
             f"{r['student_accuracy']:.4f} = {r['student_accuracy'] / r['teacher_accuracy']:.1%} of the teacher.", "",
             "| goal | met |", "|---|---|"]
    lines += [f"| {g} | {'yes' if ok else '**no**'} |" for g, ok in r["goals"].items()]
    size = r["size_ratio"]
    lines += ["", f"Size: smallest int8 student ({size['smallest_int8']}) {size['smallest_int8_bytes']:,} B; "
              f"fp32 teacher {size['teacher_fp32_bytes']:,} B; ratio {size['teacher / smallest_int8']:.2f}."]
    trim = r.get("vocab_trim")
    if trim:
        corpus = trim.get("corpus")
        lines += ["", f"vocab_trim kept {trim['vocab']['after']:,} of {trim['vocab']['before']:,} tokens, "
                  f"counted over {trim.get('counted', 'training + validation token ids')}"
                  + (f" ({corpus['texts']:,} texts of {Path(corpus['path']).name}, "
                     f"{corpus['heldout_texts_in_corpus']} of the {corpus['heldout_texts_checked']} "
                     f"held-out texts among them)" if corpus else "")
                  + f"; {trim['unk_fallback']['heldout']:.2%} of held-out tokens now read as [UNK]."]
    for name, fb in r["int8_fallback"].items():
        lines += ["", f"int8 fallback of {name}: judged on {fb['fallback_examples']} {fb['fallback_split']} "
                  f"examples on {fb.get('fallback_runtime', 'onnxruntime')}; all-int8 agreement "
                  f"{fb['all_int8_agreement']:.4f}; kept float: {fb['kept_float'] or 'none'}"
                  + (f"; final agreement {fb['final_agreement']:.4f}" if "final_agreement" in fb else "") + "."]
    lines += ["", "| engine | accuracy | size B | p50 ms | p90 ms | p99 ms | p50 / fastest edgekit int8 |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    arts = {a["name"]: a
            for a in r["artifacts"]}
    best = r["latency_ms"][r["fastest_int8"]]["p50"]
    for name, lat in sorted(r["latency_ms"].items(), key=lambda kv: kv[1]["p50"]):
        art = arts.get(name, {})
        acc = art.get("accuracy", r["peer_accuracy"].get(name))
        size = f"{art['size_bytes']:,}" if art else "—"
        lines.append(f"| {name} | {acc:.4f} | {size} | {lat['p50']:.2f} | {lat['p90']:.2f} | "
                     f"{lat['p99']:.2f} | {lat['p50'] / best:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
