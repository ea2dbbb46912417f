"""The bad-input catalogue: hostile or careless input through the real CLI (issue 13).

Every case runs ``python -m edgekit ...`` in a subprocess and asserts what README's
"Runs that survive faults and bad input" promises:

* the exit code (2 for a user error),
* exactly one ``error:`` line on stderr, naming the file or field, and no traceback,
* nothing written, deleted or changed outside what the command may touch: a listing with the
  sha256 of every file under the case's folder is the same before and after.

Cases are small (a recipe that fails at load, a hand-made bundle, a 1 KB ONNX graph), so the
catalogue is fast; the few that need a trained bundle use the session ``lenet_bundle``, copied
before it is tampered with.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import LENET_MINIMAL, REPO, run_cli, write_recipe

from edgekit.bundle_integrity import write_manifest


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (hidden ones too): file → sha256, folder → 'dir',
    symlink → its target. Equal snapshots: nothing was written, deleted or changed."""
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_one_error(res: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Exit ``code``, one ``error:`` line containing every needle, no traceback. Commands
    other than compress print nothing else on stderr; compress may have printed progress."""
    assert res.returncode == code, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, res.stderr
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


# --- tiny real inputs -------------------------------------------------------------------------

def tiny_onnx(path: Path, external: tuple[str, int, int] | None = None) -> Path:
    """A real 4x4 MatMul ONNX model; ``external`` = (location, offset, length) moves its
    weight to external data at that (possibly hostile) place."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        t = model.graph.initializer[0]
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for key, value in zip(("location", "offset", "length"), map(str, external)):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def fake_bundle(folder: Path, report: dict | str) -> Path:
    """A bundle whose manifest vouches for a crafted report.json: what a hostile bundle from
    elsewhere looks like (verify passes; only the path checks stand in the way)."""
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "m.onnx").write_bytes(b"\x08" + bytes(63))
    (folder / "report.json").write_text(report if isinstance(report, str) else json.dumps(report))
    write_manifest(folder)
    return folder


def hostile_report(file: str) -> dict:
    return {"schema": "edgekit.report/1", "dataset": {"task": "classification",
                                                      "heldout_file": "data/heldout"},
            "artifacts": [{"file": file, "files": [file], "format": "onnx", "precision": "fp32",
                           "runtime": "onnxruntime"}]}


def csv_file(path: Path, labels: list[int]) -> Path:
    rng = np.random.default_rng(0)
    rows = [f"{rng.normal():.3f},{rng.normal():.3f},{y}" for y in labels]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    return path


# --- the catalogue ----------------------------------------------------------------------------

@dataclass
class Case:
    """``setup(tmp)`` builds the inputs under ``tmp`` and returns the CLI arguments."""

    setup: Callable[[Path], list[str]]
    needles: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


