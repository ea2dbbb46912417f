"""Device profiles: frozen data loaded from ``devices/*.yaml``.

Like NNCF's hardware setups, a device's capabilities are data, not code: adding a device means
adding one YAML file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from edgekit import catalog
from edgekit.errors import EdgekitError
from edgekit.yamlio import read_yaml_mapping, validate_model


class Peak(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    gflops: float | None = Field(None, gt=0, description="peak fp32 GFLOP/s")
    memory_bandwidth_gbs: float | None = Field(None, gt=0)
    source: str = Field("", description="where the peak figures come from")
    op_overhead_us: float | None = Field(
        None, ge=0, description="fixed cost per graph op for latency estimates (calibrated on "
        "the measured CPU; see docs/targets.md)")


class Remote(BaseModel):
    """How to reach and use a remote target (ssh / adb); ignored for local ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    python: str = "python3"
    workdir: str = Field("/tmp/edgekit", description="scratch folder on the device")
    identity_file: str | None = None
    known_hosts: str | None = Field(None, description="default: ssh's own (~/.ssh/known_hosts)")
    strict_host_key_checking: bool = True
    connect_timeout_s: PositiveInt = 10
    timeout_s: PositiveFloat = 600  # float: validate --timeout-s may ask for less than a second
    benchmark_model: str = Field("/data/local/tmp/benchmark_model",
                                 description="LiteRT benchmark_model binary on an Android device")


class DeviceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    connection: str = Field("local", description="local | ssh://user@host[:port] | adb[:serial]")
    arch: str = "x86_64"
    cpu: str = ""
    accelerator: str | None = None
    cores: PositiveInt = 1
    memory_gb: float | None = None
    threads: PositiveInt = 1
    runtimes: tuple[str, ...] = ("litert", "onnxruntime", "openvino")
    delegates: tuple[str, ...] = Field((), description="LiteRT delegates, e.g. xnnpack, gpu")
    execution_providers: tuple[str, ...] = Field((), description="ONNX Runtime EPs in order")
    emulation: str | None = Field(None, description="set when runs are emulated: their "
                                  "timings are never reported as device timings")
    cuda_graphs: bool = Field(False, description="ONNX Runtime CUDA EP: capture each input "
                              "shape's graph once and replay it, inputs/outputs bound to fixed "
                              "GPU buffers (cuts kernel-launch overhead at small batches)")
    thread_spinning: bool = Field(True, description="ONNX Runtime CPU EP: idle intra-op "
                                  "threads spin for work (its default). Off under emulation: "
                                  "there a spinning thread burns a host core emulating the wait "
                                  "loop, and validation wants outputs, not timings")
    tolerance_scale: float = Field(1.0, ge=1.0, description="multiplies the family's conversion "
                                   "tolerance (e.g. TF32 matmuls on NVIDIA GPUs)")
    peak: Peak = Field(default_factory=Peak)
    remote: Remote = Field(default_factory=Remote)

    def runtime_options(self, accepted: frozenset[str]) -> tuple[tuple[str, str], ...]:
        """This profile's load options for a runtime that ``accepted`` them (as strings, the
        way they reach the runner)."""
        chosen = {"cuda_graphs": "1" if self.cuda_graphs else "",
                  "spinning": "" if self.thread_spinning else "0"}
        return tuple((k, v) for k, v in chosen.items() if v and k in accepted)

    @property
    def scheme(self) -> str:
        """The connection's kind ('local', 'ssh', 'adb', 'qemu-aarch64'): selects the Target."""
        return self.connection.split("://", 1)[0].split(":", 1)[0]


def load_device(name_or_path: str) -> DeviceProfile:
    path = catalog.resolve("devices", name_or_path)
    if path is None:
        raise EdgekitError(f"unknown device '{name_or_path}'", fix="use one of: "
                           f"{', '.join(catalog.builtin_names('devices'))} or a path to a YAML file")
    return validate_model(DeviceProfile, read_yaml_mapping(path), where=path)


def all_devices() -> list[tuple[Path, DeviceProfile]]:
    folder = catalog.catalog_dir("devices")
    return [(p, load_device(str(p))) for p in sorted(folder.glob("*.yaml"))]
