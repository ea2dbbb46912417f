"""Load untrusted artifacts in a child process, so a crashing engine cannot take edgekit down.

Python cannot catch a segmentation fault: native parsers (the TFLite flatbuffer reader, ONNX
Runtime's graph builder, OpenVINO's IR reader) may abort or crash on hostile bytes even after
:func:`edgekit.device.runtimes._guard.sniff` has let the file through. So anything that loads an
artifact edgekit did not just write itself (``edgekit verify --load``; a bundle from
elsewhere) goes through :func:`probe`: a child ``python -m edgekit.device.runtimes._isolate`` loads
each file with the real adapter and runs one example through it, reporting one JSON line per
file. If the child dies by a signal, the file it was on is reported as an
:class:`EdgekitError` naming the signal, and the child is restarted for the remaining files.

The pipeline itself proves the artifacts it has just exported in-process (they are its own
output; a crash there is a bug to report, not a user error).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from edgekit.device.errors import EdgekitError

_PREFIX = "edgekit-probe "
# The child's command line; arguments follow: runtime name, inputs npz ('' for none), paths.
CHILD = [sys.executable, "-m", "edgekit.device.runtimes._isolate"]


def _feed(inputs_npz: str | None) -> dict | None:
    """The first example of a bundle's held-out data (``data/heldout/`` or a legacy
    ``.npz`` with ``x__<input>`` arrays), read alone; None without inputs."""
    if not inputs_npz:
        return None
    import numpy as np

    from edgekit.device.heldout import open_arrays

    return {k: np.array(v[:1]) for k, v in open_arrays(Path(inputs_npz)).inputs().items()}


def _probe_one(runtime_name: str, path: str, feed: dict | None) -> dict:
    from edgekit.device.runtimes import RUNTIMES

    try:
        session = RUNTIMES.get(runtime_name).load(Path(path), 1)
        if feed is not None:
            session.run(feed)
    except EdgekitError as exc:
        return {"path": path, "ok": False, "error": str(exc)}
    except Exception as exc:  # an adapter that let an engine error through: a bug of ours
        return {"path": path, "ok": False, "bug": f"{type(exc).__name__}: {exc}"[:500]}
    return {"path": path, "ok": True}


def _child(runtime_name: str, inputs_npz: str, paths: list[str]) -> None:
    feed = _feed(inputs_npz)
    for path in paths:
        print(_PREFIX + json.dumps({"path": path, "started": True}), flush=True)
        print(_PREFIX + json.dumps(_probe_one(runtime_name, path, feed)), flush=True)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def describe_exit(code: int | None) -> str:
    """How a child ended: by a signal (negative code), an exit status, or a timeout (None)."""
    return "timed out" if code is None else f"crashed ({_signal_name(code)})" \
        if code < 0 else f"exited with status {code}"


def child_env() -> dict[str, str]:
    """This process's environment, with this edgekit first on PYTHONPATH for the child."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH", "")])}


def _crash_error(runtime_name: str, path: Path, code: int | None) -> EdgekitError:
    """The child died on ``path``: by a signal (negative code), an exit, or a timeout (None)."""
    how = describe_exit(code)
    return EdgekitError(f"{runtime_name} {how} while loading or running the model", where=path,
                        fix="the file is corrupt or hostile; do not deploy it, re-export it")


def probe(runtime_name: str, paths: list[Path], inputs_npz: Path | None = None,
          timeout: float = 120.0) -> dict[Path, EdgekitError | None]:
    """Load each of ``paths`` with ``runtime_name`` in a child (and run the first example of
    ``inputs_npz`` through it, if given); None where that worked.

    Every failure, a crash of the engine included, comes back as an :class:`EdgekitError`.
    An adapter that raised anything else is a bug and raises ``RuntimeError`` here.
    """
    results: dict[Path, EdgekitError | None] = {}
    todo = [Path(p) for p in paths]
    env = child_env()
    while todo:
        try:
            proc = subprocess.run([*CHILD, runtime_name, str(inputs_npz or ""), *map(str, todo)],
                                  capture_output=True, text=True, timeout=timeout, env=env)
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err, code = "timeout", None
        current: Path | None = None
        for line in out.splitlines():
            if not line.startswith(_PREFIX):
                continue
            rec = json.loads(line[len(_PREFIX):])
            path = Path(rec["path"])
            if rec.get("started"):
                current = path
                continue
            current = None
            if "bug" in rec:
                raise RuntimeError(f"{runtime_name} adapter raised a non-edgekit error for "
                                   f"{path}: {rec['bug']}")
            results[path] = None if rec["ok"] else EdgekitError(rec["error"])
        if current is None:
            if len(results) < len(paths):
                raise RuntimeError(f"probe child stopped between files (exit {code}): {err[-2000:]}")
            break
        results[current] = _crash_error(runtime_name, current, code)
        todo = todo[todo.index(current) + 1:]
    return results


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3:])