PERCEPTRON = ["compress", "perceptron", "--quick"]
WRONG_COLUMNS = b"a,b,target\n" + b"1,2,0\n3,4,1\n" * 10
CASES: dict[str, Case] = {
    # A: names that become file names
    "A recipe name climbs out": Case(
        lambda t: [*PERCEPTRON, "--set", "name=../../escape", "--out", str(t / "x/a/b/c/out")],
        ("field 'name'", "../../escape")),
    "A recipe name is absolute": Case(
        lambda t: [*PERCEPTRON, "--set", "name=/tmp/escape", "--out", str(t / "out")],
        ("field 'name'",)),
    "A export name climbs out": Case(
        lambda t: [*PERCEPTRON, "--set", "export=[{format: tflite, name: ../evil}]",
                   "--out", str(t / "out")], ("export", "name")),
    # C: validate must not load files a report.json points outside the bundle
    "C artifact file climbs out": Case(
        lambda t: ["validate", str(fake_bundle(t / "b", hostile_report("../../outside/evil.onnx")))],
        ("report.json", "../../outside/evil.onnx", "climbs out")),
    "C artifact file is absolute": Case(
        lambda t: ["validate", str(fake_bundle(t / "b", hostile_report(str(t / "evil.onnx"))))],
        ("report.json", "absolute")),
    # D: a stray report.json does not make a user's folder replaceable
    "D foreign report.json next to user files": Case(
        lambda t: _users_folder(t), ("output folder exists", "users-folder", "no manifest.json")),
    # E: untrusted model files are parsed only behind the guard, and named
    **{f"E profile {name}": Case(lambda t, m=make: ["profile", str(m(t)), "--target", "cpu"],
                                 needles)
       for name, make, needles in [
           ("empty tflite", lambda t: _write(t / "m.tflite", b""), ("m.tflite", "empty")),
           ("random tflite", lambda t: _write(t / "m.tflite", os.urandom(4096)), ("m.tflite",)),
           ("truncated tflite", lambda t: _write(t / "m.tflite", b"1234TFL3" + bytes(8)),
            ("m.tflite", "cannot read the graph")),
           ("png as onnx", lambda t: _write(t / "m.onnx", b"\x89PNG\r\n\x1a\n" + bytes(56)),
            ("m.onnx", "PNG")),
           ("zip as onnx", lambda t: _write(t / "m.onnx", b"PK\x03\x04" + bytes(60)),
            ("m.onnx", "zip")),
           ("truncated onnx", lambda t: _write(t / "m.onnx", tiny_onnx(t / "x.onnx").read_bytes()[:40]),
            ("m.onnx",)),
           ("onnx external data at /etc/passwd",
            lambda t: tiny_onnx(t / "m.onnx", ("../../../../etc/passwd", 0, 64)),
            ("m.onnx", "external data", "climbs out")),
           ("onnx oversized external tensor",
            lambda t: (_write(t / "w.bin", bytes(64)), tiny_onnx(t / "m.onnx", ("w.bin", 0, 1 << 40)))[1],
            ("m.onnx", "runs past the end")),
       ]},
    # F: --set values that are not YAML (or are YAML tags) are user errors
    "F unclosed list": Case(lambda t: [*PERCEPTRON, "--set", "train.epochs=[1,", "--dry-run"],
                            ("--set train.epochs", "not valid YAML")),
    "F tab in value": Case(lambda t: [*PERCEPTRON, "--set", "train.epochs=1\t2", "--dry-run"],
                           ("--set train.epochs", "not valid YAML")),
    "F python tag": Case(
        lambda t: [*PERCEPTRON, "--set", f"name=!!python/object/apply:os.system ['touch {t}/pwned']",
                   "--dry-run"], ("--set name", "python/object/apply")),
    # G: data a classifier cannot learn or be judged on
    "G one-class csv": Case(
        lambda t: [*PERCEPTRON, "--set", "data.dataset=csv", "--set",
                   f"data.params={{path: {csv_file(t / 'one.csv', [1] * 60)}}}",
                   "--out", str(t / "out")], ("one.csv", "1 class", "class 1: ")),
    "G held-out split lacks a class": Case(
        lambda t: [*PERCEPTRON, "--set", "data.dataset=csv", "--set",
                   f"data.params={{path: {csv_file(t / 'gap.csv', [0, 2] * 30)}}}",
                   "--set", "data.test_fraction=0.2", "--set", "data.val_fraction=0",
                   "--out", str(t / "out")], ("gap.csv", "no example of class 1")),
    # H: output that cannot be written, refused before training
    "H out under a file": Case(
        lambda t: [*PERCEPTRON, "--out", str(_write(t / "file", b"x") / "out")],
        ("file",)),
    # I: each its own user error
    "I symlink loop in manifest": Case(lambda t: ["verify", str(_symlink_loop_bundle(t))],
                                       ("loop",)),
    "I report.json not JSON": Case(lambda t: ["validate", str(fake_bundle(t / "b", "{not json"))],
                                   ("report.json", "not valid JSON")),
    "I profile --inputs not an npz": Case(
        lambda t: ["profile", str(tiny_onnx(t / "m.onnx")), "--inputs",
                   str(_write(t / "in.npz", b"hello")), "--runs", "1"], ("in.npz", "not an .npz")),
    "I profile --out a folder": Case(
        lambda t: ["profile", str(tiny_onnx(t / "m.onnx")), "--out", str(_mkdir(t / "o"))],
        ("--out is a folder",)),
    "I profile --out under a file (the OS refuses it)": Case(
        lambda t: ["profile", str(tiny_onnx(t / "m.onnx")), "--inputs", str(_inputs(t)),
                   "--runs", "1", "--warmup", "0", "--out", str(_write(t / "f", b"x") / "p.json")],
        ("f", "check the path")),
    # J: a run that proves nothing is refused at recipe load
    "J no exports": Case(lambda t: [*PERCEPTRON, "--set", "export=[]", "--out", str(t / "out")],
                         ("field 'export'", "at least 1")),
    # K: refusals create no parent folders
    "K not enough disk": Case(lambda t: [*PERCEPTRON, "--out", str(t / "x/y/out")],
                              ("not enough disk",), env={"EDGEKIT_FREE_DISK_BYTES": "1000"}),
    "K missing csv": Case(
        lambda t: [*PERCEPTRON, "--set", "data.dataset=csv", "--set",
                   f"data.params={{path: {t / 'nope.csv'}}}", "--out", str(t / "x/y/out")],
        ("nope.csv",)),
    # missing or malformed files a recipe names
    "missing data file": Case(
        lambda t: _recipe(t, builder="lenet5", model_params="{}", dataset="csv",
                          data_params="{path: /nonexistent/table.csv}"),
        ("/nonexistent/table.csv", "data file not found")),
    "missing model file": Case(
        lambda t: _recipe(t, builder="keras_file", model_params="{path: missing.keras}",
                          dataset="sklearn_digits", data_params="{}"),
        ("missing.keras", "model file not found")),
    "csv with wrong columns": Case(
        lambda t: _recipe(t, builder="lenet5", model_params="{}", dataset="csv",
                          data_params=f"{{path: {_write(t / 't.csv', WRONG_COLUMNS)}}}"),
        ("no column 'label'", "t.csv")),
    # option errors: one line, not typer's usage box
    "profile --runs 0": Case(lambda t: ["profile", "m.onnx", "--runs", "0"], ("--runs",)),
    "profile --batch 0": Case(lambda t: ["profile", "m.onnx", "--batch", "0"], ("--batch",)),
}


