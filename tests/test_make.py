"""The Makefile on a machine that is not ours: no python3.11 on PATH, a uv-managed Python,
a TORCH value it does not know, an NVIDIA GPU or none, environments already built with one PyTorch
build. Each runs `make` on a copy of the project's build files in a temporary folder, so nothing
here can touch the real environments."""

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
        assert f"{stub} -m venv .venv;" in result.stdout


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
    assert f"{python311} -m venv .venv;" in result.stdout
    assert f"{python311} -m venv .venv-fastai2;" in result.stdout


def test_unknown_torch_build_is_refused(project, bare_path):
    result = make(project, bare_path, "setup", "TORCH=rocm")
    assert result.returncode != 0
    assert "TORCH must be 'cuda' or 'cpu' (or unset: the machine decides), got 'rocm'" in result.stderr


def nvidia_smi(bin_dir, listing: str, status: int = 0):
    """An nvidia-smi whose -L prints listing."""
    stub = bin_dir / "nvidia-smi"
    stub.write_text(f"#!/bin/sh\nprintf '%s\\n' '{listing}'\nexit {status}\n")
    stub.chmod(0o755)
    return stub


def built(project, build):
    """Both environments as `make setup` leaves them, built with `build`, newer than the locks."""
    for venv in (".venv", ".venv-fastai2"):
        (project / venv).mkdir()
        (project / venv / f".installed-{build}").touch()


def venv_builds(commands: str) -> list[tuple[str, str]]:
    """(environment, lock) for each environment the commands would build."""
    return re.findall(r"rm -rf (\.venv\S*);.*?pip install -q -r (\S+);", commands)


def torch_line(commands: str) -> str:
    line, = re.findall(r'^echo "(PyTorch: .*)"$', commands, re.MULTILINE)
    return line


CPU_BUILDS = [(".venv", "requirements-cpu.txt"), (".venv-fastai2", "requirements-fastai2-cpu.txt")]
CUDA_BUILDS = [(".venv", "requirements.txt"), (".venv-fastai2", "requirements-fastai2.txt")]


def planned(project, bin_dir, *args) -> tuple[str, list[tuple[str, str]], str]:
    """What `make -n setup ARGS` would do: its PyTorch line, the environments it would build (and
    from which lock), and the commands."""
    result = make(project, bin_dir, "-n", "setup", *args, f"PYTHON={PYTHON311}")
    assert result.returncode == 0, result.stderr
    return torch_line(result.stdout), venv_builds(result.stdout), result.stdout


def test_with_no_gpu_make_takes_the_cpu_build_and_says_why(project, bare_path):
    line, builds, _ = planned(project, bare_path)
    assert line == ("PyTorch: the cpu build (no NVIDIA GPU: nvidia-smi lists none; "
                    "TORCH=cuda for the CUDA build).")
    assert builds == CPU_BUILDS


def test_nvidia_smi_without_a_gpu_still_means_the_cpu_build(project, bare_path):
    nvidia_smi(bare_path, "No devices were found", status=6)
    line, _, _ = planned(project, bare_path)
    assert "the cpu build (no NVIDIA GPU" in line


def test_with_an_nvidia_gpu_make_takes_the_cuda_build(project, bare_path):
    nvidia_smi(bare_path, "GPU 0: NVIDIA H200 (UUID: GPU-0b7d4c1e-0000-0000-0000-000000000000)")
    line, builds, commands = planned(project, bare_path)
    assert line == ("PyTorch: the cuda build (nvidia-smi lists an NVIDIA GPU; "
                    "TORCH=cpu for the CPU-only build).")
    assert builds == CUDA_BUILDS
    assert "download.pytorch.org" not in commands


