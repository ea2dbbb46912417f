"""Greedy generation from stored prompts over one KV-cache pair, on a device: how ``edgekit
validate`` re-proves a GPT bundle's pairs on a target.

    python -m edgekit.device.generate_runner PAIR --runtime litert --prompts prompts.json \\
        --new-tokens 16 --threads 2 --out tokens.json --timings result.json

It runs the device loop (:class:`edgekit.device.generate.CachedLM`) as an app would, one
prompt at a time, and writes the raw facts: each prompt's greedy tokens, its time to first
token and its decode steps' times (``--out``), and where it ran (``--timings``: runtime and
version, machine, hardware, the precision the engine computes in, whether TensorFlow was
imported). The host compares the tokens with the float model's and takes the percentiles,
with the same code ``compress`` uses, so the device side stays a loop and a clock.

Why its own module: :mod:`edgekit.device.runner` runs one graph over held-out arrays; a pair
is two graphs fed by each other's outputs. The flags naming written files are the runners'
(``--out``, ``--timings``) so the SSH target copies them back like the others'.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

SCHEMA = "edgekit.generation-run/1"


def run(args: argparse.Namespace) -> tuple[dict[str, object], dict[str, object] | None]:
    """(facts, tokens and timings); the second is None when the runtime is missing here."""
    from edgekit.device.generate import CachedLM
    from edgekit.device.hardware import detect
    from edgekit.device.runner import peak_rss_mb
    from edgekit.device.runtimes import RUNTIMES

    engine = RUNTIMES.get(args.runtime)
    reason = engine.missing()
    if reason:
        return {"schema": SCHEMA, "error": f"{args.runtime}: {reason}", "missing": reason}, None
    prompts = json.loads(Path(args.prompts).read_text(encoding="utf-8"))["prompts"]
    started = time.perf_counter()
    lm = CachedLM(args.pair, args.runtime, args.threads)
    load_ms = (time.perf_counter() - started) * 1e3
    lm.generate(list(prompts[0]), 2)  # warm-up, as compress's proof: first calls allocate
    tokens, first_token_s, step_s = [], [], []
    for prompt in prompts:
        got = lm.generate(list(prompt), args.new_tokens)
        tokens.append(got.tokens)
        first_token_s.append(got.first_token_s)
        step_s.append(got.step_s)
    facts: dict[str, object] = {
        "schema": SCHEMA, "runtime": engine.name, "runtime_version": engine.version(),
        "executed_precision": lm.executed_precision, "machine": platform.machine(),
        "python": platform.python_version(), "threads": args.threads,
        "load_ms": round(load_ms, 3), "peak_rss_mb": round(peak_rss_mb(), 2),
        "hardware": detect(), "imported_tensorflow": "tensorflow" in sys.modules}
    return facts, {"tokens": tokens, "first_token_s": first_token_s, "step_s": step_s}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m edgekit.device.generate_runner",
                                description=__doc__.split("\n")[0])
    p.add_argument("pair", type=Path, help="a KV-cache pair folder (has generation.json)")
    p.add_argument("--runtime", required=True)
    p.add_argument("--prompts", required=True, help="JSON with 'prompts': lists of token ids")
    p.add_argument("--new-tokens", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="write the tokens and timings here (JSON)")
    p.add_argument("--timings", required=True, help="write where it ran, or the error (JSON)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from edgekit.device.runner import exit_with_stdin

    exit_with_stdin()
    args = parse(argv)
    try:
        facts, generated = run(args)
    except Exception as exc:  # reported to the host as data, never as a bare traceback
        first = str(exc).splitlines()[0] if str(exc) else ""
        facts, generated = {"schema": SCHEMA, "error": f"{type(exc).__name__}: {first}"}, None
    if generated is not None:
        Path(args.out).write_text(json.dumps(generated), encoding="utf-8")
    Path(args.timings).write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return 1 if "error" in facts else 0


if __name__ == "__main__":
    sys.exit(main())
