"""ONNX Runtime on an NVIDIA GPU: the CUDA execution provider, and TensorRT's when present.

Same adapter as the CPU one with another provider. ``missing()`` names what is absent: the GPU
build of the wheel (``onnxruntime-gpu``; the CPU wheel lists no CUDA provider) or the NVIDIA
driver (``libcuda.so.1``; without it ORT would silently fall back to the CPU). fp32 outputs on
Ampere and newer run convolutions and matmuls in TF32 by default: device profiles for GPUs set
``tolerance_scale`` accordingly.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from edgekit.runtimes import RUNTIMES, Session
from edgekit.runtimes.onnxruntime import ONNXRuntimeCPU


def _driver_missing() -> str | None:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1 cannot be loaded)"
    return None


def _preload_cuda_libraries() -> None:
    """Load CUDA/cuDNN from pip's nvidia-* wheels (or PyTorch's) when they are installed: the
    CUDA EP finds them only once loaded (measured with onnxruntime-gpu 1.31 on an H100)."""
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:  # system-wide CUDA needs no preload; a real gap fails at load()
            pass


class ONNXRuntimeCUDA(ONNXRuntimeCPU):
    name = "onnxruntime-cuda"
    provider = "CUDAExecutionProvider"

    def missing(self) -> str | None:
        reason = super().missing()
        if reason and "has no" in reason:
            return (f"onnxruntime has no {self.provider}: install onnxruntime-gpu (a CUDA 13 "
                    "build, in place of the CPU-only onnxruntime wheel) and the CUDA 13 / cuDNN 9 "
                    "libraries")
        return reason or _driver_missing()

    def providers(self) -> list[str]:
        return [self.provider, "CPUExecutionProvider"]

    def load(self, path: Path, threads: int) -> Session:
        _preload_cuda_libraries()
        session = super().load(path, threads)
        used = session._s.get_providers()  # type: ignore[attr-defined]
        if used[0] != self.provider:  # ORT falls back to CPU with only a warning: refuse that
            raise RuntimeError(f"{self.provider} did not load (session uses {used})")
        return session


class ONNXRuntimeTensorRT(ONNXRuntimeCUDA):
    name = "onnxruntime-tensorrt"
    provider = "TensorrtExecutionProvider"

    def providers(self) -> list[str]:
        return [self.provider, "CUDAExecutionProvider", "CPUExecutionProvider"]


RUNTIMES.register(ONNXRuntimeCUDA.name, ONNXRuntimeCUDA())
RUNTIMES.register(ONNXRuntimeTensorRT.name, ONNXRuntimeTensorRT())
