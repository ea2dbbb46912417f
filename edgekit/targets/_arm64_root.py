"""Build (once) and locate the arm64 Debian root that the emulated-ARM64 target runs in.

Why a real arm64 userland instead of a cross-compiled mock: the point of this target is to run
the *shipped* aarch64 builds of LiteRT and ONNX Runtime (the same wheels a Raspberry Pi or an
ARM phone CPU installs from PyPI), so kernel-selection and conversion bugs specific to ARM
(NEON/XNNPACK paths, MLAS aarch64 kernels) show up on a developer machine without a board.

Recipe (one command: ``edgekit targets setup arm64``):

1. ``debootstrap --foreign --arch=arm64 --variant=minbase --include=python3`` downloads the
   Debian arm64 packages; we extract every downloaded ``.deb`` with ``dpkg-deb -x`` (the second
   stage would need binfmt_misc, which containers usually lack).
2. ``pip install --target ... --platform manylinux_2_27_aarch64 --only-binary=:all:`` puts the
   aarch64 wheels of numpy, ai-edge-litert and onnxruntime for Debian's python3 into the root.
3. Stand-in ``/proc/cpuinfo`` and ``/sys/devices/system/cpu/{present,possible}`` files describe
   an ARM CPU: the runtimes read them at start (cpuinfo, XNNPACK, MLAS) and crash on x86 ones.

The result is cached under ``$EDGEKIT_CACHE`` (default ``~/.cache/edgekit``)/``arm64-root``;
a ``READY`` stamp is written last, so an interrupted build is never mistaken for a good one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from edgekit.atomic import write_text
from edgekit.errors import EdgekitError

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# Same minor versions as the host stack (pyproject), so x86 and arm64 runs compare like for like.
# tokenizers: a text bundle's device-side tokenizer (the runners' text path) runs there too.
WHEELS = ("numpy<2.5", "ai-edge-litert==2.3.*", "onnxruntime==1.32.*", "tokenizers>=0.19")
# pip matches --platform tags literally, so list each one the wheels use: onnxruntime 1.32
# ships manylinux_2_28 only, numpy and ai-edge-litert 2_27/2_17 (bookworm's glibc is 2.36).
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64",
             "manylinux2014_aarch64")
TOOLS = {"debootstrap": "debootstrap", "proot": "proot", "qemu-aarch64-static": "qemu-user-static"}
SITE = "opt/edgekit/site-packages"  # inside the root

# Four Cortex-A72 cores: a Raspberry Pi 4. Only the fields cpuinfo/XNNPACK/MLAS parse.
_CPUINFO_CORE = """processor\t: {i}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""
CORES = 4


def cache_dir() -> Path:
    base = os.environ.get("EDGEKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgekit")
    return Path(base)


def root_dir() -> Path:
    return cache_dir() / "arm64-root"


def _tools() -> dict[str, str]:
    """debootstrap refuses to run unprivileged; under fakeroot its first stage (download and
    unpack) works, so CI machines that run tests as a normal user need fakeroot too."""
    return TOOLS if os.geteuid() == 0 else {**TOOLS, "fakeroot": "fakeroot"}


def missing_tools() -> list[str]:
    """Debian packages to apt-get install before the root can be built or run."""
    return sorted({pkg for tool, pkg in _tools().items() if shutil.which(tool) is None})


def is_ready(root: Path | None = None) -> bool:
    """The root is built and has every wheel of :data:`WHEELS` (a root built before a wheel
    was added gets it on the next build: only the pip step runs again)."""
    stamp = (root or root_dir()) / "READY"
    if not stamp.is_file():
        return False
    try:
        return list(json.loads(stamp.read_text()).get("wheels", [])) == list(WHEELS)
    except ValueError:
        return False


def standin_files(root: Path | None = None) -> dict[str, Path]:
    """Host path of each stand-in file, keyed by the guest path it is bound to."""
    extra = (root or root_dir()).parent / "arm64-standins"
    return {"/proc/cpuinfo": extra / "cpuinfo",
            "/sys/devices/system/cpu/present": extra / "present",
            "/sys/devices/system/cpu/possible": extra / "possible"}


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise EdgekitError(f"{what} failed: {tail[0]}", fix="see the command: " + " ".join(cmd))
    return proc.stdout


def _python_version(root: Path) -> str:
    """Debian's python3 minor version, from the python3.X binary the debs installed."""
    found = sorted(p.name for p in (root / "usr/bin").glob("python3.*")
                   if re.fullmatch(r"python3\.\d+", p.name))
    if not found:
        raise EdgekitError("the arm64 root has no python3.X binary", where=root,
                           fix="delete the folder and run 'edgekit targets setup arm64' again")
    return found[-1].removeprefix("python")


def _write_standins(root: Path) -> None:
    files = standin_files(root)
    files["/proc/cpuinfo"].parent.mkdir(parents=True, exist_ok=True)
    write_text(files["/proc/cpuinfo"], "\n".join(_CPUINFO_CORE.format(i=i) for i in range(CORES)))
    for key in ("/sys/devices/system/cpu/present", "/sys/devices/system/cpu/possible"):
        write_text(files[key], f"0-{CORES - 1}\n")


def build(root: Path | None = None, *, log: Callable[[str], object] = print) -> Path:
    """Build the root if it is not READY yet; return it. ~100 MB download, ~75 s on the dev machine."""
    root = root or root_dir()
    if is_ready(root):
        _write_standins(root)
        return root
    absent = missing_tools()
    if absent:
        raise EdgekitError(f"cannot build the arm64 root: missing {', '.join(absent)}",
                           fix=f"apt-get install {' '.join(absent)}")
    if not (root / "DEBS_EXTRACTED").is_file():  # stage 1 is the slow download; keep it
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        log(f"debootstrap --foreign arm64 {SUITE} into {root}")
        _run([*([] if os.geteuid() == 0 else ["fakeroot"]), "debootstrap", "--foreign", "--arch=arm64", "--variant=minbase",
              "--include=python3", SUITE, str(root), MIRROR], "debootstrap")
        debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
        log(f"extracting {len(debs)} .debs with dpkg-deb -x")
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(root)], f"dpkg-deb -x {deb.name}")
        for deb in debs:
            deb.unlink()
        write_text(root / "DEBS_EXTRACTED", "")
    pyver = _python_version(root)
    log(f"pip: aarch64 wheels for python {pyver}: {', '.join(WHEELS)}")
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
          "--target", str(root / SITE), *(a for p in PLATFORMS for a in ("--platform", p)),
          "--python-version", pyver,
          "--implementation", "cp", "--only-binary=:all:", *WHEELS], "pip install (aarch64 wheels)")
    _write_standins(root)
    write_text(root / "READY", json.dumps({"suite": SUITE, "python": pyver, "wheels": WHEELS}))
    return root


def main() -> None:
    """``python -m edgekit.targets._arm64_root``: the same as ``edgekit targets setup arm64``."""
    print(build())


if __name__ == "__main__":
    main()
