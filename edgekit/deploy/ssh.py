"""Deploy over SSH (a Raspberry Pi, a Jetson, any Linux box with Python 3).

The folder goes to a temporary sibling of its destination, ``predict --check`` runs there
(hashes, the runtime's import, held-out examples against this machine's outputs), and only a
folder that passed, or one that only lacks its runtime, replaces the previous deployment, by
``mv`` on the device: a re-deploy never leaves half a folder, and a folder the user made
there is never replaced (only one holding ``deploy.json``).
"""

from __future__ import annotations

import json
import shlex
import tempfile
import uuid
from pathlib import Path
from typing import Any

from edgekit.deploy.choose import Choice, choose
from edgekit.deploy.folder import Written, write_folder
from edgekit.deploy.out import deploy_out
from edgekit.deploy.result import Deployed, chosen_line
from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError
from edgekit.targets import target_for
from edgekit.targets._proc import TargetUnreachable
from edgekit.targets.ssh import SSHTarget, parse

_BY_HAND = "pass --out DIR to write the folder and copy it to the device by hand"


def _target(device: DeviceProfile) -> SSHTarget:
    """The registered SSH target, its tools checked (ssh, scp, the identity file)."""
    target = target_for(device)
    assert isinstance(target, SSHTarget)
    target.ensure(device)
    return target


def login(device: DeviceProfile) -> tuple[str, int]:
    addr = parse(device.connection)
    return addr.login, addr.port


def remote_path(dest: str) -> str:
    """``~/x`` as ``x`` (ssh and scp start in the home folder): no ``~`` to expand. A path
    under this machine's home is read the same way: ``--dest ~/models/x`` typed unquoted
    reaches us expanded by the local shell, and the user meant the device's home."""
    home = str(Path.home())
    if dest.startswith(home + "/"):
        dest = "~" + dest[len(home):]
    return dest[2:] if dest.startswith("~/") else dest


def shown(dest: str) -> str:
    """The destination as a user types it in a remote command (``~`` kept)."""
    path = remote_path(dest)
    return path if path.startswith(("/", "~")) else f"~/{path}"


def reach(device: DeviceProfile) -> None:
    try:
        _target(device).reach(device)
    except TargetUnreachable as exc:
        raise EdgekitError(f"no device reachable: {exc.message}", fix=_BY_HAND) from None


def _ssh_cmd(device: DeviceProfile) -> str:
    user_host, port = login(device)
    return f"ssh {'-p ' + str(port) + ' ' if port != 22 else ''}{user_host}"


def how_to_call(device: DeviceProfile, dest: str, kind: str) -> str:
    example = '"a gripping, beautifully shot film"' if kind == "text" else "example.npy"
    return f"call it: {_ssh_cmd(device)} '{shown(dest)}/predict {example}'"


def how_to_call_by_hand(device: DeviceProfile, out: Path, dest: str) -> str:
    user_host, port = login(device)
    port_flag = f"-P {port} " if port != 22 else ""
    return (f"copy it: scp -r {port_flag}{out} {user_host}:{shown(dest)} ; then call it: "
            f"{_ssh_cmd(device)} '{shown(dest)}/predict --help'")


def _run(device: DeviceProfile, command: str, what: str) -> tuple[int, str]:
    """``command`` on the device; its exit status (echoed last) and output."""
    out = _target(device).ssh(device, f"( {command} ); echo edgekit-exit=$?", what)
    lines = out.strip().splitlines()
    code = next((int(ln.split("=", 1)[1]) for ln in reversed(lines)
                 if ln.startswith("edgekit-exit=")), 255)
    return code, "\n".join(ln for ln in lines if not ln.startswith("edgekit-exit="))


def deploy_to(bundle: Path, report: dict[str, Any], device: DeviceProfile, *,
              artifact: Path | None, out: Path | None, dest: str) -> Deployed:
    """With ``out``: the folder only, and how to copy it by hand. Else: reach the device
    (refused in one line, naming ``--out``, when it does not answer), build the folder in a
    temporary one here and :func:`push` it."""
    if out is not None:
        return deploy_out(bundle, report, device, artifact=artifact, out=out,
                          how_to_call=how_to_call_by_hand(device, out, dest))
    choice = choose(bundle, report, device, artifact)
    reach(device)
    kind = "text" if (bundle / "text.json").is_file() else "tensor"
    with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as tmp:
        folder = Path(tmp) / bundle.resolve().name
        folder.mkdir()
        written = write_folder(folder, bundle, report, choice, device,
                               how_to_call(device, dest, kind))
        return push(written, choice, device, dest)