@pytest.mark.parametrize("build, other", [("cpu", "cuda"), ("cuda", "cpu")])
def test_later_targets_reuse_the_build_the_environments_have(project, bare_path, build, other):
    """Whatever the machine says now: built environments are kept, not rebuilt."""
    built(project, build)
    if build == "cpu":
        nvidia_smi(bare_path, "GPU 0: NVIDIA H200 (UUID: GPU-0)")
    line, builds, _ = planned(project, bare_path)
    assert line == f"PyTorch: the {build} build (as the environments were built; TORCH={other} switches)."
    assert builds == []
    app = make(project, bare_path, "-n", "app", f"PYTHON={PYTHON311}")
    assert f".installed-{other}" not in app.stdout and "rm -rf" not in app.stdout


def test_environments_stamped_default_count_as_the_cuda_build(project, bare_path):
    """What `make setup` stamped before the builds were named cpu and cuda: PyPI's build."""
    built(project, "default")
    line, builds, _ = planned(project, bare_path)
    assert line == "PyTorch: the cuda build (as the environments were built; TORCH=cpu switches)."
    assert builds == CUDA_BUILDS


def test_switching_builds_happens_when_asked_and_says_so(project, bare_path):
    built(project, "cuda")
    line, builds, _ = planned(project, bare_path, "TORCH=cpu")
    assert line == ("PyTorch: the cpu build (TORCH=cpu asked; the environments were built with the cuda "
                    "build: rebuilding both).")
    assert builds == CPU_BUILDS


def test_cpu_build_installs_torch_from_pytorchs_cpu_index_then_the_cpu_locks(project, bare_path):
    result = make(project, bare_path, "-n", "setup", "TORCH=cpu", f"PYTHON={PYTHON311}")
    assert result.returncode == 0, result.stderr
    commands = result.stdout
    torch_first = re.findall(r"(\.venv\S*)/bin/pip install -q --no-deps --index-url https://download.pytorch.org/"
                             r"whl/cpu \$\(grep -E '\^torch==' (\S+)\);", commands)
    assert torch_first == [(".venv", "requirements-cpu.txt"),
                           (".venv-fastai2", "requirements-fastai2-cpu.txt")]
    assert "touch .venv/.installed-cpu;" in commands and "touch .venv-fastai2/.installed-cpu;" in commands
    cuda = make(project, bare_path, "-n", "setup", "TORCH=cuda", f"PYTHON={PYTHON311}").stdout
    assert "download.pytorch.org" not in cuda and "-r requirements.txt;" in cuda


def test_each_build_step_prints_a_line_with_the_environment_and_the_time(project, bare_path, tmp_path):
    """The venv recipe run for real with a stand-in Python (its pip and venv do nothing): one line per
    step, each naming the environment and the time so far."""
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir()
    for tool in ("sh", "date", "grep", "rm", "touch", "printf", "mkdir", "cp", "chmod"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "make").symlink_to(shutil.which("make"))
    fake = bin_dir / "python3.11"
    floor = re.search(r"^PYTHON_FLOOR := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    # -c: the version question; -m venv DIR: a DIR whose bin/pip and bin/python do nothing.
    fake.write_text(f"""#!/bin/sh
case "$1" in
  -c) echo {floor} ;;
  -m) mkdir -p "$3/bin"; printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/pip"; cp "$3/bin/pip" "$3/bin/python";
      chmod +x "$3/bin/pip" "$3/bin/python" ;;
esac
""")
    fake.chmod(0o755)
    result = make(project, bin_dir, "setup", "TORCH=cpu", f"PYTHON={fake}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "PyTorch: the cpu build (TORCH=cpu asked)."
    step = re.compile(r"(\.venv(?:-fastai2)?): (.+) \((\d+) min (\d\d) s\)")
    steps = [step.fullmatch(line) for line in lines[1:]]
    assert all(steps), lines
    for venv in (".venv", ".venv-fastai2"):
        names = [m[2] for m in steps if m[1] == venv]
        assert names[0] == "new environment, the cpu build of PyTorch"
        assert names[-1].startswith("ready, kernel ")
        assert "torch from PyTorch's CPU index" in names
        pinned = r"\d+ pinned packages from requirements(-fastai2)?-cpu\.txt"
        assert any(re.fullmatch(pinned, n) for n in names)
        assert (project / venv / ".installed-cpu").exists()