RECIPE = """\
name: broken-input
family: cnn
model: {{builder: {builder}, params: {model_params}}}
data: {{dataset: {dataset}, params: {data_params}}}
train: {{epochs: 1}}
export: [{{format: tflite, precision: fp32}}]
"""


def _recipe(t: Path, **fields: str) -> list[str]:
    recipe = write_recipe(t / "r.yaml", RECIPE.format(**fields))
    return ["compress", str(recipe), "--out", str(t / "bundle")]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _inputs(t: Path) -> Path:
    np.savez(t / "in.npz", x__x=np.ones((4, 4), np.float32))
    return t / "in.npz"


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _users_folder(t: Path) -> list[str]:
    d = t / "users-folder"
    (d / "code").mkdir(parents=True)
    (d / "report.json").write_text('{"mine": true}')
    (d / "thesis.txt").write_text("four years of work")
    (d / "code" / "main.py").write_text("print('hi')")
    return [*PERCEPTRON, "--out", str(d)]


def _symlink_loop_bundle(t: Path) -> Path:
    b = t / "b"
    b.mkdir()
    (b / "report.json").write_text("{}")
    write_manifest(b)
    os.symlink("loop", b / "loop")
    m = json.loads((b / "manifest.json").read_text())
    m["files"].append({"path": "loop", "size_bytes": 1, "sha256": "0" * 64})
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    work = tmp_path / "case"
    work.mkdir()
    args = case.setup(work)
    before = snapshot(tmp_path)
    res = _cli(args, case.env, cwd=work)
    assert_one_error(res, case.code, *case.needles)
    if not args[0] == "compress":  # nothing but the error line
        assert res.stderr.count("\n") == 1, res.stderr
    assert snapshot(tmp_path) == before, "the refused command wrote, deleted or changed files"


