"""``connection: ssh://user@host[:port]``: a Raspberry Pi, a Jetson, any Linux box with Python.

The staged folder (runner + artifact + inputs) is copied with the system ``scp``, run with
``ssh`` using the device's ``remote.python`` (which needs only NumPy and the runtime), and the
result JSON and outputs are copied back. Host keys are checked strictly against the profile's
``remote.known_hosts`` (or ssh's default file): edgekit never accepts an unknown host silently.
``BatchMode`` makes a missing key fail at once instead of prompting for a password.
"""

from __future__ import annotations

import re
import shlex
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError
from edgekit.device.runner import EXIT_WITH_STDIN
from edgekit.targets import TARGETS, RunnerTarget
from edgekit.targets._proc import TargetTimeout, TargetUnreachable, last_line, run_command

_URL = re.compile(r"^ssh://(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+|\[[0-9a-fA-F:]+\])(?::(?P<port>\d+))?/?$")


@dataclass(frozen=True)
class Address:
    user: str | None
    host: str
    port: int

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def parse(connection: str) -> Address:
    m = _URL.match(connection)
    if not m:
        raise EdgekitError(f"bad ssh connection '{connection}'", fix="write ssh://user@host[:port]")
    return Address(m["user"], m["host"].strip("[]"), int(m["port"] or 22))


def options(device: DeviceProfile) -> list[str]:
    """``-o`` options shared by ssh and scp (the port flag differs: -p vs -P)."""
    r = device.remote
    opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={r.connect_timeout_s}",
            "-o", f"StrictHostKeyChecking={'yes' if r.strict_host_key_checking else 'accept-new'}",
            "-o", "LogLevel=ERROR"]
    if r.known_hosts:
        opts += ["-o", f"UserKnownHostsFile={Path(r.known_hosts).expanduser()}"]
    if r.identity_file:
        opts += ["-o", "IdentitiesOnly=yes", "-i", str(Path(r.identity_file).expanduser())]
    return opts


RESULT_FLAGS = ("--timings", "--outputs", "--out")  # the runners' options naming files they write


def result_files(argv: list[str]) -> list[str]:
    """The files a runner invocation writes (what to copy back)."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in RESULT_FLAGS]


class SSHTarget(RunnerTarget):
    scheme = "ssh"
    checked_on_use = True  # missing() checks the tools; the host is reached when a command runs

    def missing(self, device: DeviceProfile) -> str | None:
        absent = [tool for tool in ("ssh", "scp") if shutil.which(tool) is None]
        if absent:
            return f"{' and '.join(absent)} not installed (apt-get install openssh-client)"
        identity = device.remote.identity_file
        if identity and not Path(identity).expanduser().is_file():
            return f"identity file {identity} does not exist"
        parse(device.connection)
        return None

    def ssh(self, device: DeviceProfile, command: str, what: str, *, hold_stdin: bool = False) -> str:
        addr = parse(device.connection)
        proc = run_command(["ssh", *options(device), "-p", str(addr.port), addr.login, command],
                           what=f"{what} on {addr.login}:{addr.port}",
                           timeout_s=device.remote.timeout_s, hold_stdin=hold_stdin)
        return proc.stdout + proc.stderr

    def reach(self, device: DeviceProfile) -> None:
        """The first contact (``mkdir`` of the scratch folder): a connection that cannot be made
        (ssh exit 255: unknown host, refused, no route; or no answer in time) raises
        :class:`TargetUnreachable`, so ``profile`` can fall back to the estimate. A host key
        that does not match stays a hard error: that is not a device out of reach."""
        addr = parse(device.connection)
        where = f"{addr.login}:{addr.port}"
        command = ["ssh", *options(device), "-p", str(addr.port), addr.login,
                   f"mkdir -p {shlex.quote(device.remote.workdir)}"]
        timeout = device.remote.connect_timeout_s + 30
        try:
            proc = run_command(command, what=f"mkdir on {where}", timeout_s=timeout, check=False)
        except TargetTimeout:
            raise TargetUnreachable(f"cannot reach {where}: no answer in {timeout} s",
                                    fix="check that the device is on and reachable") from None
        if proc.returncode == 0:
            return
        line = last_line(proc)
        if proc.returncode == 255 and "host key" not in line.lower():
            raise TargetUnreachable(f"cannot reach {where}: {line}",
                                    fix="check the host name, that the device is on and sshd runs")
        raise EdgekitError(f"mkdir on {where} failed (exit {proc.returncode}): {line}")

    def scp(self, device: DeviceProfile, sources: list[str], dest: str, what: str) -> None:
        addr = parse(device.connection)
        run_command(["scp", "-q", "-r", *options(device), "-P", str(addr.port), *sources, dest],
                    what=f"{what} ({addr.login}:{addr.port})", timeout_s=device.remote.timeout_s)

    def execute(self, device: DeviceProfile, folder: Path, argv: list[str]) -> str:
        addr = parse(device.connection)
        remote = f"{device.remote.workdir.rstrip('/')}/{uuid.uuid4().hex[:12]}"
        python = device.remote.python  # unquoted on purpose: '~/venv/bin/python' must expand
        self.reach(device)
        self.scp(device, [str(folder)], f"{addr.login}:{remote}", "copying the runner")
        try:
            # The runner ends when its stdin closes (edgekit.device.runner.exit_with_stdin): we hold
            # it open while we wait, so a timeout, Ctrl-C or dropped connection ends it there.
            run = (f"cd {shlex.quote(remote)} && {EXIT_WITH_STDIN}=1 PYTHONPATH=. {python} "
                   f"{' '.join(shlex.quote(a) for a in argv)}; echo exit=$?")
            log = self.ssh(device, run, "the runner", hold_stdin=True)
            wanted = [f"{addr.login}:{remote}/{name}" for name in result_files(argv)]
            try:
                self.scp(device, wanted, str(folder), "fetching results")
            except EdgekitError:
                pass  # the runner wrote nothing: collect() reports the runner's last line
        finally:
            try:
                self.ssh(device, f"rm -rf {shlex.quote(remote)}", "cleanup")
            except EdgekitError:
                pass  # best effort: never hide the runner's own outcome behind the cleanup's
        return log


TARGETS.register(SSHTarget.scheme, SSHTarget())
