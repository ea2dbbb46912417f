"""Which artifact of a bundle to deploy to a device, and on which runtime.

Why a rule and not the first file: a bundle holds several artifacts of one model (TFLite and
ONNX, fp32 and int8); the one to ship is the fastest that *passed* its budgets among those the
device's runtimes can load. Speed is the bundle's own measurement (report.json's p50 on the
machine that proved it): the ranking of formats on one CPU is the best evidence a bundle has.
Where the bundle was also validated on that device (``edgekit validate --target``, saved in
``targets/<device>.json``), an artifact that failed there is not a candidate, and the runtime
version that passed there is the one ``requirements.txt`` pins. A user's ``--artifact``
overrides the rule, but must be one of the bundle's proven files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.device.runtimes import RUNTIMES
from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError
from edgekit.paths import inside
from edgekit.validation.ondevice import runtime_for


@dataclass(frozen=True)
class Choice:
    """One artifact of the bundle (its report.json entry) and the device runtime that loads it."""

    entry: dict[str, Any]
    runtime: str
    reason: str  # why this one, for the console
    on_device: dict[str, Any] | None = None  # its entry in targets/<device>.json, if validated

    @property
    def file(self) -> str:
        return self.entry["file"]

    @property
    def files(self) -> list[str]:
        return list(self.entry.get("files") or [self.entry["file"]])

    @property
    def runtime_version(self) -> str | None:
        """``"<package> <version>"`` the artifact was proven with on this runtime: on the device
        itself when it passed there, else where the bundle was proven; else this machine's
        version of the runtime (None where it is not installed here)."""
        there = self.on_device or {}
        if there.get("passed") and there.get("runtime") == self.runtime and there.get("runtime_version"):
            return str(there["runtime_version"])
        if self.entry.get("runtime") == self.runtime and self.entry.get("runtime_version"):
            return str(self.entry["runtime_version"])
        rt = RUNTIMES.get(self.runtime)
        return None if rt.missing() else rt.version()


def _p50(entry: dict[str, Any]) -> float:
    p50 = (entry.get("latency_ms") or {}).get("p50")
    return float(p50) if p50 is not None else float("inf")


def _given(bundle: Path, report: dict[str, Any], artifact: Path) -> dict[str, Any]:
    wanted = os.path.realpath(artifact if artifact.is_absolute() or artifact.exists()
                              else bundle / artifact)
    for entry in report["artifacts"]:
        if os.path.realpath(bundle / entry["file"]) == wanted:
            return entry
    names = ", ".join(e["file"] for e in report["artifacts"])
    raise EdgekitError("not an artifact of this bundle", where=artifact,
                       fix=f"pass one of: {names}")


def device_results(bundle: Path, device: DeviceProfile) -> dict[str, dict[str, Any]]:
    """``targets/<device>.json`` (what ``edgekit validate`` found there) by artifact file;
    empty when the bundle was not validated on this device."""
    path = inside(bundle, f"targets/{device.name}.json", what="validation result",
                  fix="give the device profile a plain name")
    if not path.is_file():
        return {}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))["artifacts"]
    except (ValueError, KeyError, TypeError):
        raise EdgekitError("not a validation result", where=path,
                           fix=f"run 'edgekit validate BUNDLE --target {device.name}' again") from None
    return {r["file"]: r for r in results if isinstance(r, dict) and "file" in r}


def choose(bundle: Path, report: dict[str, Any], device: DeviceProfile,
           artifact: Path | None = None) -> Choice:
    """The artifact to deploy (see the module docstring); a one-line error when none fits."""
    there = device_results(bundle, device)
    if artifact is not None:
        entry = _given(bundle, report, artifact)
        runtime = runtime_for(entry, device)
        if runtime is None:
            raise EdgekitError(f"device '{device.name}' has no runtime for {entry['format']} "
                               f"(it runs {', '.join(device.runtimes)})", where=artifact,
                               fix="pick an artifact in a format the device runs")
        note = "" if entry.get("passed") else " (it did not pass its budgets)"
        return Choice(entry, runtime, f"chosen with --artifact{note}", there.get(entry["file"]))
    failed_there = {f for f, r in there.items() if r.get("passed") is False}
    loadable = [(e, runtime_for(e, device)) for e in report["artifacts"]
                if e.get("passed") and e["file"] not in failed_there]
    loadable = [(e, r) for e, r in loadable if r is not None]
    if not loadable:
        formats = sorted({e["format"] for e in report["artifacts"] if e.get("passed")})
        raise EdgekitError(f"no passing artifact in a format '{device.name}' runs (passing: "
                           f"{', '.join(formats) or 'none'}; it runs "
                           f"{', '.join(device.runtimes)})", where=bundle / "report.json",
                           fix="pass --artifact FILE, or export a format the device runs")
    entry, runtime = min(loadable, key=lambda pair: _p50(pair[0]))
    p50 = _p50(entry)
    speed = f", p50 {p50:g} ms where it was proven" if p50 != float("inf") else ""
    validated = f"; {len(failed_there)} failed on {device.name}" if failed_there else ""
    return Choice(entry, runtime, f"fastest passing artifact for {device.name}'s runtimes"
                  f" ({len(loadable)} candidates{speed}{validated})", there.get(entry["file"]))