# --- cases that need a trained bundle or a second process -------------------------------------

def _copy(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest, symlinks=True)
    return dest


def test_B_validate_and_profile_refuse_a_tampered_bundle_and_launder_nothing(
        tmp_path: Path, lenet_bundle: tuple[Path, dict]) -> None:
    b = _copy(lenet_bundle[0], tmp_path / "b")
    art = b / lenet_bundle[1]["artifacts"][0]["file"]
    data = bytearray(art.read_bytes())
    data[len(data) // 2] ^= 0xFF
    art.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    res = _cli(["validate", str(b), "--target", "cpu"], {}, tmp_path)
    assert_one_error(res, 2, art.name, "sha256 differs")
    assert snapshot(tmp_path) == before  # manifest.json not rewritten with the tampered hash
    assert_one_error(_cli(["verify", str(b)], {}, tmp_path), 2, art.name)

    c = _copy(lenet_bundle[0], tmp_path / "c")
    (c / "evil.txt").write_text("planted")
    before = snapshot(tmp_path)
    res = _cli(["profile", str(c / lenet_bundle[1]["artifacts"][0]["file"]), "--runs", "2"],
               {}, tmp_path)
    assert_one_error(res, 2, "evil.txt", "not listed")
    assert snapshot(tmp_path) == before
    assert_one_error(_cli(["verify", str(c)], {}, tmp_path), 2, "evil.txt")


def test_B_validate_refreshes_only_the_files_it_wrote(tmp_path: Path,
                                                      lenet_bundle: tuple[Path, dict]) -> None:
    """A clean validate leaves a bundle that verifies, with exactly its own new files added."""
    b = _copy(lenet_bundle[0], tmp_path / "b")
    listed = {e["path"] for e in json.loads((b / "manifest.json").read_text())["files"]}
    res = _cli(["validate", str(b), "--target", "cpu"], {}, tmp_path)
    assert res.returncode in (0, 3), res.stderr
    after = {e["path"] for e in json.loads((b / "manifest.json").read_text())["files"]}
    assert after - listed == {"targets/cpu.json"}
    assert _cli(["verify", str(b)], {}, tmp_path).returncode == 0


def test_refresh_manifest_never_adopts_unlisted_files(tmp_path: Path) -> None:
    from edgekit.bundle_integrity import refresh_manifest, verify_bundle

    b = fake_bundle(tmp_path / "b", {"artifacts": []})
    (b / "planted.txt").write_text("x")
    (b / "targets").mkdir()
    (b / "targets" / "cpu.json").write_text("{}")
    refresh_manifest(b, [b / "targets" / "cpu.json"])
    paths = [e["path"] for e in json.loads((b / "manifest.json").read_text())["files"]]
    assert "targets/cpu.json" in paths and "planted.txt" not in paths
    with pytest.raises(Exception, match="planted.txt"):
        verify_bundle(b)


def test_D_a_bundle_with_a_user_file_added_is_not_replaced(tmp_path: Path) -> None:
    b = fake_bundle(tmp_path / "out", {"artifacts": []})
    (b / "notes.md").write_text("my notes")
    before = snapshot(tmp_path)
    res = _cli([*PERCEPTRON, "--out", str(b)], {}, tmp_path)
    assert_one_error(res, 2, str(b), "notes.md")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["parent", "out"])
def test_H_unwritable_output_is_refused_before_training(tmp_path: Path, which: str) -> None:
    """Read-only (as root: immutable) parent or --out folder: one line, before any work."""
    parent = tmp_path / "p"
    out = parent / "out"
    out.mkdir(parents=True)
    locked = parent if which == "parent" else out
    if which == "parent":
        out.rmdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode:
            pytest.skip("running as root and chattr +i is unavailable: cannot make a folder "
                        "unwritable")
    else:
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        before = snapshot(tmp_path)
        res = _cli([*PERCEPTRON, "--out", str(out)], {}, tmp_path)
        assert_one_error(res, 2, str(locked), "not writable")
        assert "train" not in res.stderr  # refused before the data was even loaded
        assert snapshot(tmp_path) == before
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=False)
        else:
            locked.chmod(stat.S_IRWXU)


