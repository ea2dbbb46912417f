"""Where one emulated runner's CPU seconds go: one artifact, N held-out examples, under proot + qemu.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/arm64_runner_cost.py BUNDLE/artifacts/X.onnx \\
        onnxruntime BUNDLE/data/heldout --limit 21 [--threads 2] [--cpu max] [--option spinning=0]

Stages the real device runner as the ``arm64-emulated`` target does and runs it once, then prints
one JSON line: wall time, user+sys CPU seconds of proot and qemu (reaped children), proot's own
CPU, each qemu thread's CPU (the busiest is the main thread: wall on idle cores is nearer its
CPU than all CPU / 2) and, with ``--save``, the outputs (to compare settings bitwise). Run two
settings at the same time for a side-by-side pair: load then hits both alike. Issue 22's
measurements (``benchmarks/results/tinybert-sst2-arm64-validate.md``) were taken this way; run
with ``--limit 1`` too to separate the per-runner fixed cost from the per-example cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.devices import load_device
from edgekit.targets import RunRequest, stage
from edgekit.targets import _arm64_root as arm64_root
from edgekit.targets.arm64_emulated import command

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(path: str) -> list[str]:
    text = Path(path).read_text()
    return text[text.rfind(")") + 2:].split()


def thread_cpu(parent: int, seen: dict[str, float]) -> None:
    """Record the CPU seconds of every thread of ``parent``'s children (proot's qemu)."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return
    for child in children:
        try:
            tids = os.listdir(f"/proc/{child}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                f = stat_fields(f"/proc/{child}/task/{tid}/stat")
            except OSError:
                continue
            seen[f"{child}/{tid}"] = (int(f[11]) + int(f[12])) / TICK


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifact", type=Path)
    p.add_argument("runtime")
    p.add_argument("inputs", type=Path, help="a held-out folder or .npz with x__<input> arrays")
    p.add_argument("--limit", type=int, default=21)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cpu", default="cortex-a72", help="qemu -cpu model")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="runtime load option, e.g. spinning=0 (ONNX Runtime)")
    p.add_argument("--save", type=Path, help="write the outputs here (.npy)")
    args = p.parse_args(argv)
    device = load_device("arm64-emulated")
    device = device.model_copy(update={"connection": f"qemu-aarch64:{args.cpu}"})
    root = arm64_root.root_dir()
    with tempfile.TemporaryDirectory(prefix="arm64-cost-") as tmp:
        folder = Path(tmp)
        options = tuple(tuple(o.split("=", 1)) for o in args.option)
        argv_runner = stage(RunRequest(files=(args.artifact,), runtime=args.runtime,
                                       inputs=args.inputs, limit=args.limit, threads=args.threads,
                                       options=options), folder)  # type: ignore[arg-type]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PROOT_NO_SECCOMP": "1",
               "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.Popen(command(device, root, folder, argv_runner), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        proot_own, threads = 0.0, {}  # type: float, dict[str, float]
        while proc.poll() is None:
            thread_cpu(proc.pid, threads)
            try:
                f = stat_fields(f"/proc/{proc.pid}/stat")
                proot_own = (int(f[11]) + int(f[12])) / TICK
            except OSError:
                pass
            time.sleep(0.1)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        log = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        result = json.loads((folder / "result.json").read_text()) if (folder / "result.json").is_file() else {}
        outputs = folder / "outputs.npz"
        if args.save and outputs.is_file():
            with np.load(outputs) as npz:
                np.save(args.save, npz["outputs"])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({
        "artifact": args.artifact.name, "runtime": args.runtime, "cpu_model": args.cpu,
        "threads": args.threads, "options": args.option, "examples": args.limit,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "cpu_s_per_example": round(cpu / args.limit, 3), "proot_own_cpu_s": round(proot_own, 2),
        "thread_cpu_s": sorted((round(v, 2) for v in threads.values()), reverse=True)[:4],
        "load_ms": result.get("load_ms"), "error": result.get("error") or (None if result else log[-300:]),
        "load_average": [round(x, 2) for x in os.getloadavg()]}))
    return 0 if result and "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
