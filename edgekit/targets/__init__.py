"""Targets: how edgekit reaches a device to run an artifact there.

A device profile (``devices/*.yaml``) is data; its ``connection`` scheme picks the
:class:`Target` that knows how to reach it: ``local`` (this machine), ``qemu-aarch64`` (arm64
wheels under emulation), ``ssh`` (a Raspberry Pi, a Jetson) or ``adb`` (an Android phone). One
module per scheme registers itself here, so a new way to reach devices is one new module.

Every target except adb runs the same self-contained runner (:mod:`edgekit.device.runner`) in a
fresh process next to a staged copy of the artifact and its inputs: numbers from every device
come from one implementation, and peak memory is the runner process's own. What is staged is
the device package, :mod:`edgekit.device`, whole (no hand-kept file list to fall behind).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import edgekit.device
from edgekit.device.heldout import copy_inputs
from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError, RuntimeUnavailable
from edgekit.paths import inside
from edgekit.registry import Registry

DEVICE_PACKAGE = Path(edgekit.device.__file__).resolve().parent  # what a device runs, whole
_PKG_PARENT = DEVICE_PACKAGE.parent.parent  # the folder that holds edgekit/


@dataclass(frozen=True)
class RunRequest:
    """One artifact (all its files; the first is the one to load) on one runtime."""

    files: tuple[Path, ...]
    runtime: str
    inputs: Path  # held-out data with x__<input> arrays: a bundle's data/heldout/ or an .npz
    limit: int | None = None  # hand the runner only the first ``limit`` examples (None: all)
    want_outputs: bool = True
    runs: int = 0
    warmup: int = 0
    threads: int = 1
    batch: int = 1
    options: tuple[tuple[str, str], ...] = ()  # runtime load options (device profile's)

    @property
    def artifact(self) -> Path:
        return self.files[0]


@dataclass(frozen=True)
class TextRequest:
    """Raw texts through a text bundle's own tokenizer and one artifact, on the device."""

    bundle: Path  # holds text.json and the tokenizer folder it names
    files: tuple[Path, ...]
    runtime: str
    texts: tuple[str, ...]
    threads: int = 1
    options: tuple[tuple[str, str], ...] = ()  # runtime load options (device profile's)


@dataclass
class TextResult:
    info: dict[str, Any]  # runtime, runtime_version, machine, imported_tensorflow
    encoded: dict[str, np.ndarray]  # the token arrays the device's tokenizer produced
    logits: np.ndarray


@dataclass(frozen=True)
class GenerationRequest:
    """Greedy generation from stored prompts over one GPT KV-cache pair, on the device."""

    pair: Path  # the pair's folder (generation.json, prefill and decode graphs)
    runtime: str
    prompts: tuple[tuple[int, ...], ...]
    new_tokens: int
    threads: int = 1


@dataclass
class GenerationResult:
    info: dict[str, Any]  # runtime, runtime_version, executed_precision, machine, hardware ...
    tokens: list[list[int]]  # each prompt's greedy tokens
    first_token_s: list[float]  # each prompt's prefill + first pick
    step_s: list[list[float]]  # each prompt's later decode steps


@dataclass
class RunResult:
    device: str
    info: dict[str, Any]  # the runner's JSON (runtime, load_ms, latency_ms, peak_rss_mb ...)
    outputs: np.ndarray | None = None
    emulated: bool = False
    notes: list[str] = field(default_factory=list)


class Target(ABC):
    """A way to reach devices of one connection scheme."""

    scheme: ClassVar[str]
    validates: ClassVar[bool] = True  # False where only timings come back (adb benchmark_model)
    checked_on_use: ClassVar[bool] = False  # True where missing() cannot see the device itself

    @abstractmethod
    def missing(self, device: DeviceProfile) -> str | None:
        """None if the device can be used from here, else what is missing (tools, setup)."""

    @abstractmethod
    def run(self, device: DeviceProfile, request: RunRequest) -> RunResult: ...

    def run_text(self, device: DeviceProfile, request: TextRequest) -> TextResult:
        """Tokenize and classify raw texts on the device; targets without Python cannot."""
        raise RuntimeUnavailable(f"target '{device.name}' ({self.scheme}) cannot run the text "
                                 "runner (it needs Python on the device)")

    def run_generation(self, device: DeviceProfile, request: GenerationRequest) -> GenerationResult:
        """Generate over a KV-cache pair on the device; targets without Python cannot."""
        raise RuntimeUnavailable(f"target '{device.name}' ({self.scheme}) cannot run the "
                                 "generation loop (it needs Python on the device)")

    def ensure(self, device: DeviceProfile) -> None:
        reason = self.missing(device)
        if reason:
            raise RuntimeUnavailable(f"target '{device.name}' is unavailable: {reason}")


