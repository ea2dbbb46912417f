"""Helpers for the loopback-sshd fixture (a uniquely named module: test files import it)."""

from __future__ import annotations

import getpass
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("sshd did not start listening")


def write_ssh_device(folder: Path, name: str, port: int, key: Path, known_hosts: Path,
                     python: str = sys.executable) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"""\
name: {name}
description: loopback sshd standing in for a Raspberry Pi
connection: ssh://{getpass.getuser()}@127.0.0.1:{port}
arch: x86_64
threads: 1
runtimes: [litert, onnxruntime]
remote:
  python: {python}
  workdir: {folder / 'remote-work'}
  identity_file: {key}
  known_hosts: {known_hosts}
  connect_timeout_s: 5
  timeout_s: 120
peak: {{gflops: 128, memory_bandwidth_gbs: 23.6}}
""")
    return path
