"""Bundle integrity: ``edgekit verify BUNDLE`` and safe resolution of paths a bundle names.

Integrity only: that the files are the ones the bundle was built with. Whether the artifacts
meet their budgets when run is :mod:`edgekit.validation` (``compress``'s proofs, ``edgekit
validate``).

A bundle travels (to a device, a colleague, a CI artefact store); before anything reads it we
check that every file ``manifest.json`` lists is there with its recorded size and sha256, and
that no file is present that the manifest does not list. The first mismatch is reported as one
line, because one is enough to distrust the bundle.

Paths inside a manifest or report.json are data from elsewhere: :func:`member_path` and
:func:`read_report` refuse absolute paths, ``..`` parts and symlinks that resolve outside the
bundle folder (:func:`edgekit.paths.inside`), so a crafted bundle cannot make edgekit read (or
hash, or load) a file outside it. Commands that read a bundle verify it first; commands that
add to one (``validate``, ``profile``) record only the files they wrote
(:func:`refresh_manifest`), so a tampered or planted file is never adopted. This module
imports no TensorFlow and no runtime, so it can ship to devices with the runtimes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.atomic import write_text
from edgekit.device.hashing import sha256_of
from edgekit.errors import EdgekitError
from edgekit.paths import inside

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "edgekit.manifest/1"


def _entry(bundle: Path, path: Path) -> dict[str, Any]:
    return {"path": path.relative_to(bundle).as_posix(), "size_bytes": path.stat().st_size,
            "sha256": sha256_of(path)}


def write_manifest(bundle: Path) -> None:
    """List every file of a bundle this run has just built (in its temporary folder, where
    nothing else can have put files) with its size and sha256: the last file a run writes."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {"schema": MANIFEST_SCHEMA, "files": [_entry(bundle, p) for p in files]}
    write_text(bundle / MANIFEST, json.dumps(manifest, indent=2))


def refresh_manifest(bundle: Path, written: list[Path]) -> None:
    """Record the new size and sha256 of the files edgekit has just ``written`` into an
    existing bundle (a validation result, a re-rendered report.html), and nothing else.

    Every other entry is kept as it was and no unlisted file is added: re-hashing the whole
    folder would adopt a tampered artifact or a planted file, and ``verify`` would then vouch
    for it. Callers verify the bundle before they read it (:func:`verify_bundle`)."""
    entries = {e["path"]: e for e in read_manifest(bundle)}
    root = inside(bundle, ".")
    for path in written:
        member = inside(bundle, Path(path), what="written file")
        entries[member.relative_to(root).as_posix()] = _entry(root, member)
    manifest = {"schema": MANIFEST_SCHEMA, "files": [entries[k] for k in sorted(entries)]}
    write_text(bundle / MANIFEST, json.dumps(manifest, indent=2))


def member_path(bundle: Path, rel: str) -> Path:
    """The file ``rel`` (a manifest or report path) inside ``bundle``; refuses paths that
    escape it (:func:`edgekit.paths.inside`)."""
    return inside(bundle, rel, what="manifest path", where=bundle / MANIFEST)


