"""``edgekit deploy``: the folder it writes answers on its own, over SSH and under ARM64.

Real bundles (the target tests' LeNet-5 ``small_bundle`` and the BERT tests' tiny text
``bert_bundle``), real runtimes, the loopback sshd of conftest.py. "On its own" is checked two
ways: in the default suite, ``predict`` runs in an isolated interpreter (``python -I``) whose
imports of TensorFlow, pydantic, typer, yaml and any edgekit outside the folder are refused;
marked slow, in a fresh virtual environment holding only the folder's requirements.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli  # tests/conftest.py

from edgekit.deploy import deploy
from edgekit.device.heldout import open_arrays
from edgekit.device.runtimes import RUNTIMES
from edgekit.errors import EdgekitError
from edgekit.bundle_integrity import read_report, verify_bundle

from .sshd_helpers import free_port, write_ssh_device

HOST_ONLY = ("tensorflow", "tf_keras", "keras", "pydantic", "typer", "yaml", "torch",
             "transformers")

# Runs the folder's predict.py in this interpreter with the host-only libraries refused and
# checks, at exit, that every edgekit module came from the folder.
ISOLATED = """
import atexit, os, runpy, sys
from importlib.abc import MetaPathFinder
folder = os.path.realpath(sys.argv[1])
class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {host_only!r}:
            raise ImportError('refused on a device: ' + name)
        return None
sys.meta_path.insert(0, Refuse())
def where():
    bad = [m.__file__ for n, m in list(sys.modules.items())
           if n.split('.')[0] == 'edgekit' and not os.path.realpath(m.__file__).startswith(folder)]
    if bad:
        sys.stderr.write('edgekit imported from outside the folder: %s' % bad)
        os._exit(9)
atexit.register(where)
sys.argv = [os.path.join(folder, 'predict.py')] + sys.argv[2:]
sys.path.insert(0, folder)
runpy.run_path(sys.argv[0], run_name='__main__')
""".format(host_only=HOST_ONLY)


def isolated_predict(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``predict ARGS`` from ``folder`` in ``python -I -B`` (no PYTHONPATH, no user site, no
    bytecode written), run from another directory, with HOST_ONLY refused."""
    return subprocess.run([sys.executable, "-I", "-B", "-c", ISOLATED, str(folder), *args],
                          capture_output=True, text=True, cwd=folder.parent, input=stdin,
                          timeout=300)


def answers(proc: subprocess.CompletedProcess) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def host_labels(bundle: Path, artifact: str, runtime: str, x: np.ndarray) -> list[int]:
    session = RUNTIMES.get(runtime).load(bundle / artifact, 1)
    return [int(np.argmax(session.run({"image": x[i:i + 1]}))) for i in range(len(x))]


# ---- --out: the folder -----------------------------------------------------------------------

