from __future__ import annotations

import subprocess
import sys

from conftest import run_cli


def test_help_and_listings_do_not_import_tensorflow() -> None:
    code = ("import sys; from typer.testing import CliRunner; from edgekit.cli import app; "
            "r = CliRunner(); "
            "assert r.invoke(app, ['--help']).exit_code == 0; "
            "out = r.invoke(app, ['recipes']).output; assert 'lenet5' in out, out; "
            "assert r.invoke(app, ['devices']).exit_code == 0; "
            "assert r.invoke(app, ['compress', 'lenet5', '--dry-run']).exit_code == 0; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_recipes_lists_family_and_dataset() -> None:
    res = run_cli("recipes")
    assert res.returncode == 0
    line = next(l for l in res.stdout.splitlines() if l.startswith("lenet5"))
    assert "cnn" in line and "sklearn_digits" in line


def test_devices_lists_the_local_cpu() -> None:
    res = run_cli("devices")
    assert res.returncode == 0 and any(l.startswith("cpu ") for l in res.stdout.splitlines())
