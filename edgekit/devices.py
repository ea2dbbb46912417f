"""Device profiles: frozen data loaded from ``devices/*.yaml``.

Like NNCF's hardware setups, a device's capabilities are data, not code: adding a device means
adding one YAML file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from edgekit import catalog
from edgekit.errors import EdgekitError
from edgekit.yamlio import read_yaml_mapping, validate_model


class Peak(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    gflops: float | None = Field(None, gt=0, description="peak fp32 GFLOP/s")
    memory_bandwidth_gbs: float | None = Field(None, gt=0)
    source: str = Field("", description="where the peak figures come from")


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
    peak: Peak = Field(default_factory=Peak)


def load_device(name_or_path: str) -> DeviceProfile:
    path = catalog.resolve("devices", name_or_path)
    if path is None:
        raise EdgekitError(f"unknown device '{name_or_path}'", fix="use one of: "
                           f"{', '.join(catalog.builtin_names('devices'))} or a path to a YAML file")
    return validate_model(DeviceProfile, read_yaml_mapping(path), where=path)


def all_devices() -> list[tuple[Path, DeviceProfile]]:
    folder = catalog.catalog_dir("devices")
    return [(p, load_device(str(p))) for p in sorted(folder.glob("*.yaml"))]
