"""The two path rules every writer and reader of a bundle shares.

* :func:`check_name`: a name that becomes a file or folder name (a recipe ``name``, an export
  ``name``) is a plain name: letters, digits, ``.``, ``_``, ``-``, no separators, no ``..``.
  A recipe is input from elsewhere; ``name: ../../escape`` must not place files outside the
  bundle.
* :func:`inside`: a path the pipeline writes, or one a reader takes from ``report.json`` or
  ``manifest.json`` (data from elsewhere), must stay inside the bundle folder: no absolute
  paths, no ``..`` parts, no symlink that resolves outside it. Every reader (``verify``,
  ``validate``, ``profile``, the runner staging) calls this one check, so a crafted report
  cannot make edgekit load, hash or run a file outside the bundle.

Imports nothing but :mod:`edgekit.errors`, so the lowest modules can use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from edgekit.errors import EdgekitError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
NAME_MAX = 100
_NAME = re.compile(NAME_PATTERN)
_FIX = "do not use this bundle; re-export it with 'edgekit compress'"


def is_safe_name(name: object) -> bool:
    """True for a plain file-name part: starts with a letter or digit, then letters, digits,
    ``.``, ``_`` or ``-``; at most :data:`NAME_MAX` characters; never ``..``."""
    return (isinstance(name, str) and len(name) <= NAME_MAX and bool(_NAME.match(name))
            and ".." not in name)


def check_name(name: object, field: str, where: str | Path | None = None) -> str:
    """``name`` if it is safe to become a file name (:func:`is_safe_name`), else a one-line
    error naming ``field``."""
    if not is_safe_name(name):
        raise EdgekitError(f"field '{field}': {name!r} cannot be a file name (use letters, "
                           "digits, '.', '_' and '-' only, no '/' or '..', at most "
                           f"{NAME_MAX} characters)", where=where, fix=f"rename it, e.g. "
                           f"{field}: my-model")
    return str(name)


def inside(root: Path, rel: str | Path, *, what: str = "path",
           where: str | Path | None = None, fix: str = _FIX, scope: str = "the bundle") -> Path:
    """``root / rel`` when it stays inside ``root`` (``rel`` relative, no ``..`` part, no
    symlink leading out), else a one-line :class:`EdgekitError` naming ``where`` (default:
    ``root``; ``scope`` names ``root`` in the message). ``rel`` may also be an absolute path
    already under ``root`` (the pipeline's own destinations)."""
    where = root if where is None else where
    if isinstance(rel, Path) and rel.is_absolute():
        for base in (Path(root), Path(os.path.realpath(root))):
            if rel.is_relative_to(base):
                rel = rel.relative_to(base).as_posix()
                break
        else:
            raise EdgekitError(f"{what} '{rel}' is outside {scope} ({root})", where=where,
                               fix=fix)
    if not isinstance(rel, (str, Path)) or not str(rel) or "\x00" in str(rel):
        raise EdgekitError(f"{what} {rel!r} is not a relative file path", where=where, fix=fix)
    text = str(rel)
    posix = PurePosixPath(text)
    if posix.is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive:
        raise EdgekitError(f"{what} '{text}' is absolute: it escapes {scope}", where=where,
                           fix=fix)
    if ".." in posix.parts or "\\" in text:
        raise EdgekitError(f"{what} '{text}' climbs out of {scope} ('..' or '\\')",
                           where=where, fix=fix)
    try:
        base = Path(os.path.realpath(root, strict=False))
        target = Path(os.path.realpath(base / posix, strict=False))
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise EdgekitError(f"{what} '{text}' cannot be resolved ({exc.__class__.__name__}: "
                           "a symlink loop?)", where=where, fix=fix) from None
    if not target.is_relative_to(base):
        raise EdgekitError(f"{what} '{text}' is a symlink to {target}, outside {scope}",
                           where=where, fix=fix)
    return Path(root) / posix
