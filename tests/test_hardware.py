"""Hardware detection (edgekit.device.hardware): this machine's /proc/cpuinfo, Arm cpuinfo texts as a
Raspberry Pi 4 and 5 print them, nvidia-smi's CSV, and the runner reporting what it ran on."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.device import hardware

REPO = Path(__file__).resolve().parents[1]

# /proc/cpuinfo of a Raspberry Pi 4 (64-bit Raspberry Pi OS), first core shown and the trailer.
RPI4_CPUINFO = """\
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

processor	: 1
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

Revision	: c03114
Serial		: 100000000c0ffee0
Model		: Raspberry Pi 4 Model B Rev 1.4
"""

# A Raspberry Pi 5 (Cortex-A76): has the dot-product extension (asimddp).
RPI5_CPUINFO = """\
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x4
CPU part	: 0xd0b
CPU revision	: 1

Model		: Raspberry Pi 5 Model B Rev 1.0
"""


def test_flags_parsed_from_this_machines_cpuinfo() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo on this system (the platform fallbacks apply)")
    text = cpuinfo.read_text()
    words = {w for line in text.splitlines() if line.split(":")[0].strip() in ("flags", "Features")
             for w in line.split(":", 1)[1].split()}
    parsed = hardware.parse_cpuinfo(text)
    assert parsed["flags"] == sorted(words & set(hardware.FLAGS_THAT_MATTER))
    assert parsed["logical_cpus"] == sum(1 for line in text.splitlines()
                                         if line.split(":")[0].strip() == "processor")
    detected = hardware.detect()["cpu"]
    assert detected["flags"] == parsed["flags"] and detected["model"]
    if "avx512_bf16" in words:  # the CPUs on which OpenVINO computes fp32 models in bf16
        assert "avx512_bf16" in detected["flags"]


def test_arm_cpuinfo_names_the_core_board_and_neon_features() -> None:
    pi4 = hardware.parse_cpuinfo(RPI4_CPUINFO)
    assert pi4 == {"model": "Arm Cortex-A72", "logical_cpus": 2, "flags": ["asimd"],
                   "board": "Raspberry Pi 4 Model B Rev 1.4"}
    pi5 = hardware.parse_cpuinfo(RPI5_CPUINFO)
    assert pi5["model"] == "Arm Cortex-A76" and "asimddp" in pi5["flags"]
    assert {"asimd", "asimdhp", "fphp"} <= set(pi5["flags"]) and "aes" not in pi5["flags"]


def test_nvidia_smi_csv_is_parsed() -> None:
    text = "NVIDIA H100 80GB HBM3, 81559, 9.0, 550.54.15\nNVIDIA L4, 23034, 8.9, 550.54.15\n"
    assert hardware.parse_nvidia_smi(text) == [
        {"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "compute_capability": "9.0",
         "driver": "550.54.15"},
        {"name": "NVIDIA L4", "memory_mib": 23034, "compute_capability": "8.9",
         "driver": "550.54.15"}]
    assert hardware.parse_nvidia_smi("") == []


def test_gpus_are_detected_when_the_driver_is_there() -> None:
    if not shutil.which("nvidia-smi"):
        pytest.skip("no nvidia-smi on this machine (no NVIDIA driver)")
    gpus = hardware.detect()["gpus"]
    assert gpus and all(g["name"] and g["memory_mib"] and g["compute_capability"] for g in gpus)


def test_hardware_module_imports_only_the_standard_library() -> None:
    """It runs on devices inside the runner payload, next to no other edgekit module."""
    tree = ast.parse((REPO / "edgekit" / "device" / "hardware.py").read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= set(sys.stdlib_module_names) | {"__future__"}, names
    from edgekit.targets import payload_files

    assert REPO / "edgekit" / "device" / "hardware.py" in payload_files()


def test_the_runner_reports_the_hardware_it_ran_on(lenet_bundle: tuple[Path, dict], tmp_path: Path) -> None:
    bundle, report = lenet_bundle
    art = next(a for a in report["artifacts"] if a["format"] == "tflite")
    timings = tmp_path / "timings.json"
    done = subprocess.run([sys.executable, "-m", "edgekit.device.runner", "--artifact", str(bundle / art["file"]),
                           "--runtime", "litert", "--inputs", str(bundle / "data" / "heldout"),
                           "--timings", str(timings)], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(timings.read_text())
    assert result["hardware"]["cpu"] == hardware.detect()["cpu"]
