"""Fixtures for the target tests: a small real bundle, and a real OpenSSH server on loopback.

The sshd is Debian's ``openssh-server`` binary run as a foreground child on a free port of
127.0.0.1, with a throwaway host key and user key; the client checks the host key strictly
against a known_hosts file written here. Nothing but loopback is contacted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import LENET_MINIMAL  # tests/conftest.py (pytest puts tests/ on sys.path)

from .sshd_helpers import free_port, wait_listening

# main's minimal LeNet recipe, made a little sturdier and exported to every format.
SMALL_RECIPE = yaml.safe_load(LENET_MINIMAL) | {
    "name": "tgt",
    "train": {"epochs": 8},
    "export": [{"format": "tflite", "precision": "fp32"}, {"format": "tflite", "precision": "int8"},
               {"format": "onnx", "precision": "fp32"}, {"format": "openvino", "precision": "fp32"}],
    "budgets": {"max_metric_drop": 0.05, "min_agreement": 0.9},
    "validation": {"runs": 5, "warmup": 1, "max_examples": 120},
}


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle: LeNet-5 trained briefly, exported to TFLite fp32/int8, ONNX and OpenVINO."""
    from edgekit.pipeline import compress
    from edgekit.recipe.loader import load_recipe

    folder = tmp_path_factory.mktemp("tgt-bundle")
    recipe = folder / "tgt.yaml"
    recipe.write_text(yaml.safe_dump(SMALL_RECIPE))
    out = folder / "bundle"
    compress(load_recipe(str(recipe)), out)
    return out


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A running loopback sshd; yields paths of the client key, known_hosts and the port."""
    sshd_bin = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    missing = [n for n, p in (("sshd (apt-get install openssh-server)", sshd_bin),
                              ("ssh-keygen (apt-get install openssh-client)", shutil.which("ssh-keygen")),
                              ("ssh (apt-get install openssh-client)", shutil.which("ssh")))
               if p is None]
    if missing:
        pytest.skip(f"SSH target test needs {', '.join(missing)}")
    d = tmp_path_factory.mktemp("sshd")
    os.chmod(d, 0o700)
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {d / 'host_key'}
AuthorizedKeysFile {d / 'authorized_keys'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile {d / 'sshd.pid'}
Subsystem sftp internal-sftp
""")
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None  # privsep dir, root only
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc)
        host_pub = (d / "host_key.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        yield {"dir": d, "port": port, "key": d / "user_key", "known_hosts": d / "known_hosts"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
