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
from edgekit.targets import TARGETS, RunnerTarget
from edgekit.targets._proc import run_command

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

    def ssh(self, device: DeviceProfile, command: str, what: str) -> str:
        addr = parse(device.connection)
        proc = run_command(["ssh", *options(device), "-p", str(addr.port), addr.login, command],
                           what=f"{what} on {addr.login}:{addr.port}",
                           timeout_s=device.remote.timeout_s)
        return proc.stdout + proc.stderr

    def scp(self, device: DeviceProfile, sources: list[str], dest: str, what: str) -> None:
        addr = parse(device.connection)
        run_command(["scp", "-q", "-r", *options(device), "-P", str(addr.port), *sources, dest],
                    what=f"{what} ({addr.login}:{addr.port})", timeout_s=device.remote.timeout_s)

    def execute(self, device: DeviceProfile, folder: Path, argv: list[str]) -> str:
        addr = parse(device.connection)
        remote = f"{device.remote.workdir.rstrip('/')}/{uuid.uuid4().hex[:12]}"
        python = device.remote.python  # unquoted on purpose: '~/venv/bin/python' must expand
        self.ssh(device, f"mkdir -p {shlex.quote(device.remote.workdir)}", "mkdir")
        self.scp(device, [str(folder)], f"{addr.login}:{remote}", "copying the runner")
        try:
            run = (f"cd {shlex.quote(remote)} && PYTHONPATH=. {python} "
                   f"{' '.join(shlex.quote(a) for a in argv)}; echo exit=$?")
            log = self.ssh(device, run, "the runner")
            wanted = [f"{addr.login}:{remote}/{name}" for name in ("result.json", "outputs.npz")
                      if name == "result.json" or "--outputs" in argv]
            try:
                self.scp(device, wanted, str(folder), "fetching results")
            except EdgekitError:
                pass  # the runner wrote nothing: collect() reports the runner's last line
        finally:
            self.ssh(device, f"rm -rf {shlex.quote(remote)}", "cleanup")
        return log


TARGETS.register(SSHTarget.scheme, SSHTarget())
