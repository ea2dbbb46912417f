"""The ``--out`` folder of a run: refused, locked, built aside and swapped in whole.

* **Refused** before anything is written when it cannot be replaced safely: a folder is
  replaceable only when it is empty or its ``manifest.json`` proves edgekit wrote every file in
  it (:func:`edgekit.bundle_integrity.verify_bundle` passes). A stray ``report.json`` next to a thesis
  does not make a folder a bundle; a user's own files are never deleted.
* **Writable** or refused before training: the parent must take new folders and an existing
  ``--out`` must be renameable, or the run would fail after an hour of work.
* **Locked**: a second run into the same ``--out`` while one is running is refused with one
  line (an ``flock`` on ``.<name>.lock`` next to it, released by the kernel if the run dies).
* **Atomic**: the bundle is built in a temporary sibling ``.<name>.partial-<pid>-*`` and renamed
  into place only when complete; on failure the temporary folder, the lock file and any parent
  folders this run created are removed, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.atomic import current_umask
from edgekit.errors import EdgekitError
from edgekit.bundle_integrity import verify_bundle

_FIX_OUT = "pass an empty or new folder with --out"


def check_replaceable(out: Path) -> None:
    """Refuse (one line naming ``out``) unless ``out`` is absent, an empty folder, or a bundle
    whose manifest lists, with matching checksums, every file in it."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise EdgekitError("output path exists and is not a folder", where=out, fix=_FIX_OUT)
    if not any(out.iterdir()):
        return
    try:
        verify_bundle(out)
    except EdgekitError as exc:
        why = f"{exc.where}: {exc.message}" if exc.where not in (None, str(out)) else exc.message
        raise EdgekitError("output folder exists and is not an edgekit bundle whose "
                           f"manifest.json accounts for every file in it ({why}), so "
                           "replacing it could delete files edgekit did not write", where=out,
                           fix=_FIX_OUT + ", or move that folder away yourself") from None


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest last."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    created = []
    for p in reversed(missing):
        try:
            p.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_empty(created)
            raise EdgekitError(f"cannot create the output folder ({exc.strerror})", where=p,
                               fix="pass --out in a folder you can write to") from None
        created.append(p)
    return created


def _remove_empty(created: list[Path]) -> None:
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            break


def check_writable(out: Path) -> None:
    """Refuse before training when the run could not write its result: the parent must take
    new entries, and an existing ``out`` must be renameable (a folder's rename needs write
    permission on the folder itself, for its ``..`` entry)."""
    for folder in (out.parent, *([out] if out.is_dir() else [])):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise EdgekitError("folder is not writable", where=folder,
                               fix="pass --out in a folder you can write to")


class _Lock:
    """An exclusive ``flock`` on ``path``; the file is removed again on release."""

    def __init__(self, path: Path, out: Path) -> None:
        self.path = path
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
            except OSError as exc:
                raise EdgekitError(f"cannot create the run lock ({exc.strerror})", where=path,
                                   fix="pass --out in a folder you can write to") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise EdgekitError("another edgekit run is writing this output folder now",
                                   where=out, fix="wait for it to finish, or pass another "
                                   "--out") from None
            # The previous holder may have removed the file between our open and flock: then
            # we hold a lock on a deleted file, which locks nobody out. Retry on the new one.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)  # while still holding it: see the retry above
        os.close(self.fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_partials(out: Path) -> None:
    """Delete temporary bundles left by runs that were killed (SIGKILL, power loss): their
    writer's pid, part of the folder name, is gone. A live run's folder is left alone."""
    for tmp in out.parent.glob(f".{out.name}.partial-*"):
        pid = tmp.name.removeprefix(f".{out.name}.partial-").split("-")[0]
        if tmp.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextmanager
def bundle_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` only if the block finishes (see the
    module docstring for what is refused before the block runs)."""
    out = Path(os.path.abspath(out))
    check_replaceable(out)
    created = _make_parents(out.parent)
    lock = None
    tmp = None
    try:
        check_writable(out)
        lock = _Lock(lock_path(out), out)
        check_replaceable(out)  # again, now that no other run can be writing it
        _remove_dead_partials(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        old = None
        try:
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
            os.replace(tmp, out)
        except OSError as exc:
            if old is not None and not out.exists():
                os.replace(old, out)  # put the previous bundle back
            raise EdgekitError(f"cannot move the finished bundle into place ({exc.strerror})",
                               where=out, fix="pass --out in a folder you can write to") from None
        tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        created = []
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            lock.release()
        _remove_empty(created)
