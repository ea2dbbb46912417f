"""``edgekit deploy BUNDLE``: from a proven bundle to a model answering on a device.

Picks the artifact (:mod:`edgekit.deploy.choose`), writes a self-contained folder
(:mod:`edgekit.deploy.folder`) and, where a device can be reached, puts it there and proves it
(:mod:`edgekit.deploy.ssh` for a Raspberry Pi or any SSH host, :mod:`edgekit.deploy.android`
for a phone over adb). ``--out DIR`` writes the folder only, to copy by hand.

Bad input (no bundle, a file that is not one of its artifacts, an unknown device, an ``--out``
that is not a deployed folder) is refused before anything is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.deploy.choose import Choice, choose
from edgekit.deploy.folder import Written, write_folder
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.verify import read_report, verify_bundle

DEFAULT_TARGET = "rpi4"


@dataclass
class Deployed:
    """What a deploy did, for the console (``lines``) and for tests."""

    choice: Choice
    written: Written | None = None
    check: dict | None = None  # predict --check's JSON from the device
    dest: str | None = None
    lines: list[str] = field(default_factory=list)
    passed: bool = True


def check_deploy_folder(out: Path) -> None:
    """Refuse an existing, non-empty ``out`` that ``edgekit deploy`` did not write (the
    manifest check of :func:`edgekit.outdir.bundle_folder` then vouches for every file)."""
    if out.is_dir() and any(out.iterdir()) and not (out / "deploy.json").is_file():
        raise EdgekitError("folder exists and is not a folder 'edgekit deploy' wrote; "
                           "replacing it could delete your files", where=out,
                           fix="pass a new or empty folder with --out, or move that one away")


def describe(written: Written) -> str:
    files = [p for p in written.folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    return f"{len(files)} files, {size / 1024:.0f} KiB; requirements: {', '.join(written.requirements)}"


def write_out(bundle: Path, report: dict, choice: Choice, device: DeviceProfile, out: Path,
              how_to_call: str) -> Written:
    """The folder at ``out``, built aside and swapped in whole (:mod:`edgekit.outdir`)."""
    from edgekit.outdir import bundle_folder

    check_deploy_folder(out)
    with bundle_folder(out) as tmp:
        written = write_folder(tmp, bundle, report, choice, device, how_to_call)
    return Written(Path(out), written.config, written.requirements)


def open_bundle(bundle: Path) -> dict:
    if not bundle.exists():
        raise EdgekitError("bundle folder not found", where=bundle,
                           fix="pass the folder 'edgekit compress' wrote, e.g. export/lenet5")
    verify_bundle(bundle)
    return read_report(bundle)


def deploy(bundle: Path, target: str = DEFAULT_TARGET, *, artifact: Path | None = None,
           out: Path | None = None, dest: str | None = None) -> Deployed:
    """Deploy ``bundle`` to ``target`` (a device profile name or YAML), or only write the folder
    to ``out``. Raises :class:`EdgekitError` (one line) for bad input and unreachable devices."""
    from edgekit.deploy import android, ssh

    device = load_device(target)
    bundle = Path(bundle)
    report = open_bundle(bundle)
    pushers = {"ssh": ssh, "adb": android}
    pusher = pushers.get(device.scheme)
    if out is None and pusher is None:
        raise EdgekitError(f"device '{device.name}' ({device.scheme}) is not reached by deploy",
                           fix="pass --out DIR to write the folder, or --target an SSH or "
                               "adb device (see 'edgekit devices')")
    if pusher is android:
        return android.deploy(bundle, report, device, artifact=artifact, out=out)
    choice = choose(bundle, report, device, artifact)
    name = dest or f"~/edgekit-deploy/{bundle.resolve().name}"
    if out is not None:
        written = write_out(bundle, report, choice, device, out,
                            ssh.how_to_call_by_hand(device, out, name))
        return Deployed(choice, written, lines=[
            f"artifact: {choice.file} on {choice.runtime} ({choice.reason})",
            f"wrote {out} ({describe(written)})",
            ssh.how_to_call_by_hand(device, out, name) if device.scheme == "ssh"
            else f"run it: {out}/predict --help"])
    ssh.reach(device)
    with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as tmp:
        folder = Path(tmp) / bundle.resolve().name
        folder.mkdir()
        written = write_folder(folder, bundle, report, choice, device,
                               ssh.how_to_call(device, name, written_kind(bundle)))
        return ssh.push(written, choice, device, name)


def written_kind(bundle: Path) -> str:
    return "text" if (bundle / "text.json").is_file() else "tensor"
