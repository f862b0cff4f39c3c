"""The installed package: one top-level import name, runnable from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("pitmirror-*.whl")
    return whl


def test_wheel_exposes_only_pitmirror(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"pitmirror", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                                                + ".dist-info"}
    for layer in ("spec", "model", "impl", "checkers", "examples"):
        assert f"pitmirror/{layer}/__init__.py" in names
    assert "pitmirror/py.typed" in names and "pitmirror/__main__.py" in names
    assert "pitmirror/checkers/reports/results.schema.json" in names  # the --json schema ships with the package
    assert not [n for n in names if n.startswith("pitmirror/tests") or "/helpers/" in n]


def test_installed_wheel_runs_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # importable names only: the console script lands in bin/
    assert sorted(p.name for p in target.iterdir() if p.name not in ("bin",) and not p.name.endswith(".dist-info")) \
        == ["pitmirror"]
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "model.py").write_text("raise SystemExit('a user module named model must not be imported')\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run([sys.executable, "-c", "import pitmirror, pitmirror.checkers.cli.main as m; "
                            "print(pitmirror.__file__); print(pitmirror.__version__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines()[0].startswith(str(target))
    r = subprocess.run([sys.executable, "-m", "pitmirror", "check", "--preset", "small", "--recovery", "swap",
                        "--quiet"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
