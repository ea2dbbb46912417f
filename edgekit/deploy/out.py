"""``--out DIR``: the folder written on this machine only, built aside and swapped in whole.

An existing ``DIR`` is replaced only when ``edgekit deploy`` wrote it (it holds
``deploy.json``) and its ``manifest.json`` still accounts for every file in it
(:func:`edgekit.outdir.bundle_folder`); anything else is refused in one line, untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.deploy.choose import Choice, choose
from edgekit.deploy.folder import Written, write_folder
from edgekit.deploy.result import Deployed, chosen_line, describe
from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError
from edgekit.outdir import bundle_folder


def check_deploy_folder(out: Path) -> None:
    """Refuse an existing, non-empty ``out`` that ``edgekit deploy`` did not write."""
    if out.is_dir() and any(out.iterdir()) and not (out / "deploy.json").is_file():
        raise EdgekitError("folder exists and is not a folder 'edgekit deploy' wrote; "
                           "replacing it could delete your files", where=out,
                           fix="pass a new or empty folder with --out, or move that one away")


def write_out(out: Path, fill: Callable[[Path], Written]) -> Written:
    """``fill`` a temporary sibling of ``out``, then swap it in as ``out``."""
    check_deploy_folder(out)
    with bundle_folder(out) as tmp:
        written = fill(tmp)
    return Written(Path(out), written.config, written.requirements)


def deploy_out(bundle: Path, report: dict[str, Any], device: DeviceProfile, *,
               artifact: Path | None, out: Path, how_to_call: str | None = None) -> Deployed:
    """The folder for ``device`` at ``out``; no device is contacted."""
    choice: Choice = choose(bundle, report, device, artifact)
    hint = how_to_call or f"call it: {out}/predict --help"
    written = write_out(out, lambda tmp: write_folder(tmp, bundle, report, choice, device, hint))
    return Deployed(choice, written, lines=[chosen_line(choice),
                                            f"wrote {out} ({describe(written)})", hint])
