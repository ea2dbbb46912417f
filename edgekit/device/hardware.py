"""The hardware this process runs on: CPU model and the instruction sets that decide what the
runtimes compute, and NVIDIA GPUs as their driver reports them.

Why it matters: the same artifact computes differently on different CPUs. OpenVINO runs fp32
models in bf16 on CPUs with AVX-512 BF16 or AMX; oneDNN and ONNX Runtime pick int8 kernels by
VNNI; Arm runtimes use the dot-product extension. A report that names the hardware lets a
reader tell a changed verdict from a changed machine.

Standard library only and no other edgekit import: this module is copied to devices with the
rest of :mod:`edgekit.device`, and also describes machines where NumPy cannot be assumed.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

#: The CPU flags that change what edge runtimes compute (as /proc/cpuinfo spells them).
FLAGS_THAT_MATTER = (
    "avx", "avx2", "fma", "f16c",
    "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
    "neon", "asimd", "asimdhp", "asimddp", "fphp", "i8mm", "bf16", "sve", "sve2", "sme",
)

#: Apple Silicon's sysctl feature names, mapped to the Linux ones above.
_DARWIN_FEATURES = {"hw.optional.neon": "asimd", "hw.optional.arm.FEAT_DotProd": "asimddp",
                    "hw.optional.arm.FEAT_I8MM": "i8mm", "hw.optional.arm.FEAT_BF16": "bf16",
                    "hw.optional.arm.FEAT_FP16": "asimdhp", "hw.optional.avx2_0": "avx2",
                    "hw.optional.avx512f": "avx512f"}

#: Arm CPU part numbers (``CPU part`` in /proc/cpuinfo, implementer 0x41 = Arm Ltd) for a
#: readable model name where the kernel gives none.
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55",
              "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
              "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1",
              "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
              "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
              "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2"}

_GPU_FIELDS = ("name", "memory.total", "compute_cap", "driver_version")


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model name and the flags that matter from a /proc/cpuinfo text (x86 ``flags``, Arm
    ``Features``), counting the processors it lists."""
    model = ""
    flags: set[str] = set()
    processors = 0
    part = implementer = board = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            processors += 1
        elif key in ("model name", "cpu model") and not model:
            model = value
        elif key in ("hardware", "model") and not board and value and not value.isdigit():
            board = value  # a Raspberry Pi's 'Model', an Android SoC's 'Hardware'
        elif key in ("flags", "features"):
            flags.update(value.split())
        elif key == "cpu part" and not part:
            part = value.lower()
        elif key == "cpu implementer" and not implementer:
            implementer = value.lower()
    if not model and implementer == "0x41" and part in _ARM_PARTS:
        model = f"Arm {_ARM_PARTS[part]}"
    elif not model and part:
        model = f"implementer {implementer or '?'} part {part}"
    out: dict[str, Any] = {"model": model or board, "logical_cpus": processors or None,
                           "flags": sorted(f for f in flags if f in FLAGS_THAT_MATTER)}
    if board:
        out["board"] = board
    return out


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _sysctl(name: str) -> str:
    if not shutil.which("sysctl"):
        return ""
    try:
        done = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu() -> dict[str, Any]:
    """This machine's CPU: /proc/cpuinfo on Linux (also Android and a Raspberry Pi), sysctl on
    macOS, ``platform.processor()`` elsewhere."""
    info = parse_cpuinfo(_read("/proc/cpuinfo"))
    if platform.system() == "Darwin":
        info["model"] = info["model"] or _sysctl("machdep.cpu.brand_string")
        info["flags"] = sorted(set(info["flags"]) | {flag for key, flag in _DARWIN_FEATURES.items()
                                                    if _sysctl(key) == "1"})
    if not info["model"]:
        info["model"] = platform.processor() or "unknown"
    info["logical_cpus"] = info["logical_cpus"] or os.cpu_count()
    return {"arch": platform.machine(), **info}


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """The GPUs in ``nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version
    --format=csv,noheader,nounits`` output."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(_GPU_FIELDS):
            continue
        name, memory, capability, driver = parts
        gpus.append({"name": name,
                     "memory_mib": int(memory) if memory.isdigit() else None,
                     "compute_capability": capability, "driver": driver})
    return gpus


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs as the driver reports them; empty without ``nvidia-smi`` (or a GPU)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        done = subprocess.run([smi, f"--query-gpu={','.join(_GPU_FIELDS)}",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True,
                              timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def detect() -> dict[str, Any]:
    """``{"cpu": {...}, "gpus": [...], "system": ...}``, for report.json and target results."""
    return {"system": platform.system(), "cpu": cpu(), "gpus": gpus()}


def machine_name(hw: dict[str, Any]) -> str:
    """The machine in a few words, e.g. ``Intel(R) Xeon(R) Processor (x86_64)``: what a report's
    ``target`` names."""
    c = hw.get("cpu", {})
    return f"{c.get('model') or 'unknown CPU'} ({c.get('arch', '?')})" + "".join(
        f" + {g['name']}" for g in hw.get("gpus", []))


def describe(hw: dict[str, Any]) -> str:
    """One line naming the machine, e.g. ``AMD EPYC 7B13 (x86_64; avx2, fma)``."""
    c = hw.get("cpu", {})
    text = f"{c.get('model') or 'unknown CPU'} ({c.get('arch', '?')}"
    text += f"; {', '.join(c['flags'])})" if c.get("flags") else ")"
    for g in hw.get("gpus", []):
        text += f" + {g['name']}"
    return text