def push(written: Written, choice: Choice, device: DeviceProfile, dest: str) -> Deployed:
    """Copy the folder next to ``dest``, check it there, and swap it in (module docstring)."""
    target = _target(device)
    user_host, port = login(device)
    final = remote_path(dest.rstrip("/"))
    q = shlex.quote(final)
    tmp = f"{final}.partial-{uuid.uuid4().hex[:8]}"
    old = f"{final}.old-{uuid.uuid4().hex[:8]}"
    code, out = _run(device, f"if [ -e {q} ] && [ ! -f {q}/deploy.json ]; then exit 3; fi; "
                     f"mkdir -p \"$(dirname {q})\"", "checking the destination")
    if code == 3:
        raise EdgekitError(f"{user_host}:{shown(final)} exists and is not a folder 'edgekit "
                           "deploy' wrote; replacing it could delete files there",
                           fix="pass another --dest, or move that folder away on the device")
    if code != 0:
        raise EdgekitError(f"cannot create {shown(final)} on {user_host}: {out.strip()[-200:]}")
    written.folder.chmod(0o755)
    try:
        target.scp(device, [str(written.folder)], f"{user_host}:{tmp}", "copying the folder")
        code, out = _run(device, f"{shlex.quote(tmp)}/predict --check", "predict --check")
        check = _parse_check(out)
        if check is None or (not check["passed"] and not check.get("missing_runtime")):
            why = (check or {}).get("error") or _describe_failed(check) or out.strip()[-300:]
            raise EdgekitError(f"the deployed folder failed its check on {user_host}: {why}",
                               fix="the previous deployment (if any) is unchanged; run 'edgekit "
                                   "validate' on this device to see more")
    except BaseException:  # a failed check, a dropped connection, Ctrl-C: no partial copy left
        try:
            _run(device, f"rm -rf {shlex.quote(tmp)}", "cleanup")
        except EdgekitError:
            pass  # best effort: the device may be the reason we are here
        raise
    swap = (f"if [ -e {q} ]; then mv {q} {shlex.quote(old)} || exit 1; fi; "
            f"mv {shlex.quote(tmp)} {q} || {{ mv {shlex.quote(old)} {q}; exit 1; }}; "
            f"rm -rf {shlex.quote(old)}")
    code, out = _run(device, swap, "moving the folder into place")
    if code != 0:
        raise EdgekitError(f"cannot move the folder into place on {user_host}: "
                           f"{out.strip()[-200:]}")
    lines = [chosen_line(choice), f"copied to {user_host}:{shown(final)} (port {port})"]
    if check.get("missing_runtime"):
        lines.append(f"the runtime does not import there: {check['error']}; install it with: "
                     f"{_ssh_cmd(device)} '{device.remote.python} -m {check['install']}'")
        return Deployed(choice, written, check, shown(final), lines, passed=False)
    lines.append(f"checked there: sha256 of every file, {check['runtime_version']} on "
                 f"{check['machine']}, {check['examples']} held-out examples: "
                 + _describe(check))
    lines.append(how_to_call(device, shown(final), written.config["kind"]))
    return Deployed(choice, written, check, shown(final), lines)


def _parse_check(out: str) -> dict[str, Any] | None:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _describe(check: dict[str, Any]) -> str:
    parts = [f"max |Δ| vs this machine {check['max_abs_diff_vs_host']:.3g}"
             + (f" (≤ {check['atol']:g})" if check.get("atol") is not None else "")]
    if check.get("agreement_with_host") is not None:
        parts.append(f"labels agree {check['agreement_with_host']:.0%}")
    if check.get("agreement_with_bundle_reference") is not None:
        parts.append(f"agreement with the bundle's reference {check['agreement_with_bundle_reference']:.0%}")
    return ", ".join(parts)


def _describe_failed(check: dict[str, Any] | None) -> str | None:
    return _describe(check) if check and "max_abs_diff_vs_host" in check else None