def read_manifest(bundle: Path) -> list[dict[str, Any]]:
    """The manifest's file entries, each checked for shape (path, size_bytes, sha256)."""
    path = bundle / MANIFEST
    if not bundle.is_dir():
        raise EdgekitError("not a folder", where=bundle, fix="pass the bundle folder written by "
                           "'edgekit compress'")
    if not path.is_file():
        raise EdgekitError("no manifest.json: not an edgekit bundle, or an interrupted copy",
                           where=bundle, fix="copy the whole bundle folder again")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgekitError(f"not valid JSON ({exc.__class__.__name__})", where=path,
                           fix="copy the bundle again; the manifest is damaged") from None
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA \
            or not isinstance(data.get("files"), list):
        raise EdgekitError(f"not an {MANIFEST_SCHEMA} manifest", where=path,
                           fix="re-export the bundle with this edgekit version")
    for i, entry in enumerate(data["files"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and isinstance(entry.get("size_bytes"), int)
                and isinstance(entry.get("sha256"), str)):
            raise EdgekitError(f"entry files[{i}] lacks path/size_bytes/sha256", where=path,
                               fix="copy the bundle again; the manifest is damaged")
    return data["files"]


@dataclass(frozen=True)
class VerifyResult:
    bundle: Path
    files: int
    bytes: int


def verify_bundle(bundle: Path) -> VerifyResult:
    """Check every manifest entry and that nothing unlisted sits in the bundle.

    Raises :class:`EdgekitError` naming the first mismatching file; returns counts otherwise.
    Paths are all checked for escapes before any file is opened or hashed.
    """
    entries = read_manifest(bundle)
    members = [(e, member_path(bundle, e["path"])) for e in entries]
    total = 0
    for entry, path in members:
        rel = entry["path"]
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise EdgekitError("is not a regular file", where=bundle / rel,
                               fix="copy the bundle again without links")
        if not path.exists():
            raise EdgekitError("listed in manifest.json but missing", where=bundle / rel,
                               fix="copy the whole bundle folder again")
        size = path.stat().st_size
        if size != entry["size_bytes"]:
            raise EdgekitError(f"size {size} B, manifest says {entry['size_bytes']} B (truncated "
                               "or modified)", where=bundle / rel, fix="copy the bundle again")
        if sha256_of(path) != entry["sha256"]:
            raise EdgekitError("sha256 differs from manifest.json (modified or corrupt)",
                               where=bundle / rel, fix="copy the bundle again")
        total += size
    listed = {e["path"] for e in entries} | {MANIFEST}
    root = bundle.resolve()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if (p.is_file() or p.is_symlink()) and rel not in listed:
            raise EdgekitError("file not listed in manifest.json (added after export)",
                               where=bundle / rel, fix="remove it, or re-export the bundle")
    return VerifyResult(bundle, len(entries), total)


def enclosing_bundle(path: Path) -> Path | None:
    """The nearest folder above ``path`` that is a bundle (holds report.json and
    manifest.json), or None for a loose file."""
    return next((p for p in Path(path).resolve().parents
                 if (p / "report.json").is_file() and (p / MANIFEST).is_file()), None)


def read_report(bundle: Path) -> dict[str, Any]:
    """``report.json`` of ``bundle``, parsed, with every path it names (each artifact's
    ``file`` and ``files``, the held-out data) checked to stay inside the bundle: a reader
    loads only what this returns, so a crafted report cannot point it at ``/etc`` or ``..``.
    Verify the bundle first (:func:`verify_bundle`) so the report is the one exported."""
    path = bundle / "report.json"
    fix = "re-export the bundle with 'edgekit compress'"
    if not path.is_file():
        raise EdgekitError("not an edgekit bundle (no report.json)", where=bundle,
                           fix="pass the folder 'edgekit compress' wrote")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        artifacts = report["artifacts"]
        named = [report["dataset"].get("heldout_file") or ""] if "dataset" in report else []
        for a in artifacts:
            named += [a["file"], *a.get("files", [])]
    except (UnicodeDecodeError, ValueError) as exc:
        raise EdgekitError(f"not valid JSON ({exc.__class__.__name__})", where=path,
                           fix=fix) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise EdgekitError(f"does not list artifacts and held-out data (missing {exc})",
                           where=path, fix=fix) from None
    for rel in filter(None, named):
        inside(bundle, rel, what="artifact path", where=path, fix=fix)
    return report


def verify_loads(bundle: Path) -> int:
    """Load every artifact of ``report.json`` on its runtime, in a child process, and run one
    held-out example through it; raise the first failure (an engine crash included).

    Call after :func:`verify_bundle`, so only files the manifest vouches for are loaded.
    Returns how many artifacts loaded.
    """
    from edgekit.device.runtimes._isolate import probe

    report_path = member_path(bundle, "report.json")
    report = read_report(bundle)
    try:
        wanted = [(a["runtime"], member_path(bundle, a["file"])) for a in report["artifacts"]]
        heldout = member_path(bundle, report["dataset"]["heldout_file"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgekitError(f"report.json does not list artifacts and held-out data ({exc})",
                           where=report_path, fix="re-export the bundle") from None
    by_runtime: dict[str, list[Path]] = {}
    for runtime, path in wanted:
        by_runtime.setdefault(runtime, []).append(path)
    for runtime, paths in by_runtime.items():
        results = probe(runtime, paths, heldout)
        for path in paths:
            if results.get(path) is not None:
                raise results[path]  # type: ignore[misc]
    return len(wanted)
