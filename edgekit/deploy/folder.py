"""The deployed folder: everything a device needs to answer with one artifact, and nothing else.

Layout (``deploy.json`` says what is where; ``manifest.json`` holds every file's sha256)::

    predict, predict.py  the entry point (a POSIX shell launcher picking the Python, and the
                         script it runs: edgekit.device.predict from this folder)
    requirements.txt     the runtime pinned to the version the artifact was proven with, NumPy
                         (and tokenizers for text bundles)
    README.md            how to install and call it on this device
    deploy.json          artifact, runtime, inputs, labels, the self-check's tolerance
    model/<artifact>     the artifact and its companion files (OpenVINO's .bin)
    edgekit/device/      the device package, whole (the same files every target is sent)
    text.json, tokenizer/   text bundles: sequence length, labels and the tokenizer files
    check/               a few held-out examples, this machine's outputs for them and the
                         bundle's reference outputs, for ``predict --check`` on the device

Why the self-check data travels: a device proves the copy by running the artifact on the same
inputs and comparing with the host, as ``edgekit validate`` does, without the bundle.
"""

from __future__ import annotations

import json
import shlex
import shutil
import stat
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.atomic import write_text
from edgekit.deploy.choose import Choice
from edgekit.device.formats import artifact_files
from edgekit.device.heldout import open_arrays
from edgekit.device.predict import CHECK, CONFIG, SCHEMA, Predictor, check_outputs
from edgekit.devices import DeviceProfile
from edgekit.targets import copy_payload
from edgekit.validation.ondevice import heldout
from edgekit.bundle_integrity import member_path, write_manifest

CHECK_EXAMPLES = 8  # held-out examples the device runs in predict --check
TEXT_MANIFEST = "text.json"


@dataclass(frozen=True)
class Written:
    folder: Path
    config: dict[str, Any]
    requirements: list[str]


def pin(package_and_version: str | None, fallback: str) -> str:
    """``"ai-edge-litert 2.3.0"`` (a runtime's recorded version) -> ``ai-edge-litert==2.3.0``."""
    parts = (package_and_version or "").split()
    return f"{parts[0]}=={parts[1]}" if len(parts) == 2 else fallback


def installed(package: str) -> str:
    """``package==<this machine's version>`` (what the bundle was proven with here)."""
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:
        return package


def requirements(choice: Choice, text: bool) -> list[str]:
    reqs = [pin(choice.runtime_version, choice.runtime), installed("numpy")]
    return reqs + ([installed("tokenizers")] if text else [])


def python_for(device: DeviceProfile) -> str:
    """The device's Python as a shell word that expands ``~`` (remote.python may be
    ``~/edgekit-venv/bin/python``); ``python3`` for devices reached otherwise."""
    python = device.remote.python if device.scheme == "ssh" else "python3"
    return "$HOME/" + shlex.quote(python[2:]) if python.startswith("~/") else shlex.quote(python)


LAUNCHER = """\
#!/bin/sh
# {artifact} on {runtime}: ./predict --help. Written by 'edgekit deploy'.
# The Python that has requirements.txt installed: $EDGEKIT_PYTHON, else {python}, else python3.
HERE=$(cd "$(dirname "$0")" && pwd -P)
PY=${{EDGEKIT_PYTHON:-{python}}}
command -v "$PY" >/dev/null 2>&1 || PY=python3
PYTHONDONTWRITEBYTECODE=1 exec "$PY" "$HERE/predict.py" "$@"
"""

# Run as a file, so that Python puts this folder first on sys.path: the folder's own edgekit
# package is the one imported, whatever the current directory or PYTHONPATH holds
# (``python -m`` would put the current directory first).
BOOTSTRAP = """\
\"\"\"Runs edgekit.device.predict from this folder: python3 predict.py --help.\"\"\"
import json
import sys
from pathlib import Path

try:
    from edgekit.device.predict import main
except ImportError as exc:  # NumPy itself is missing on this Python: say what to install
    install = json.loads((Path(__file__).parent / "deploy.json").read_text())["install"]
    if "--check" in sys.argv:
        print(json.dumps({"passed": False, "missing_runtime": True, "error": str(exc),
                          "install": install}))
        sys.exit(1)
    sys.exit(f"error: {exc} (fix: {install})")
sys.exit(main())
"""