TARGETS: Registry[Target] = Registry("target", "edgekit.targets")


def target_for(device: DeviceProfile) -> Target:
    if device.scheme not in TARGETS:
        raise EdgekitError(f"device '{device.name}': unknown connection scheme '{device.scheme}'",
                           fix=f"use one of: {', '.join(TARGETS.names())}")
    return TARGETS.get(device.scheme)


# ---- the runner payload, shared by the local, emulated and ssh targets ----------------------

def payload_files() -> list[Path]:
    """What a device gets: the device package whole, and the bare ``edgekit/__init__.py`` that
    makes it importable as ``edgekit.device`` (it imports nothing, so nothing else follows)."""
    package = [p for p in DEVICE_PACKAGE.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return sorted([_PKG_PARENT / "edgekit" / "__init__.py", *package])


def copy_payload(folder: Path) -> None:
    for src in payload_files():
        dest = folder / src.relative_to(_PKG_PARENT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def stage(request: RunRequest, folder: Path) -> list[str]:
    """Copy runner, artifact and inputs into ``folder``; return the runner's argv (relative
    paths, so the folder can be copied anywhere and run from there). Only the inputs of the
    first ``request.limit`` examples are copied (chunk by chunk), not labels or the rest."""
    copy_payload(folder)
    (folder / "artifact").mkdir()
    for f in request.files:
        shutil.copy2(f, inside(folder / "artifact", f.name, what="artifact file",
                               scope="the staging folder"))
    copy_inputs(request.inputs, folder / "inputs", request.limit)
    argv = ["-m", "edgekit.device.runner", "--artifact", f"artifact/{request.artifact.name}",
            "--runtime", request.runtime, "--inputs", "inputs", "--timings", "result.json",
            "--runs", str(request.runs), "--warmup", str(request.warmup),
            "--threads", str(request.threads), "--batch", str(request.batch)]
    if request.want_outputs:
        argv += ["--outputs", "outputs.npz"]
    for key, value in request.options:
        argv += ["--option", f"{key}={value}"]
    return argv


def stage_text(request: TextRequest, folder: Path) -> list[str]:
    """Copy the text runner, a minimal bundle (text.json, its tokenizer folder, the artifact)
    and the texts into ``folder``; return the text runner's argv (relative paths)."""
    copy_payload(folder)
    manifest = json.loads((request.bundle / "text.json").read_text())
    mini = folder / "bundle"
    (mini / "artifacts").mkdir(parents=True)
    shutil.copy2(request.bundle / "text.json", mini / "text.json")
    shutil.copytree(request.bundle / manifest["tokenizer_dir"], mini / manifest["tokenizer_dir"])
    for f in request.files:
        shutil.copy2(f, mini / "artifacts" / f.name)
    np.save(folder / "texts.npy", np.asarray(request.texts, dtype=str), allow_pickle=False)
    return ["-m", "edgekit.device.text_classify", "bundle",
            "--artifact", f"artifacts/{request.files[0].name}", "--runtime", request.runtime,
            "--threads", str(request.threads), "--texts-file", "texts.npy", "--out", "text.npz",
            "--timings", "result.json",
            *(a for key, value in request.options for a in ("--option", f"{key}={value}"))]


def stage_generation(request: GenerationRequest, folder: Path) -> list[str]:
    """Copy the generation runner, the pair's folder and the prompts into ``folder``; return
    :mod:`edgekit.device.generate_runner`'s argv (relative paths)."""
    copy_payload(folder)
    shutil.copytree(request.pair, folder / "pair")
    (folder / "prompts.json").write_text(json.dumps({"prompts": [list(p) for p in request.prompts]}))
    return ["-m", "edgekit.device.generate_runner", "pair", "--runtime", request.runtime,
            "--prompts", "prompts.json", "--new-tokens", str(request.new_tokens),
            "--threads", str(request.threads), "--out", "tokens.json", "--timings", "result.json"]


def runner_info(device: DeviceProfile, folder: Path, log: str, runner: str) -> dict[str, Any]:
    """The ``result.json`` a runner left in ``folder``. A runner that wrote none (it crashed:
    the last line it printed says why) or that reports an error (a missing runtime gets the
    install fix) becomes one EdgekitError line."""
    result_file = folder / "result.json"
    if not result_file.is_file():
        tail = [line for line in log.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise EdgekitError(f"{runner} did not finish on '{device.name}': {tail[0]}")
    info: dict[str, Any] = json.loads(result_file.read_text())
    if "error" in info:
        cls = RuntimeUnavailable if "missing" in info else EdgekitError
        raise cls(f"on '{device.name}': {info['error']}",
                  fix="install the runtime on the device" if "missing" in info else None)
    return info


def collect_generation(device: DeviceProfile, folder: Path, log: str) -> GenerationResult:
    """What the generation runner left in ``folder``; a failure is one EdgekitError line."""
    info = runner_info(device, folder, log, "the generation runner")
    out = json.loads((folder / "tokens.json").read_text())
    return GenerationResult(info=info, tokens=out["tokens"], first_token_s=out["first_token_s"],
                            step_s=out["step_s"])


def collect_text(device: DeviceProfile, folder: Path, log: str) -> TextResult:
    result = folder / "text.npz"
    if not result.is_file():
        tail = [line for line in log.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise EdgekitError(f"the text runner did not finish on '{device.name}': {tail[0]}")
    info = json.loads((folder / "result.json").read_text())
    with np.load(result, allow_pickle=False) as npz:
        encoded = {k[len("x__"):]: npz[k] for k in npz.files if k.startswith("x__")}
        return TextResult(info=info, encoded=encoded, logits=npz["logits"])


def collect(device: DeviceProfile, folder: Path, log: str) -> RunResult:
    """Read what the runner left in ``folder``; a runner failure is one EdgekitError line."""
    info = runner_info(device, folder, log, "the runner")
    outputs = None
    if (folder / "outputs.npz").is_file():
        with np.load(folder / "outputs.npz") as npz:
            outputs = npz["outputs"]
    return RunResult(device=device.name, info=info, outputs=outputs,
                     emulated=device.emulation is not None)


class RunnerTarget(Target):
    """A target that runs :mod:`edgekit.device.runner` from a staged folder; subclasses say how."""

    @abstractmethod
    def execute(self, device: DeviceProfile, folder: Path, argv: list[str]) -> str:
        """Run ``python argv`` with ``folder`` as working directory so that the runner's files
        end up in ``folder``; return the combined console output (for error messages)."""

    def run(self, device: DeviceProfile, request: RunRequest) -> RunResult:
        self.ensure(device)
        with tempfile.TemporaryDirectory(prefix="edgekit-run-") as tmp:
            folder = Path(tmp)
            argv = stage(request, folder)
            log = self.execute(device, folder, argv)
            return collect(device, folder, log)

    def run_text(self, device: DeviceProfile, request: TextRequest) -> TextResult:
        self.ensure(device)
        with tempfile.TemporaryDirectory(prefix="edgekit-text-") as tmp:
            folder = Path(tmp)
            argv = stage_text(request, folder)
            log = self.execute(device, folder, argv)
            return collect_text(device, folder, log)

    def run_generation(self, device: DeviceProfile, request: GenerationRequest) -> GenerationResult:
        self.ensure(device)
        with tempfile.TemporaryDirectory(prefix="edgekit-generate-") as tmp:
            folder = Path(tmp)
            argv = stage_generation(request, folder)
            log = self.execute(device, folder, argv)
            return collect_generation(device, folder, log)
