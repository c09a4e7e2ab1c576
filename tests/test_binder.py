"""Binder: repo2docker (offline, --no-build) picks the conda build from environment.yml,
runs postBuild, and installs the same pins as requirements.txt."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pins(path):
    lines = (line.split("#")[0].strip() for line in (ROOT / path).read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if "==" in line)


def test_repo2docker_builds_environment_yml_and_runs_postbuild():
    repo2docker = Path(sys.executable).with_name("repo2docker")
    result = subprocess.run([str(repo2docker), "--no-build", "--no-run", "--debug", str(ROOT)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert "Building conda environment for python=3.11" in log
    assert '--file "environment.yml"' in log
    assert "RUN ./postBuild" in log


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


def test_postbuild_gives_the_port_its_pinned_environment_and_kernel():
    post_build = (ROOT / "postBuild").read_text()
    assert "-r requirements-fastai2.txt" in post_build
    assert "--name movielens-fastai2" in post_build and "--name movielens-fastai " in post_build
    port = pins("requirements-fastai2.txt")
    assert port["fastai"].startswith("2.8.") and port["torch"] == pins("requirements.txt")["torch"]


def test_every_lock_line_is_pinned():
    for lock in ("requirements.txt", "requirements-fastai2.txt"):
        lines = [line for line in (ROOT / lock).read_text().splitlines() if line and not line.startswith("#")]
        unpinned = [line for line in lines if "==" not in line]
        assert not unpinned, f"{lock}: {unpinned}"


def test_readme_binder_badge_opens_the_faithful_notebook():
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/v2/gh/" in readme
    assert "labpath=notebooks%2Fmovielens-fastai.ipynb" in readme
