"""ONNX Runtime on an NVIDIA GPU: the CUDA execution provider, and TensorRT's when present.

Same adapter as the CPU one with another provider. ``missing()`` names what is absent: the GPU
build of the wheel (``onnxruntime-gpu``; the CPU wheel lists no CUDA provider), the NVIDIA
driver (``libcuda.so.1``; without it ORT would silently fall back to the CPU) or, for TensorRT,
its libraries. fp32 outputs on Ampere and newer run convolutions and matmuls in TF32 by default:
device profiles for GPUs set ``tolerance_scale`` accordingly.

``cuda_graphs`` (a device-profile option, ``devices/gpu-nvidia.yaml``): capture the whole
graph once per input shape and replay it, with inputs and output bound to fixed GPU buffers
(:class:`~edgekit.device.runtimes.onnxruntime.BoundSession`). At batch 1 a small model on a big
GPU is bound by kernel launches, not compute: on an H100 the fused TinyBERT student went from
1.0 ms to 0.25 ms (medians of 300 runs). ONNX Runtime refuses graphs when any compute node is
not on the CUDA EP; the session then runs without them and says so in the run's record.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
from pathlib import Path

from edgekit.device.runtimes import RUNTIMES, Session
from edgekit.device.runtimes.onnxruntime import (BoundSession, ONNXRuntimeCPU, ORTSession,
                                                 Provider, flag)



def _driver_missing() -> str | None:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1 cannot be loaded)"
    return None


def tensorrt_missing() -> str | None:
    """None when the TensorRT libraries can be found (pip's ``tensorrt`` wheels or a system
    install), else what to install."""
    if importlib.util.find_spec("tensorrt_libs") or importlib.util.find_spec("tensorrt"):
        return None
    if ctypes.util.find_library("nvinfer"):
        return None
    return ("the TensorRT libraries (libnvinfer) are not installed: `pip install tensorrt-cu13` "
            "for a CUDA 13 onnxruntime-gpu (`tensorrt-cu12` for CUDA 12), or NVIDIA's TensorRT "
            "packages, at the TensorRT version onnxruntime-gpu was built against (ONNX Runtime's "
            "TensorRT EP requirements table)")


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
    options = frozenset({"cuda_graphs"})

    def missing(self) -> str | None:
        reason = super().missing()
        if reason and "has no" in reason:
            return (f"onnxruntime has no {self.provider}: install onnxruntime-gpu (a CUDA 13 "
                    "build, in place of the CPU-only onnxruntime wheel) and the CUDA 13 / cuDNN 9 "
                    "libraries")
        return reason or _driver_missing()

    def providers(self, cuda_graphs: bool = False) -> list[Provider]:
        cuda: Provider = ("CUDAExecutionProvider", {"enable_cuda_graph": "1"}) if cuda_graphs \
            else "CUDAExecutionProvider"
        return [cuda, "CPUExecutionProvider"]

    def not_loaded(self, used: list[str]) -> str:
        """Why the session is not on this provider, for the error."""
        return f"{self.provider} did not load (session uses {used})"

    def load(self, path: Path, threads: int, cuda_graphs: object = False) -> Session:
        _preload_cuda_libraries()
        if flag(cuda_graphs):
            try:
                session = self._checked(path, threads, self.providers(cuda_graphs=True))
            except Exception as exc:  # e.g. nodes on the CPU EP: ORT refuses graphs
                session = self._checked(path, threads, self.providers())
                first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                session.notes["cuda_graphs"] = f"off: ONNX Runtime refused them ({first[:200]})"
                return session
            bound = BoundSession(session._s, path, session._providers, device="cuda")
            bound.notes["cuda_graphs"] = "on (I/O binding, one graph per input shape)"
            return bound
        return self._checked(path, threads, self.providers())

    def _checked(self, path: Path, threads: int, providers: list[Provider]) -> ORTSession:
        session = self.open(path, threads, providers)
        used = session._s.get_providers()  # type: ignore[attr-defined]
        if used[0] != self.provider:  # ORT falls back to CPU with only a warning: refuse that
            raise RuntimeError(self.not_loaded(used))
        return session


class ONNXRuntimeTensorRT(ONNXRuntimeCUDA):
    name = "onnxruntime-tensorrt"
    provider = "TensorrtExecutionProvider"
    options = frozenset()

    def missing(self) -> str | None:
        reason = super().missing()
        return reason or (f"{self.provider} is listed but cannot load: {tensorrt_missing()}"
                          if tensorrt_missing() else None)

    def providers(self, cuda_graphs: bool = False) -> list[Provider]:
        return [self.provider, "CUDAExecutionProvider", "CPUExecutionProvider"]

    def not_loaded(self, used: list[str]) -> str:
        gap = tensorrt_missing()
        cause = gap or ("its libraries are present, so check that their version matches the "
                        "TensorRT onnxruntime-gpu was built against")
        return f"{self.provider} did not load (session uses {used}): {cause}"


RUNTIMES.register(ONNXRuntimeCUDA.name, ONNXRuntimeCUDA())
RUNTIMES.register(ONNXRuntimeTensorRT.name, ONNXRuntimeTensorRT())
