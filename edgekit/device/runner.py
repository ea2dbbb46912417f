"""The self-contained on-device runner: load one artifact on one runtime, run held-out inputs,
write the outputs (``.npz``) and timings (JSON).

Why a separate process and a separate module: the same code runs on the host, under arm64
emulation and on a Raspberry Pi over SSH, so numbers from every target come from one
implementation. It needs only the standard library, NumPy and the runtime itself (no
TensorFlow, no pydantic, no edgekit CLI): it is part of :mod:`edgekit.device`, which is
copied to a device whole. A fresh process also makes peak resident memory meaningful.

Usage (on any target)::

    python3 -m edgekit.device.runner --artifact model.tflite --runtime litert --inputs in.npz \\
        --outputs out.npz --timings timings.json --runs 50 --warmup 5 --threads 4 --batch 1
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SCHEMA = "edgekit.run/1"
EXIT_WITH_STDIN = "EDGEKIT_EXIT_WITH_STDIN"  # set (to 1) by the SSH target; see exit_with_stdin
LATENCY_BATCHES = 64  # distinct real batches the timed runs cycle over


def load_inputs(path: Path) -> dict[str, np.ndarray]:
    """Inputs keyed by name from a held-out folder (memory-mapped ``x__<name>.npy``) or ``.npz``
    (keys ``x__<name>``): see :mod:`edgekit.device.heldout`."""
    from edgekit.device.heldout import open_arrays

    found = open_arrays(path).inputs()
    if not found:
        raise SystemExit(f"{path}: no 'x__<input>' arrays in the inputs file")
    return found


def batches(inputs: dict[str, np.ndarray], batch: int) -> Iterator[dict[str, np.ndarray]]:
    """Consecutive batches, each copied out of the (mapped) inputs only when it is reached."""
    n = len(next(iter(inputs.values())))
    for i in range(0, n - batch + 1, batch):
        yield {k: np.array(v[i:i + batch]) for k, v in inputs.items()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process image. Linux: ``VmHWM``, which starts afresh at
    exec; ``ru_maxrss`` keeps the peak of the process that forked us (a test runner holding
    TensorFlow would read as 1.5 GB). Elsewhere ``ru_maxrss`` (macOS reports bytes)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run(args: argparse.Namespace) -> dict[str, object]:
    from edgekit.device.latency import measure, rss_mb
    from edgekit.device.runtimes import RUNTIMES

    runtime = RUNTIMES.get(args.runtime)
    reason = runtime.missing()
    if reason:
        return {"schema": SCHEMA, "error": f"{args.runtime}: {reason}", "missing": reason}
    inputs = load_inputs(Path(args.inputs))
    rss_before = rss_mb()
    t0 = time.perf_counter()
    options = dict(opt.split("=", 1) for opt in args.option)  # device-profile runtime options
    session = runtime.load(Path(args.artifact), args.threads, **options)
    load_ms = (time.perf_counter() - t0) * 1e3
    result: dict[str, object] = {
        "schema": SCHEMA, "runtime": runtime.name, "runtime_version": runtime.version(),
        "machine": platform.machine(), "python": platform.python_version(),
        "load_ms": round(load_ms, 3), "rss_before_load_mb": round(rss_before, 2)}
    if args.outputs:
        outs = [session.run(b) for b in batches(inputs, 1)]  # outputs kept, inputs streamed
        np.savez(args.outputs, outputs=np.concatenate(outs, axis=0).astype(np.float32))
    if args.runs > 0:
        examples = list(itertools.islice(batches(inputs, args.batch), LATENCY_BATCHES))
        if not examples:
            return {**result, "error": f"batch {args.batch} is larger than the {len(next(iter(inputs.values())))} inputs"}
        result["latency_ms"] = measure(session, examples, runs=args.runs, warmup=args.warmup,
                                       threads=args.threads).to_json() | {"batch": args.batch}
    result["peak_rss_mb"] = round(peak_rss_mb(), 2)
    from edgekit.device.hardware import detect  # the machine that ran it, named in its result

    result["hardware"] = detect()
    # e.g. which execution provider ran each node on a GPU (a profiled second session, so
    # after the timings and the memory peak), and whether CUDA graphs are on
    first = next(batches(inputs, 1), None)
    if first is not None:
        result.update(session.execution_details(first))
    # Evidence that what ships to a device runs without TensorFlow (a Pi has none).
    result["imported_tensorflow"] = "tensorflow" in sys.modules
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m edgekit.device.runner",
                                description=__doc__.split("\n")[0])
    p.add_argument("--artifact", required=True)
    p.add_argument("--runtime", required=True)
    p.add_argument("--inputs", required=True,
                   help="held-out folder of x__<input name>.npy files, or .npz with those arrays")
    p.add_argument("--outputs", default="", help="write every example's output here (.npz)")
    p.add_argument("--timings", required=True, help="write the result JSON here")
    p.add_argument("--runs", type=int, default=0)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a runtime load option from the device profile, e.g. cuda_graphs=1")
    return p.parse_args(argv)


def exit_with_stdin() -> None:
    """When ``$EDGEKIT_EXIT_WITH_STDIN`` is set, end this process as soon as its stdin closes.

    Why: over SSH the runner is a child of sshd, which does not end it when the connection
    drops (no terminal, so no SIGHUP). The SSH target keeps the runner's stdin open for exactly
    as long as it waits for it; a dropped connection, a killed ``ssh`` client (timeout, Ctrl-C)
    or a crashed host closes it, and the runner must not go on burning the device's CPU."""
    if not os.environ.get(EXIT_WITH_STDIN):
        return
    import threading

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(143)

    threading.Thread(target=watch, name="exit-with-stdin", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    exit_with_stdin()
    args = parse(argv)
    try:
        result = run(args)
    except Exception as exc:  # reported to the host as data, never as a bare traceback
        first = str(exc).splitlines()[0] if str(exc) else ""
        result = {"schema": SCHEMA, "error": f"{type(exc).__name__}: {first}"}
    Path(args.timings).write_text(json.dumps(result, indent=2))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
