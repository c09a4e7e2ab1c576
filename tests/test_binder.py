"""Binder and conda: repo2docker (offline, --no-build) builds binder/, whose postBuild installs
the CPU-only locks that `make setup TORCH=cpu` installs (and CI tests); the root
environment.yml gives conda and `jovian install` the CUDA lock's pins."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# torch's own CUDA dependencies, which only the default locks carry.
CUDA_ONLY = re.compile(r"^(triton|cuda-[a-z]+|nvidia-(cu|nv|nccl)[a-z0-9-]*)$")


def pins(path):
    lines = (line.split("#")[0].strip() for line in (ROOT / path).read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if "==" in line)


def test_repo2docker_builds_the_binder_folder_and_runs_its_postbuild():
    repo2docker = Path(sys.executable).with_name("repo2docker")
    result = subprocess.run([str(repo2docker), "--no-build", "--no-run", "--debug", str(ROOT)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert "Building conda environment for python=3.11" in log
    assert '--file "binder/environment.yml"' in log
    assert "RUN ./binder/postBuild" in log
    assert "postBuild" not in {p.name for p in ROOT.iterdir()}, "a root postBuild would be ignored"


def test_binder_installs_the_cpu_locks_the_way_make_does():
    env = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    assert env["dependencies"] == ["python=3.11", "pip"]
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert f"cpu_index={CPU_INDEX}\n" in post_build
    assert "install python requirements-cpu.txt\n" in post_build
    assert 'install "$HOME/.venv-fastai2/bin/python" requirements-fastai2-cpu.txt\n' in post_build
    assert "--name movielens-fastai2" in post_build and "--name movielens-fastai " in post_build
    makefile = (ROOT / "Makefile").read_text()
    assert f"TORCH_CPU_INDEX ?= {CPU_INDEX}\n" in makefile
    assert "LOCK := requirements-cpu.txt\nLOCK2 := requirements-fastai2-cpu.txt\n" in makefile


def test_cpu_locks_are_the_default_locks_without_cuda():
    """Same versions of every package but torch's: the CPU route is no look-alike."""
    for default_lock, cpu_lock in (("requirements.txt", "requirements-cpu.txt"),
                                   ("requirements-fastai2.txt", "requirements-fastai2-cpu.txt")):
        default, cpu = pins(default_lock), pins(cpu_lock)
        assert cpu["torch"].endswith("+cpu") and default["torch"] == "2.14.1"
        left_out = set(default) - set(cpu)
        assert left_out and all(CUDA_ONLY.match(name) for name in left_out), sorted(left_out)
        assert not set(cpu) - set(default)
        changed = {name for name in cpu if cpu[name] != default[name]}
        assert changed == {"torch", "torchvision"}, changed
        assert "nvidia-ml-py3" not in left_out


def test_environment_yml_installs_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "movielens-fastai"
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-r requirements.txt" in pip_section
    locked = pins("requirements.txt")
    for package, version in {"fastai": "1.0.61", "pandas": "1.5.3", "torch": "2.14.1",
                             "torchvision": "0.29.1", "jovian": "0.2.47"}.items():
        assert locked[package] == version
    assert locked["numpy"].startswith("1.") and int(locked["setuptools"].split(".")[0]) < 81


def test_the_port_is_pinned_to_the_same_torch_as_the_original():
    port = pins("requirements-fastai2.txt")
    assert port["fastai"].startswith("2.8.") and port["torch"] == pins("requirements.txt")["torch"]
    assert pins("requirements-fastai2-cpu.txt")["torch"] == pins("requirements-cpu.txt")["torch"]


def test_every_lock_line_is_pinned():
    for lock in ROOT.glob("requirements*.txt"):
        lines = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
        unpinned = [line for line in lines if "==" not in line]
        assert not unpinned, f"{lock.name}: {unpinned}"


def test_readme_binder_badge_opens_the_faithful_notebook():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"\(https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/HEAD\?labpath=notebooks%2F01_article\.ipynb\)",
                     readme)