def test_second_run_into_the_same_out_is_locked_out(tmp_path: Path) -> None:
    from edgekit.outdir import bundle_folder

    out = tmp_path / "out"
    with bundle_folder(out):  # a run in progress (this process holds the lock)
        before = snapshot(tmp_path)
        res = _cli([*PERCEPTRON, "--out", str(out)], {}, tmp_path)
        assert_one_error(res, 2, str(out), "another edgekit run")
        assert snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # temp folder and lock are gone


def test_A_pipeline_checks_every_destination_is_inside_the_bundle(tmp_path: Path) -> None:
    """Past the recipe check, the writer's own check: a name with '..' cannot leave the
    bundle even if a Recipe object is built without the loader."""
    from edgekit.errors import EdgekitError
    from edgekit.paths import check_name, inside

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for bad in ("../x", "/etc/passwd", "artifacts/../../x", "C:\\x", "a\\..\\..\\x"):
        with pytest.raises(EdgekitError):
            inside(bundle, bad)
    os.symlink(tmp_path, bundle / "up")
    with pytest.raises(EdgekitError, match="symlink"):
        inside(bundle, "up/x")
    for bad in ("..", "../../escape", "a/b", "", ".hidden", "x" * 101, "a\\b"):
        with pytest.raises(EdgekitError):
            check_name(bad, "name")
    assert inside(bundle, "artifacts/m.tflite") == bundle / "artifacts" / "m.tflite"


def test_I_pickle_the_safe_loader_refuses_is_a_user_error(tmp_path: Path) -> None:
    """allow_pickle: true lets torch's weights_only loader read the file; an object it
    refuses is named in one line and never executed."""
    pytest.importorskip("torch")
    import pickle

    from test_bad_model_files import _Boom, _bert_folder, _build_bert

    from edgekit.errors import EdgekitError

    folder = _bert_folder(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Boom(marker)}))
    with pytest.raises(EdgekitError) as info:
        _build_bert(folder, allow_pickle=True)
    assert "pytorch_model.bin" in str(info.value) and "safe" in str(info.value)
    assert "\n" not in str(info.value) and not marker.exists()


def test_minimal_recipe_still_runs(tmp_path: Path) -> None:
    """The guards refuse bad input only: a good tiny recipe into a new nested --out works,
    and a rerun replaces the bundle it wrote."""
    recipe = write_recipe(tmp_path / "r.yaml", LENET_MINIMAL)
    out = tmp_path / "a" / "b" / "out"
    for _ in range(2):
        res = run_cli("compress", str(recipe), "--out", str(out))
        assert res.returncode == 0, res.stderr[-2000:]
        assert _cli(["verify", str(out)], {}, tmp_path).returncode == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [".out.run", "out"]


def test_G_one_class_text_file_is_refused_before_distilbert_trains(tmp_path: Path) -> None:
    """The issue's second G case: distilbert on a one-class text file."""
    from edgekit.errors import EdgekitError
    from edgekit.pipeline import load_data
    from edgekit.recipe import load_recipe

    def data_from(labels: list[int]):
        tsv = tmp_path / f"{len(set(labels))}.tsv"
        tsv.write_text("sentence\tlabel\n" + "".join(f"review number {i} was fine\t{y}\n"
                                                     for i, y in enumerate(labels)))
        recipe = load_recipe("distilbert", quick=True, overrides={
            "data.dataset": "text_file", "data.params": {"path": str(tsv)}})
        return tsv, lambda: load_data(recipe)

    _, two = data_from([0, 1] * 30)
    try:
        two()
    except EdgekitError as exc:  # e.g. the tokenizer's files are not installed here
        pytest.skip(f"a two-class text file does not load here either: {exc}")
    one, load = data_from([1] * 60)
    with pytest.raises(EdgekitError) as info:
        load()
    assert str(one) in str(info.value) and "1 class" in str(info.value)
