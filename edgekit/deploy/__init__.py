"""``edgekit deploy BUNDLE``: from a proven bundle to a model answering on a device.

Picks the artifact (:mod:`edgekit.deploy.choose`), writes a self-contained folder
(:mod:`edgekit.deploy.folder`) and, where a device can be reached, puts it there and proves it:
one module per connection scheme (:mod:`edgekit.deploy.ssh` for a Raspberry Pi or any SSH
host, :mod:`edgekit.deploy.android` for a phone over adb). ``--out DIR`` writes the folder only
(:mod:`edgekit.deploy.out`), to copy by hand; it is the only way for devices no scheme reaches.

Bad input (no bundle, a file that is not one of its artifacts, an unknown device, an ``--out``
that is not a deployed folder) is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.deploy import android, ssh
from edgekit.deploy.out import deploy_out
from edgekit.deploy.result import Deployed
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.bundle_integrity import read_report, verify_bundle

DEFAULT_TARGET = "rpi4"

Deployer = Callable[..., Deployed]
#: connection scheme -> how a folder reaches such a device (see each module)
DEPLOYERS: dict[str, Deployer] = {"ssh": ssh.deploy_to, "adb": android.deploy_to}

__all__ = ["DEFAULT_TARGET", "DEPLOYERS", "Deployed", "deploy"]


def open_bundle(bundle: Path) -> dict[str, Any]:
    """report.json of a bundle whose files all match its manifest."""
    if not bundle.exists():
        raise EdgekitError("bundle folder not found", where=bundle,
                           fix="pass the folder 'edgekit compress' wrote, e.g. export/lenet5")
    verify_bundle(bundle)
    return read_report(bundle)


def deploy(bundle: Path, target: str = DEFAULT_TARGET, *, artifact: Path | None = None,
           out: Path | None = None, dest: str | None = None) -> Deployed:
    """Deploy ``bundle`` to ``target`` (a device profile name or YAML), or only write the folder
    to ``out``. Raises :class:`EdgekitError` (one line) for bad input and unreachable devices."""
    device: DeviceProfile = load_device(target)
    bundle = Path(bundle)
    report = open_bundle(bundle)
    deployer = DEPLOYERS.get(device.scheme)
    if deployer is None:
        if out is None:
            raise EdgekitError(f"device '{device.name}' ({device.scheme}) is not reached by "
                               "deploy", fix="pass --out DIR to write the folder, or --target "
                               "an SSH or adb device (see 'edgekit devices')")
        return deploy_out(bundle, report, device, artifact=artifact, out=out)
    return deployer(bundle, report, device, artifact=artifact, out=out,
                    dest=dest or f"~/edgekit-deploy/{bundle.resolve().name}")
