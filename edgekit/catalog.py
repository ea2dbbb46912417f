"""Where the built-in YAML catalogs (recipes, devices) live.

In a wheel they are packaged as ``edgekit/_catalog/{recipes,devices}`` (hatch force-include);
in a source checkout or editable install they are the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def catalog_dir(kind: str) -> Path:
    """Folder holding the built-in ``kind`` YAML files ('recipes' or 'devices')."""
    for candidate in (_PKG / "_catalog" / kind, _PKG.parent / kind):
        if candidate.is_dir():
            return candidate
    return _PKG / "_catalog" / kind


def catalog_file(name: str) -> Path | None:
    """A single shipped top-level file (e.g. ``requirements-data.txt``), or None."""
    for candidate in (_PKG / "_catalog" / name, _PKG.parent / name):
        if candidate.is_file():
            return candidate
    return None


def builtin_names(kind: str) -> list[str]:
    return sorted(p.stem for p in catalog_dir(kind).glob("*.yaml"))


def resolve(kind: str, name_or_path: str) -> Path | None:
    """A user's YAML path if it exists, else the built-in of that name, else None."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p if p.exists() else None
    candidate = catalog_dir(kind) / f"{name_or_path}.yaml"
    return candidate if candidate.exists() else None
