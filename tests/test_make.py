"""The Makefile on a machine that is not ours: no python3.11 on PATH, a uv-managed Python,
a TORCH value it does not know. Each runs `make` on a copy of the project's build files in a
temporary folder, so nothing here can touch the real environments."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_FILES = ("Makefile", "pyproject.toml", "requirements.txt", "requirements-fastai2.txt",
               "requirements-cpu.txt", "requirements-fastai2-cpu.txt")
GET_PYTHON = ("get it with uv (uv python install 3.11), your system's package manager (apt install "
              "python3.11, brew install python@3.11), or conda (conda env create -f environment.yml), "
              "or name one: make PYTHON=/path/to/python3.11")
ONE_LINE = re.compile(r"Makefile:\d+: \*\*\* (.*)\.  Stop\.")


# The interpreter running the tests (the project's venv, so 3.11), not a PATH shim.
PYTHON311 = os.path.realpath(sys.executable)


@pytest.fixture
def project(tmp_path):
    for name in BUILD_FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def bare_path(tmp_path_factory):
    """A PATH with make and nothing else: no python3.11, no uv."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "make").symlink_to(shutil.which("make"))
    return bin_dir


def make(project, bin_dir, *args):
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60, executable=shutil.which("make"))


def test_without_python311_make_stops_at_once_with_one_line(project, bare_path):
    result = make(project, bare_path, "setup")
    assert result.returncode != 0
    line, = result.stderr.strip().splitlines()
    assert ONE_LINE.fullmatch(line)[1] == f"Python 3.11 is needed but python3.11 is not on PATH; {GET_PYTHON}"
    assert result.stdout == ""
    assert not (project / ".venv").exists() and not (project / ".venv-fastai2").exists()


def test_a_python_that_is_not_311_is_refused(project, bare_path):
    result = make(project, bare_path, "setup", "PYTHON=/bin/true")
    assert result.returncode != 0
    line, = result.stderr.strip().splitlines()
    assert ONE_LINE.fullmatch(line)[1] == f"/bin/true is not Python 3.11; {GET_PYTHON}"
    assert not (project / ".venv").exists()


def python_stub(bin_dir, version):
    """A 'python' that answers every question with VERSION, the way Python says its version."""
    stub = bin_dir / f"python{version}"
    stub.write_text(f"#!/bin/sh\necho {version}\n")
    stub.chmod(0o755)
    return stub


def test_a_python_older_than_the_floor_is_refused(project, bare_path):
    floor = re.search(r"^PYTHON_FLOOR := (3\.11\.(\d+))$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert floor and int(floor[2]) > 0, "PYTHON_FLOOR is a Python 3.11 newer than 3.11.0"
    older = f"3.11.{int(floor[2]) - 1}"
    stub = python_stub(bare_path, older)
    result = make(project, bare_path, "setup", f"PYTHON={stub}")
    assert result.returncode != 0
    line, = result.stderr.strip().splitlines()
    assert ONE_LINE.fullmatch(line)[1] == (f"{stub} is Python {older}, older than {floor[1]}, the oldest the "
                                           f"locks install on; {GET_PYTHON}")
    assert result.stdout == ""
    assert not (project / ".venv").exists()
    # The floor itself, and a newer 3.11, pass the check.
    for version in (floor[1], f"3.11.{int(floor[2]) + 10}"):
        stub = python_stub(bare_path, version)
        result = make(project, bare_path, "-n", "setup", f"PYTHON={stub}")
        assert result.returncode == 0, result.stderr
        assert f"{stub} -m venv .venv\n" in result.stdout


def test_uv_managed_python_is_used_when_python311_is_missing(project, bare_path, tmp_path):
    python311 = PYTHON311
    uv = bare_path / "uv"
    uv.write_text(f'#!/bin/sh\n[ "$1 $2 $3" = "python find 3.11" ] && echo {python311}\n')
    uv.chmod(0o755)
    try:
        result = make(project, bare_path, "-n", "setup")
    finally:
        uv.unlink()
    assert result.returncode == 0, result.stderr
    assert f"{python311} -m venv .venv\n" in result.stdout
    assert f"{python311} -m venv .venv-fastai2\n" in result.stdout


def test_unknown_torch_build_is_refused(project, bare_path):
    result = make(project, bare_path, "setup", "TORCH=rocm")
    assert result.returncode != 0
    assert "TORCH must be 'default' or 'cpu', got 'rocm'" in result.stderr


def test_cpu_build_installs_torch_from_pytorchs_cpu_index_then_the_cpu_locks(project, bare_path):
    python311 = PYTHON311
    result = make(project, bare_path, "-n", "setup", "TORCH=cpu", f"PYTHON={python311}")
    assert result.returncode == 0, result.stderr
    commands = result.stdout
    torch_first = re.findall(r"(\.venv\S*)/bin/pip install -q --no-deps --index-url https://download.pytorch.org/"
                             r"whl/cpu \$\(grep -E '\^torch==' (\S+)\)\n", commands)
    assert torch_first == [(".venv", "requirements-cpu.txt"),
                           (".venv-fastai2", "requirements-fastai2-cpu.txt")]
    assert ".venv/bin/pip install -q -r requirements-cpu.txt" in commands
    assert ".venv-fastai2/bin/pip install -q -r requirements-fastai2-cpu.txt" in commands
    assert "touch .venv/.installed-cpu" in commands
    default = make(project, bare_path, "-n", "setup", f"PYTHON={python311}").stdout
    assert "download.pytorch.org" not in default and "-r requirements.txt" in default
