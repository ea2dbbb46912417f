"""Subprocess helper shared by the targets: run, time out, and turn failure into one line.

Why a session of its own: a target's command is rarely the process that does the work. Under
emulation ``proot`` starts ``qemu-aarch64-static``, which runs Python; over SSH the ``ssh``
client holds a connection to a runner on the device. Ending only the direct child on a timeout
or Ctrl-C left the rest running (a qemu at 200 % CPU, minutes after the run was given up).
Every command therefore starts in a new session (its own process group), and on a timeout, an
interrupt or any other exception the whole session is killed and waited for. What runs on the
far side of an SSH connection is ended by the connection closing (see :mod:`edgekit.device.runner`'s
``EXIT_WITH_STDIN``), which killing the local ``ssh`` client brings about.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from edgekit.errors import EdgekitError

TERM_GRACE_S = 2.0  # between SIGTERM and SIGKILL: lets ssh close its connection cleanly

_LIVE: set[subprocess.Popen[bytes]] = set()
"""Commands running now, from any thread: when several run at once (validate's parallel
emulated runners), Ctrl-C reaches only the main thread, which ends them all
(:func:`end_all_sessions`)."""
_LIVE_LOCK = threading.Lock()


class TargetTimeout(EdgekitError):
    """A target command ran past its timeout; its whole process group has been ended."""


class TargetUnreachable(EdgekitError):
    """The device could not be contacted at all (as opposed to a command failing on it)."""


def run_command(cmd: list[str], *, what: str, timeout_s: float, cwd: Path | None = None,
                env: dict[str, str] | None = None, check: bool = True,
                hold_stdin: bool = False) -> subprocess.CompletedProcess[str]:
    """``cmd`` with captured text output, in a session of its own that is killed whole on a
    timeout (:class:`TargetTimeout`) or an interrupt; with ``check`` a non-zero exit becomes
    an :class:`EdgekitError` naming ``what`` and the last line the command printed.

    ``hold_stdin``: give the command a pipe for stdin that stays open until it ends (instead of
    /dev/null), so that a remote side that exits when its stdin closes lives exactly as long as
    this call."""
    held: int | None = None
    stdin: int = subprocess.DEVNULL
    if hold_stdin:
        stdin, held = os.pipe()
    # Output goes to files, not pipes: a process the command leaves behind holding a pipe
    # would keep a pipe reader waiting; here only the command's own exit is waited for.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=err,
                                    start_new_session=True)
        except FileNotFoundError:
            _close(stdin if hold_stdin else None, held)
            raise EdgekitError(f"{what}: '{cmd[0]}' is not installed", fix=f"install {cmd[0]}") from None
        if hold_stdin:
            os.close(stdin)  # the child has its copy; we keep only the write end
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            end_session(proc)
            raise TargetTimeout(f"{what} timed out after {timeout_s:g} s",
                                fix="check that the device is reachable, or raise remote.timeout_s") from None
        except BaseException:  # Ctrl-C (KeyboardInterrupt) or anything else: nothing left behind
            end_session(proc)
            raise
        finally:
            _close(held)
            with _LIVE_LOCK:
                _LIVE.discard(proc)
        end_session(proc)  # the command exited: end anything it left running in its session
        done = subprocess.CompletedProcess(cmd, proc.returncode, _text(out), _text(err))
    if check and done.returncode != 0:
        raise EdgekitError(f"{what} failed (exit {done.returncode}): {last_line(done)}")
    return done


def _text(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")


def end_session(proc: subprocess.Popen[bytes]) -> None:
    """End every process of ``proc``'s session: SIGTERM to its group, then SIGKILL to whatever
    of the session is still there after a short grace (members that moved to a process group
    of their own are found by session id in /proc), and reap ``proc``."""
    sid = proc.pid
    if proc.poll() is None or session_members(sid):
        _signal_group(sid, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE_S
        while time.monotonic() < deadline and (proc.poll() is None or session_members(sid)):
            time.sleep(0.05)
        _signal_group(sid, signal.SIGKILL)
        for pid in session_members(sid):
            _kill(pid)
    try:
        proc.wait(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def end_all_sessions() -> None:
    """End every command still running, whichever thread started it (their threads then see
    them exit and unwind). The main thread calls it when interrupted while worker threads run
    commands: each command runs in a session of its own, so the terminal's Ctrl-C never
    reaches it."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        end_session(proc)


def session_members(sid: int) -> list[int]:
    """Live processes whose session id is ``sid`` (Linux /proc; [] elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(no output)"