def test_out_folder_answers_on_its_own(small_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "lenet-pi"
    done = deploy(small_bundle, "rpi4", out=out)
    report = read_report(small_bundle)
    entry = done.choice.entry
    # the fastest passing artifact among those rpi4's runtimes (litert, onnxruntime) load
    loadable = [a for a in report["artifacts"] if a["passed"] and a["format"] in ("tflite", "onnx")]
    assert entry["file"] == min(loadable, key=lambda a: a["latency_ms"]["p50"])["file"]
    reqs = (out / "requirements.txt").read_text().split()
    package, version = entry["runtime_version"].split()
    assert f"{package}=={version}" in reqs and any(r.startswith("numpy==") for r in reqs)
    assert not any(r.startswith("tokenizers") for r in reqs)
    verify_bundle(out)  # manifest.json: sha256 of every file in the folder
    config = json.loads((out / "deploy.json").read_text())
    assert (out / config["artifact"]).is_file() and os.access(out / "predict", os.X_OK)
    assert (out / "edgekit" / "device" / "runner.py").is_file() and "rpi4" in (out / "README.md").read_text()

    x = np.array(open_arrays(small_bundle / "data" / "heldout")["x__image"][:5])
    np.save(tmp_path / "one.npy", x[0])
    np.save(tmp_path / "batch.npy", x)
    expected = host_labels(small_bundle, entry["file"], entry["runtime"], x)
    one = answers(isolated_predict(out, str(tmp_path / "one.npy")))
    batch = answers(isolated_predict(out, str(tmp_path / "batch.npy")))
    assert [a["label"] for a in one] == [str(expected[0])]
    assert [a["label"] for a in batch] == [str(e) for e in expected]
    assert sum(batch[0]["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    lines = "".join(json.dumps({"input": row.tolist()}) + "\n" for row in x[:3])
    assert [a["label"] for a in answers(isolated_predict(out, "--jsonl", stdin=lines))] \
        == [str(e) for e in expected[:3]]
    check = answers(isolated_predict(out, "--check"))[0]
    assert check["passed"] and check["hashes_ok"] and check["max_abs_diff_vs_host"] == 0.0
    verify_bundle(out)  # running it wrote nothing into the folder


def test_text_out_folder_answers_texts(bert_bundle: tuple[Path, dict], tmp_path: Path) -> None:
    from edgekit.device.text_classify import TextClassifier

    bundle = bert_bundle[0]
    out = tmp_path / "reviews"
    done = deploy(bundle, "rpi4", out=out)
    assert any(r.startswith("tokenizers==") for r in done.written.requirements)
    texts = [str(t) for t in np.load(bundle / "data" / "heldout" / "texts.npy")[:6]]
    host = TextClassifier(bundle, done.choice.file, 1, done.choice.runtime).predict(texts)
    got = answers(isolated_predict(out, *texts))
    assert [a["label"] for a in got] == [p.label for p in host]
    assert [a["probabilities"] for a in got] == [p.probabilities for p in host]
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts[:2])
    assert [a["label"] for a in answers(isolated_predict(out, "--jsonl", stdin=lines))] \
        == [p.label for p in host[:2]]
    assert answers(isolated_predict(out, "--check"))[0]["passed"]


def test_redeploy_replaces_a_deploy_folder_and_refuses_any_other(small_bundle: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "dist"
    deploy(small_bundle, "rpi4", out=out)
    onnx = next(a["file"] for a in read_report(small_bundle)["artifacts"] if a["format"] == "onnx")
    deploy(small_bundle, "rpi4", out=out, artifact=Path(onnx))
    assert json.loads((out / "deploy.json").read_text())["artifact"].endswith(".onnx")
    assert not list((out / "model").glob("*.tflite"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]  # no partial or old folder
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = run_cli("deploy", str(small_bundle), "--out", str(mine))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "mine" in proc.stderr and "--out" in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("case", ["missing bundle", "artifact not in bundle", "unknown target"])
def test_bad_input_is_one_line_exit_2_nothing_written(case: str, small_bundle: Path,
                                                      tmp_path: Path) -> None:
    stray = tmp_path / "stray.tflite"
    stray.write_bytes((small_bundle / "artifacts" / "tgt-final-fp32.tflite").read_bytes())
    args = {"missing bundle": [str(tmp_path / "nope")],
            "artifact not in bundle": [str(small_bundle), "--artifact", str(stray)],
            "unknown target": [str(small_bundle), "--target", "toaster"]}[case]
    out = tmp_path / "out" / "deep"
    proc = run_cli("deploy", *args, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert {"missing bundle": "nope", "artifact not in bundle": "stray.tflite",
            "unknown target": "toaster"}[case] in proc.stderr
    assert not (tmp_path / "out").exists()


def test_no_device_reachable_says_so_and_how_to_use_out(small_bundle: Path, sshd: dict,
                                                        tmp_path: Path) -> None:
    off = write_ssh_device(tmp_path, "pi-off", free_port(), sshd["key"], sshd["known_hosts"])
    proc = run_cli("deploy", str(small_bundle), "--target", str(off))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "no device reachable" in line and "--out" in line


def test_android_folder_holds_model_labels_and_kotlin_example(bert_bundle: tuple[Path, dict],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "phone"
    done = deploy(bert_bundle[0], "android", out=out)
    assert done.choice.entry["format"] == "tflite"
    config = json.loads((out / "deploy.json").read_text())
    assert (out / config["artifact"]).is_file()
    assert (out / "labels.txt").read_text().split() == ["rotten", "fresh"]
    assert (out / "vocab.txt").is_file() and "Interpreter" in (out / "Predict.kt").read_text()
    assert "EXAMPLE" in (out / "Predict.kt").read_text()
    verify_bundle(out)
    if shutil.which("adb") is None:
        assert any(line.startswith("skipped adb push") for line in done.lines)


# ---- over SSH --------------------------------------------------------------------------------

def test_deploy_over_ssh_checks_there_and_redeploys_atomically(small_bundle: Path, sshd: dict,
                                                               tmp_path: Path) -> None:
    from edgekit.devices import load_device
    from edgekit.targets import target_for

    pi_yaml = write_ssh_device(tmp_path, "pi-loopback", sshd["port"], sshd["key"], sshd["known_hosts"])
    dest = tmp_path / "device-home" / "models" / "digits"
    done = deploy(small_bundle, str(pi_yaml), dest=str(dest))
    assert done.passed and done.check["passed"] and done.check["hashes_ok"]
    assert done.check["examples"] == 8 and done.check["max_abs_diff_vs_host"] == 0.0
    assert any(line.startswith("call it: ssh -p") for line in done.lines)
    verify_bundle(dest)
    # call it there, as the printed line says
    pi = load_device(str(pi_yaml))
    x = np.array(open_arrays(small_bundle / "data" / "heldout")["x__image"][:2])
    np.save(dest.parent / "two.npy", x)
    out = target_for(pi).ssh(pi, f"{dest}/predict {dest.parent / 'two.npy'}", "predict")
    got = [json.loads(line)["label"] for line in out.splitlines() if line.startswith("{")]
    assert got == [str(e) for e in host_labels(small_bundle, done.choice.file,
                                                done.choice.entry["runtime"], x)]
    # a re-deploy replaces the folder whole: nothing partial or old left beside it
    onnx = next(a["file"] for a in read_report(small_bundle)["artifacts"] if a["format"] == "onnx")
    again = deploy(small_bundle, str(pi_yaml), dest=str(dest), artifact=Path(onnx))
    assert again.passed and json.loads((dest / "deploy.json").read_text())["runtime"] == "onnxruntime"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["digits", "two.npy"]
    # a folder that deploy did not write is never replaced
    (dest.parent / "mine").mkdir()
    with pytest.raises(EdgekitError, match="not a folder 'edgekit deploy' wrote"):
        deploy(small_bundle, str(pi_yaml), dest=str(dest.parent / "mine"))


def test_ssh_device_without_the_runtime_gets_the_pip_line(small_bundle: Path, sshd: dict,
                                                          tmp_path: Path) -> None:
    bare = "/usr/bin/python3"
    probe = subprocess.run([bare, "-c", "import numpy"], capture_output=True) if Path(bare).exists() else None
    if probe is None or probe.returncode == 0:
        pytest.skip("needs a Python without NumPy at /usr/bin/python3 (the device without runtime)")
    pi = write_ssh_device(tmp_path, "pi-bare", sshd["port"], sshd["key"], sshd["known_hosts"],
                          python=bare)
    proc = run_cli("deploy", str(small_bundle), "--target", str(pi), "--dest", str(tmp_path / "d"))
    assert proc.returncode == 3, proc.stderr
    assert (tmp_path / "d" / "deploy.json").is_file()  # in place, waiting for its runtime
    pinned = (tmp_path / "d" / "requirements.txt").read_text().split()
    assert "does not import" in proc.stdout and "numpy" in proc.stdout
    assert f"{bare} -m pip install {' '.join(pinned)}" in proc.stdout


# ---- elsewhere: ARM64 and a fresh virtual environment ------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_predict_under_arm64_gives_the_host_labels(fmt: str, small_bundle: Path,
                                                   tmp_path: Path) -> None:
    from edgekit.devices import load_device
    from edgekit.targets import arm64_emulated, arm64_root
    from edgekit.targets._proc import run_command

    absent = arm64_root.missing_tools()
    if absent or not arm64_root.is_ready():
        pytest.skip(f"ARM64 emulation needs {' '.join(absent) or 'the arm64 root'} "
                    "(edgekit targets setup arm64)")
    entry = next(a for a in read_report(small_bundle)["artifacts"]
                 if a["format"] == fmt and a["precision"] == "fp32")
    out = tmp_path / "arm"
    deploy(small_bundle, "arm64-emulated", out=out, artifact=Path(entry["file"]))
    x = np.array(open_arrays(small_bundle / "data" / "heldout")["x__image"][:6])
    np.save(out.parent / "x.npy", x)
    shutil.copy2(out.parent / "x.npy", out / "x.npy")  # inside the mounted folder
    device = load_device("arm64-emulated")
    cmd = arm64_emulated.command(device, arm64_root.root_dir(), out, ["-B", "predict.py", "x.npy"])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PROOT_NO_SECCOMP": "1"}
    proc = run_command(cmd, what="predict under arm64", timeout_s=600, env=env, check=False)
    got = [json.loads(line)["label"] for line in proc.stdout.splitlines() if line.startswith("{")]
    assert got == [str(e) for e in host_labels(small_bundle, entry["file"], entry["runtime"], x)], \
        proc.stdout + proc.stderr
    (out / "x.npy").unlink()
    check = run_command(arm64_emulated.command(device, arm64_root.root_dir(), out,
                                               ["-B", "predict.py", "--check"]),
                        what="predict --check under arm64", timeout_s=600, env=env, check=False)
    result = json.loads(check.stdout.strip().splitlines()[-1])
    assert result["machine"] == "aarch64" and result["passed"], result


@pytest.mark.slow
def test_out_folder_runs_in_a_fresh_venv_with_only_its_requirements(small_bundle: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "lenet"
    done = deploy(small_bundle, "rpi4", out=out)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(out / "requirements.txt")],
                         capture_output=True, text=True, timeout=900)
    if pip.returncode != 0 and "No matching distribution" not in pip.stderr:
        pytest.skip(f"pip could not install the requirements (offline?): {pip.stderr.strip()[-200:]}")
    assert pip.returncode == 0, pip.stderr
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                            text=True).stdout.lower()
    assert not any(name in listed for name in ("tensorflow", "pydantic", "edgekit", "typer"))
    x = np.array(open_arrays(small_bundle / "data" / "heldout")["x__image"][:4])
    np.save(tmp_path / "x.npy", x)
    env = {"PATH": os.environ["PATH"], "EDGEKIT_PYTHON": str(py), "HOME": str(tmp_path)}
    run = subprocess.run([str(out / "predict"), str(tmp_path / "x.npy")], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=300)
    assert [a["label"] for a in answers(run)] == [
        str(e) for e in host_labels(small_bundle, done.choice.file, done.choice.entry["runtime"], x)]
    check = subprocess.run([str(out / "predict"), "--check"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=300)
    assert json.loads(check.stdout)["passed"], check.stdout + check.stderr


def test_an_artifact_that_failed_on_the_device_is_not_chosen(small_bundle: Path,
                                                             tmp_path: Path) -> None:
    """``targets/<device>.json`` (edgekit validate there): a failure there removes the fastest
    candidate, and a pass there pins the runtime version the device ran."""
    from edgekit.deploy.choose import choose
    from edgekit.devices import load_device
    from edgekit.bundle_integrity import refresh_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(small_bundle, bundle)
    report = read_report(bundle)
    rpi4 = load_device("rpi4")
    fastest = choose(bundle, report, rpi4)
    others = [a for a in report["artifacts"] if a["passed"] and a["format"] in ("tflite", "onnx")
              and a["file"] != fastest.file]
    runner_up = min(others, key=lambda a: a["latency_ms"]["p50"])
    results = [{"file": fastest.file, "passed": False},
               {"file": runner_up["file"], "passed": True, "runtime": runner_up["runtime"],
                "runtime_version": f"{runner_up['runtime_version'].split()[0]} 0.0.1-on-the-pi"}]
    (bundle / "targets").mkdir(exist_ok=True)  # the shared bundle may hold other devices' runs
    (bundle / "targets" / "rpi4.json").write_text(json.dumps({"artifacts": results}))
    refresh_manifest(bundle, [bundle / "targets" / "rpi4.json"])
    chosen = choose(bundle, report, rpi4)
    assert chosen.file == runner_up["file"] and "1 failed on rpi4" in chosen.reason
    assert chosen.runtime_version.endswith("0.0.1-on-the-pi")


def test_home_relative_destinations() -> None:
    from edgekit.deploy.ssh import remote_path, shown

    assert remote_path("~/models/reviews") == "models/reviews"
    assert remote_path(str(Path.home() / "models" / "reviews")) == "models/reviews"  # shell-expanded ~
    assert remote_path("/opt/models") == "/opt/models"
    assert shown("models/x") == "~/models/x" and shown("/opt/x") == "/opt/x"


def test_deploy_does_not_import_tensorflow(small_bundle: Path, tmp_path: Path) -> None:
    """Deploying reads a bundle and runs one runtime: seconds, not TensorFlow's start-up."""
    code = ("import sys; from pathlib import Path; from edgekit.deploy import deploy; "
            f"deploy(Path({str(small_bundle)!r}), 'rpi4', out=Path({str(tmp_path / 'o')!r})); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
