"""Teacher fine-tuning throughput, fixed-length batches against length buckets, on the same
SST-2 sentences, and the PyTorch ``transformers`` peer (issue 15 part 1; results in
``benchmarks/results/bucketing-probe.md``).

    nice -n 19 .venv/bin/python benchmarks/bucketing_probe.py --steps 60 [--batch-size 32]

Loads SST-2 from ``../shared/data/sst2`` through the ``distilbert`` recipe (``text_file``,
``seq_len: auto`` up to ``max_seq_len``: the fixed length every artifact keeps), takes
``steps x batch-size`` training sentences, and fine-tunes the recipe's teacher (the packaged
MiniLM-L6) for one epoch of them twice from the same weights, through edgekit's own
``training.fit``: once with ``train.bucketing: false`` (Keras on the fixed-length arrays),
once with ``true`` (:mod:`edgekit.length_buckets`). Throughput is timed from the end of the
``--warmup``-th step (tracing left out) to the end of the epoch; it prints training examples/s
of each, the ratio, the share of padded tokens each computes on, and the teacher cache the
distilbert and tinybert stages would hold at either length. ``--tiny`` swaps the
teacher for a small random BERT of the same tokenizer (a smoke run of the script itself).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from edgekit.device import hardware

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"


def load(args: argparse.Namespace) -> tuple[Any, Any]:
    """The recipe (teacher fine-tuning section) and its data: ``steps x batch`` sentences."""
    from edgekit.pipeline import load_data
    from edgekit.recipe import load_recipe

    overrides: dict[str, Any] = {
        "data.dataset": "text_file", "data.params.path": str(args.data),
        "data.params.max_train_examples": args.steps * args.batch_size,
        "data.params.max_seq_len": args.max_seq_len, "train.batch_size": args.batch_size}
    if args.tiny:
        overrides.update({"model.params.init": "random", "model.params.num_layers": 2,
                          "model.params.hidden_size": 64, "model.params.num_heads": 4,
                          "model.params.intermediate_size": 128})
    recipe = load_recipe("distilbert", overrides=overrides)
    return recipe, load_data(recipe)


class StepClock:
    """A Keras callback: the time at the end of every training step."""

    def __init__(self) -> None:
        from edgekit import _tf

        class Clock(_tf.keras().callbacks.Callback):  # type: ignore[misc, valid-type]
            def on_train_batch_end(inner, batch: int, logs: Any = None) -> None:  # noqa: N805
                self.ends.append(time.perf_counter())

        self.ends: list[float] = []
        self.callback = Clock()


#: The further methods issue 15 names, each an arm on top of the buckets, measured one by one:
#: XLA (``jit_compile``: one compiled program per bucket width) and Keras mixed precision in
#: bfloat16 (float32 weights, bf16 compute: oneDNN's AVX512-BF16/AMX kernels where the CPU has
#: them, emulated and slower where it does not; the CPU's flags are recorded with the figures).
ARMS = ("fixed", "bucketed", "bucketed_xla", "bucketed_bf16")


def train_once(recipe: Any, data: Any, arm: str, warmup: int) -> dict[str, float]:
    """Fine-tune a fresh teacher for one epoch as ``arm`` says; examples/s after ``warmup``
    steps."""
    from edgekit import _tf
    from edgekit.models import MODELS
    from edgekit.strategy import make_strategy
    from edgekit.training import TrainContext, compile_model, fit

    keras = _tf.keras()
    train = recipe.train.model_copy(update={"bucketing": arm != "fixed", "epochs": 1})
    ctx = TrainContext(data=data, train=train, strategy=make_strategy(train.strategy))
    _tf.set_seed(train.seed)
    policy = keras.mixed_precision.global_policy()
    if arm.endswith("_bf16"):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        with ctx.strategy.scope():
            model = MODELS.get(recipe.model.builder).build(recipe.model.params, data)
            compile_model(model, ctx)
            if arm.endswith("_xla"):
                model.jit_compile = True
    finally:
        keras.mixed_precision.set_global_policy(policy)
    clock = StepClock()
    start = time.perf_counter()
    fit(model, ctx, 1, callbacks=[clock.callback])
    steps = len(clock.ends)
    if steps <= warmup:
        raise SystemExit(f"error: {steps} steps leave none to time after --warmup {warmup}; "
                         "raise --steps")
    timed = clock.ends[-1] - clock.ends[warmup - 1] if warmup else clock.ends[-1] - start
    examples = len(data.train) * (steps - warmup) / steps
    return {"steps": steps, "seconds": round(timed, 3),
            "examples_per_s": round(examples / timed, 2),
            "wall_s_with_tracing": round(clock.ends[-1] - start, 3)}


def train_peer(recipe: Any, data: Any, lengths: Any, grouped: bool,
               warmup: int) -> dict[str, float]:
    """The issue-15 peer: Hugging Face ``transformers`` (PyTorch) fine-tuning the same
    checkpoint on the same token ids, a plain AdamW loop with dynamic padding (each batch cut
    to its longest sentence), shuffled batches or, with ``grouped``, edgekit's length groups
    (``group_by_length``'s idea); timed like :func:`train_once`."""
    import numpy as np
    import torch
    from transformers import BertForSequenceClassification

    from edgekit.length_buckets import epoch_batches
    from edgekit.models.bert.sources import resolve_teacher

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(recipe.train.seed)
    model = BertForSequenceClassification.from_pretrained(
        str(resolve_teacher(str(recipe.model.params.checkpoint))), num_labels=2)
    model.train()
    # Keras AdamW's default weight decay (0.004), as edgekit's "adamw" optimizer builds it.
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.train.learning_rate,
                                  weight_decay=0.004)
    rng = np.random.default_rng(recipe.train.seed)
    n, size = len(lengths), recipe.train.batch_size
    batches = (epoch_batches(lengths, size, rng) if grouped
               else np.array_split(rng.permutation(n), max(1, -(-n // size))))
    x = {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in data.train.x.items()}
    y = torch.from_numpy(np.asarray(data.train.y, dtype=np.int64).reshape(-1))
    ends: list[float] = []
    start = time.perf_counter()
    for batch in batches:
        width = int(lengths[batch].max())
        index = torch.from_numpy(batch)
        inputs = {k: v[index, :width] for k, v in x.items()}
        loss = model(**inputs, labels=y[index]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        ends.append(time.perf_counter())
    timed = ends[-1] - ends[warmup - 1] if warmup else ends[-1] - start
    examples = n * (len(ends) - warmup) / len(ends)
    return {"steps": len(ends), "seconds": round(timed, 3),
            "examples_per_s": round(examples / timed, 2),
            "wall_s_with_tracing": round(ends[-1] - start, 3)}


def peer_missing() -> str | None:
    """The peer's missing packages, named, or None when torch and transformers import."""
    missing = [name for name in ("torch", "transformers")
               if importlib.util.find_spec(name) is None]
    return " and ".join(missing) + " not installed (the peers extra)" if missing else None


def torch_version() -> str:
    import torch
    return str(torch.__version__)


def cache_mb(recipe: Any, data: Any, lengths: Any) -> dict[str, dict[str, float]]:
    """The teacher cache (float16) each distillation stage would hold for these sentences,
    at the fixed length and at each sentence's own length: distilbert's logits and last
    hidden states; tinybert's logits, embeddings and half the blocks' hidden states and
    attention scores (its defaults)."""
    import numpy as np

    from edgekit.models.bert_classifier import resolved_config

    _, t = resolved_config(recipe.model.params, data)
    seq, n, blocks = int(data.extra["seq_len"]), len(lengths), max(1, t.num_layers // 2)

    def per_example(length: Any) -> dict[str, Any]:
        return {"distilbert": t.num_labels + length * t.hidden_size,
                "tinybert": t.num_labels + (1 + blocks) * length * t.hidden_size
                + blocks * t.num_heads * length * length}

    fixed, own = per_example(seq), per_example(np.asarray(lengths, dtype=np.int64))
    return {stage: {"fixed_length": round(n * fixed[stage] * 2 / 2**20, 2),
                    "own_length": round(float(own[stage].sum()) * 2 / 2**20, 2)}
            for stage in fixed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps (one epoch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=128,
                        help="cap of seq_len: auto (the fixed length)")
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    parser.add_argument("--data", type=Path, default=SST2)
    parser.add_argument("--tiny", action="store_true", help="a small random BERT (smoke run)")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip the PyTorch transformers peer")
    parser.add_argument("--arms", default="fixed,bucketed",
                        help=f"comma-separated, from {', '.join(ARMS)} (fixed and bucketed always)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--sizes-only", action="store_true",
                        help="print the token and teacher-cache figures, train nothing")
    args = parser.parse_args(argv)
    if not (args.data / "train.tsv").is_file():
        print(f"error: {args.data}/train.tsv not found; pass --data with the GLUE SST-2 folder",
              file=sys.stderr)
        return 2
    from edgekit.length_buckets import padding_facts, true_lengths

    recipe, data = load(args)
    lengths = true_lengths(data.train.x)
    seq = int(data.extra["seq_len"])
    tokens = padding_facts(lengths, args.batch_size, seq, recipe.train.seed)
    if args.sizes_only:
        print(json.dumps({"examples": len(lengths), "seq_len": seq, "tokens_per_epoch": tokens,
                          "teacher_cache_mb": cache_mb(recipe, data, lengths)}, indent=2))
        return 0
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown or not {"fixed", "bucketed"} <= set(arms):
        print(f"error: --arms {args.arms!r}: give fixed,bucketed and any of {', '.join(ARMS[2:])}",
              file=sys.stderr)
        return 2
    figures = {arm: train_once(recipe, data, arm, args.warmup) for arm in arms}
    fixed, bucketed = figures["fixed"], figures["bucketed"]
    result = {
        "command": "python benchmarks/bucketing_probe.py " + " ".join(sys.argv[1:] if argv is None
                                                                      else argv),
        "examples": len(data.train), "seq_len": seq, "batch_size": args.batch_size,
        "teacher": "tiny random BERT" if args.tiny else str(recipe.model.params.checkpoint),
        "tokens_per_epoch": tokens, "teacher_cache_mb": cache_mb(recipe, data, lengths),
        "fixed_length": fixed, "bucketed": bucketed,
        "ratio_bucketed_to_fixed": round(bucketed["examples_per_s"] / fixed["examples_per_s"], 2),
        "cpu": hardware.cpu(),
        **{arm: figures[arm] for arm in arms if arm not in ("fixed", "bucketed")},
        "ratios_to_bucketed": {arm: round(figures[arm]["examples_per_s"]
                                          / bucketed["examples_per_s"], 2)
                               for arm in arms if arm not in ("fixed", "bucketed")}}
    missing = None if args.no_peer else peer_missing()
    if missing:
        print(f"peer skipped: {missing}")
    elif args.tiny and not args.no_peer:
        print("peer skipped: --tiny trains a random BERT the peer has no checkpoint of")
    elif not args.no_peer:
        peer = {"shuffled": train_peer(recipe, data, lengths, False, args.warmup),
                "grouped_by_length": train_peer(recipe, data, lengths, True, args.warmup)}
        result["peer_torch_transformers"] = peer
        result["ratios_to_peer_shuffled"] = {
            arm: round(result[arm]["examples_per_s"] / peer["shuffled"]["examples_per_s"], 2)
            for arm in ("fixed_length", "bucketed")}
        result["ratio_bucketed_to_peer_grouped"] = round(
            bucketed["examples_per_s"] / peer["grouped_by_length"]["examples_per_s"], 2)
    print(f"{len(data.train)} SST-2 sentences, seq_len {seq}, batch {args.batch_size}: "
          f"real tokens {tokens['real'] / tokens['padded_to_fixed_length']:.0%} of fixed-length, "
          f"{tokens['real'] / tokens['padded_to_buckets']:.0%} of bucketed")
    print(f"fixed-length: {fixed['examples_per_s']} examples/s; bucketed: "
          f"{bucketed['examples_per_s']} examples/s; ratio {result['ratio_bucketed_to_fixed']}x")
    for arm, ratio in result["ratios_to_bucketed"].items():
        print(f"{arm}: {figures[arm]['examples_per_s']} examples/s, {ratio}x bucketed")
    if "peer_torch_transformers" in result:
        peer, ratios = result["peer_torch_transformers"], result["ratios_to_peer_shuffled"]
        print(f"peer (torch {torch_version()}): dynamic padding "
              f"{peer['shuffled']['examples_per_s']} examples/s, grouped by length "
              f"{peer['grouped_by_length']['examples_per_s']} examples/s; edgekit bucketed / "
              f"peer {ratios['bucketed']}x, fixed / peer {ratios['fixed_length']}x, bucketed / "
              f"grouped peer {result['ratio_bucketed_to_peer_grouped']}x")
    for stage, sizes in result["teacher_cache_mb"].items():
        print(f"{stage} teacher cache: {sizes['fixed_length']} MB at the fixed length, "
              f"{sizes['own_length']} MB at each sentence's own length")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
