"""How long ``edgekit validate BUNDLE --target arm64-emulated`` takes, artifact by artifact.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/arm64_validate.py BUNDLE [--name tinybert-sst2]

The goal (issue 22): the SST-2 TinyBERT bundle (``edgekit compress tinybert --quick``) validates
under emulation in under 10 minutes on 2 cores, every artifact judged. Records the wall time
of the whole run and of each artifact, the CPU seconds of the emulated runners (the children's
rusage: proot reaps qemu), and the load average before and after (the dev machine is shared:
wall time under load says little; CPU seconds / 2 is the time on 2 idle cores). Works on a
copy of the bundle (validate writes ``targets/`` into it). Writes
``benchmarks/results/<name>-arm64-validate.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from edgekit.validation.ondevice import validate

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_S = 600


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--name", default="tinybert-sst2")
    p.add_argument("--target", default="arm64-emulated")
    p.add_argument("--timeout-s", type=float, default=None,
                   help="per artifact (default: the device's remote.timeout_s); raise it on a "
                        "loaded machine to measure rather than time out")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="arm64-validate-") as tmp:
        bundle = Path(tmp) / "bundle"
        shutil.copytree(args.bundle, bundle)
        load_before = os.getloadavg()
        cpu0, t0 = children_cpu_s(), time.monotonic()
        result = validate(bundle, args.target, timeout_s=args.timeout_s)
        wall, cpu = time.monotonic() - t0, children_cpu_s() - cpu0
        load_after = os.getloadavg()
    judged = [a for a in result["artifacts"] if "skipped" not in a and "timed_out" not in a]
    out = {"command": f"PYTHONPATH=$PWD .venv/bin/python benchmarks/arm64_validate.py {args.bundle}"
                      f" --name {args.name} --target {args.target}"
                      + (f" --timeout-s {args.timeout_s:g}" if args.timeout_s else ""),
           "bundle": str(args.bundle), "target": args.target, "cores": os.cpu_count(),
           "wall_s": round(wall, 1), "runner_cpu_s": round(cpu, 1),
           "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in load_after],
           "goal_s": GOAL_S, "wall_within_goal": wall < GOAL_S,
           "runner_cpu_s_per_core_within_goal": cpu / 2 < GOAL_S,
           "sample": result["sample"], "passed": result["passed"],
           "timed_out": result["timed_out"],
           "every_runnable_artifact_judged": not result["timed_out"] and bool(judged),
           "artifacts": [{k: a.get(k) for k in ("file", "runtime", "precision", "seconds", "passed",
                                                "skipped", "timed_out")}
                         | {"metric": (a.get("metric") or {}).get("value"),
                            "host_agreement": a.get("host_agreement"),
                            "text_ids_match": (a.get("text_path") or {}).get("ids_match_host_tokenizer")}
                         for a in result["artifacts"]]}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"{args.name}-arm64-validate"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# `edgekit validate` of the {args.name} bundle on {args.target}", "",
             f"Command: `{out['command']}`", "",
             f"- wall time {out['wall_s']} s (goal < {GOAL_S} s on 2 cores); emulated runners' CPU "
             f"time {out['runner_cpu_s']} s (= {cpu / 2:.0f} s on 2 idle cores)",
             f"- load average before {out['load_average_before']}, after {out['load_average_after']}"
             f" on {out['cores']} cores (a shared machine)",
             f"- sample: {result['sample']['examples']} of {result['sample']['of']} held-out "
             f"examples, seed {result['sample']['seed']} ({result['sample']['why']})",
             f"- passed: {result['passed']}; timed out: {result['timed_out'] or 'none'}", "",
             "| artifact | runtime | s | metric | host agreement | text ids match | result |",
             "|---|---|---|---|---|---|---|"]
    for a in out["artifacts"]:
        state = ("skipped: " + a["skipped"] if a["skipped"] else "TIMED OUT" if a["timed_out"]
                 else "pass" if a["passed"] else "FAIL")
        metric = f"{a['metric']:.4f}" if a["metric"] is not None else "-"
        lines.append(f"| {a['file']} | {a.get('runtime') or '-'} | {a['seconds']} | {metric} | "
                     f"{a['host_agreement'] if a['host_agreement'] is not None else '-'} | "
                     f"{a['text_ids_match'] if a['text_ids_match'] is not None else '-'} | {state} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
