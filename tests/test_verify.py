"""`edgekit verify`: every manifest entry checked, first mismatch named, escapes refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgekit.cli import app
from edgekit.bundle_integrity import write_manifest


def _bundle(root: Path) -> Path:
    b = root / "bundle"
    (b / "artifacts").mkdir(parents=True)
    (b / "artifacts" / "m.tflite").write_bytes(bytes(range(256)) * 4)
    (b / "report.json").write_text('{"passed": true}', encoding="utf-8")
    write_manifest(b)
    return b


def _verify(bundle: Path, *extra: str):
    return CliRunner().invoke(app, ["verify", str(bundle), *extra])


def _set_manifest_paths(bundle: Path, *paths: str) -> None:
    m = json.loads((bundle / "manifest.json").read_text())
    m["files"] = [{"path": p, "size_bytes": 1, "sha256": "0" * 64} for p in paths]
    (bundle / "manifest.json").write_text(json.dumps(m))


def _assert_one_line_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("error: "), res.output
    for n in needles:
        assert n in res.output, res.output


def test_intact_bundle_verifies(tmp_path: Path) -> None:
    res = _verify(_bundle(tmp_path))
    assert res.exit_code == 0, res.output
    assert "ok: 2 files, 1,040 bytes" in res.output


def test_flipped_byte_same_size_is_a_sha_mismatch(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    art = b / "artifacts" / "m.tflite"
    data = bytearray(art.read_bytes())
    data[100] ^= 0xFF
    art.write_bytes(bytes(data))
    _assert_one_line_error(_verify(b), "artifacts/m.tflite", "sha256 differs")


def test_truncated_file_is_a_size_mismatch(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    art = b / "artifacts" / "m.tflite"
    art.write_bytes(art.read_bytes()[:10])
    _assert_one_line_error(_verify(b), "artifacts/m.tflite", "size 10 B, manifest says 1024 B")


def test_missing_and_unlisted_files(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    (b / "report.json").unlink()
    _assert_one_line_error(_verify(b), "report.json", "missing")
    b2 = _bundle(tmp_path / "two")
    (b2 / "artifacts" / "extra.py").write_text("import os")
    _assert_one_line_error(_verify(b2), "artifacts/extra.py", "not listed")


def test_damaged_or_absent_manifest(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    (b / "manifest.json").write_text("{not json")
    _assert_one_line_error(_verify(b), "manifest.json", "not valid JSON")
    (b / "manifest.json").unlink()
    _assert_one_line_error(_verify(b), "no manifest.json")


@pytest.mark.parametrize("path, needle", [
    ("../outside.txt", "climbs out"),
    ("artifacts/../../outside.txt", "climbs out"),
    ("/etc/passwd", "absolute"),
    ("C:\\Windows\\win.ini", "absolute"),
    ("artifacts\\..\\..\\outside.txt", "climbs out"),
])
def test_manifest_paths_cannot_escape(tmp_path: Path, path: str, needle: str) -> None:
    b = _bundle(tmp_path)
    (tmp_path / "outside.txt").write_text("secret")
    _set_manifest_paths(b, "report.json", path)
    _assert_one_line_error(_verify(b), needle, "manifest.json")


def test_symlink_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", b / "artifacts" / "link.tflite")
    _set_manifest_paths(b, "artifacts/link.tflite")
    _assert_one_line_error(_verify(b), "symlink", "outside the bundle")
    os.symlink(tmp_path, b / "up")
    _set_manifest_paths(b, "up/outside.txt")
    _assert_one_line_error(_verify(b), "outside the bundle")


def test_real_bundle_verifies_and_loads_on_every_runtime(lenet_bundle: tuple[Path, dict]) -> None:
    out, report = lenet_bundle
    res = _verify(out, "--load")
    assert res.exit_code == 0, res.output
    assert f"ok: {len(report['artifacts'])} artifacts load and run" in res.output


def test_load_reports_a_bad_artifact_in_a_consistent_bundle(tmp_path: Path) -> None:
    """A bundle whose manifest matches but whose .tflite is a PNG: integrity passes, --load
    names the file in one line (loaded in a child process)."""
    import numpy as np

    from edgekit.device.runtimes import RUNTIMES

    if RUNTIMES.get("litert").missing():
        pytest.skip(f"litert missing: {RUNTIMES.get('litert').missing()}")
    b = tmp_path / "bundle"
    (b / "artifacts").mkdir(parents=True)
    (b / "data").mkdir()
    (b / "artifacts" / "m.tflite").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    np.savez(b / "data" / "heldout.npz", x__x=np.zeros((2, 4), np.float32), y=np.zeros(2))
    (b / "report.json").write_text(json.dumps({
        "artifacts": [{"file": "artifacts/m.tflite", "runtime": "litert"}],
        "dataset": {"heldout_file": "data/heldout.npz"}}))
    write_manifest(b)
    res = _verify(b, "--load")
    assert res.exit_code == 2, res.output
    assert res.output.splitlines()[0].startswith("ok: 3 files")
    assert "m.tflite" in res.output.splitlines()[1] and "PNG image" in res.output