def write_launcher(folder: Path, config: dict[str, Any], device: DeviceProfile) -> None:
    path = folder / "predict"
    write_text(path, LAUNCHER.format(artifact=config["artifact"], runtime=config["runtime"],
                                     python=python_for(device)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    write_text(folder / "predict.py", BOOTSTRAP)


def copy_artifact(bundle: Path, choice: Choice, folder: Path) -> str:
    """The artifact and its companions into ``model/``; returns the loaded file's path."""
    first = member_path(bundle, choice.file)
    (folder / "model").mkdir()
    for src in artifact_files(first):
        shutil.copy2(src, folder / "model" / src.name)
    return f"model/{first.name}"


def copy_text_assets(bundle: Path, folder: Path) -> dict[str, Any]:
    manifest = json.loads((bundle / TEXT_MANIFEST).read_text(encoding="utf-8"))
    shutil.copy2(bundle / TEXT_MANIFEST, folder / TEXT_MANIFEST)
    shutil.copytree(member_path(bundle, manifest["tokenizer_dir"]), folder / manifest["tokenizer_dir"])
    return manifest


def write_check_data(bundle: Path, report: dict[str, Any], folder: Path, text: bool) -> int:
    """The first held-out examples (texts for text bundles, else the input arrays) and the
    bundle's reference outputs for them; returns how many."""
    held = open_arrays(heldout(bundle, report))
    n = min(CHECK_EXAMPLES, len(held["reference"]))
    (folder / CHECK).mkdir()
    names = ["texts"] if text else [k for k in held if k.startswith("x__")]
    for name in [*names, "reference"]:
        np.save(folder / CHECK / f"{name}.npy", np.array(held[name][:n]), allow_pickle=False)
    return n


def input_spec(bundle: Path, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    held = open_arrays(heldout(bundle, report))
    return {name: {"shape": list(arr.shape[1:]), "dtype": str(arr.dtype)}
            for name, arr in held.inputs().items()}


def build_config(bundle: Path, report: dict[str, Any], choice: Choice, device: DeviceProfile,
                 artifact: str, reqs: list[str], text: dict[str, Any] | None) -> dict[str, Any]:
    entry = choice.entry
    atol = entry.get("conversion_atol")
    budgets = report.get("budgets") or {}
    return {
        "schema": SCHEMA, "bundle": bundle.name, "recipe": report.get("recipe"),
        "artifact": artifact, "files": [f"model/{Path(f).name}" for f in choice.files],
        "format": entry["format"], "precision": entry["precision"], "runtime": choice.runtime,
        "proven_with": choice.runtime_version, "requirements": reqs,
        "install": "pip install " + " ".join(shlex.quote(r) for r in reqs),
        "device": device.name, "threads": device.threads,
        "kind": "text" if text else "tensor", "task": report["dataset"].get("task"),
        "labels": (text or {}).get("labels") or report["dataset"].get("label_names"),
        "inputs": {} if text else input_spec(bundle, report),
        "metric": entry.get("metric"), "latency_ms_p50_where_proven":
            (entry.get("latency_ms") or {}).get("p50"), "proven_on": entry.get("target"),
        "check": {"atol": atol * device.tolerance_scale if atol is not None else None,
                  "min_agreement": budgets.get("min_agreement") or 0.9},
    }


def write_folder(folder: Path, bundle: Path, report: dict[str, Any], choice: Choice,
                 device: DeviceProfile, how_to_call: str) -> Written:
    """Fill the empty ``folder`` (a temporary one, swapped into place by the caller). The
    check outputs are computed here, by the folder's own code on this machine's runtime."""
    from edgekit.deploy.readme import readme

    is_text = (bundle / TEXT_MANIFEST).is_file()
    copy_payload(folder)
    artifact = copy_artifact(bundle, choice, folder)
    text = copy_text_assets(bundle, folder) if is_text else None
    reqs = requirements(choice, is_text)
    config = build_config(bundle, report, choice, device, artifact, reqs, text)
    write_check_data(bundle, report, folder, is_text)
    write_text(folder / CONFIG, json.dumps(config, indent=2))
    write_text(folder / "requirements.txt", "".join(f"{r}\n" for r in reqs))
    write_launcher(folder, config, device)
    np.save(folder / CHECK / "expected.npy", check_outputs(Predictor(folder)), allow_pickle=False)
    write_text(folder / "README.md", readme(config, device, how_to_call))
    for cache in list(folder.rglob("__pycache__")):
        shutil.rmtree(cache)
    write_manifest(folder)
    return Written(folder, config, reqs)
