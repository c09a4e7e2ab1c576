"""The package as pip installs it, and the locks it is installed with.

The wheel carries every module and data file of movielens_fastai/; installed from that wheel
(not editable) next to each environment's packages, every module imports where it should; what
the package imports is declared in pyproject.toml; every pinned package admits the Makefile's
PYTHON_FLOOR; and the locks are what `make lock` writes. Nothing here uses the network: the
environments' installed metadata (`make setup`) stands in for the package registry.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "movielens_fastai"
MAKEFILE = (ROOT / "Makefile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VENVS = {"fastai1": ROOT / ".venv", "fastai2": ROOT / ".venv-fastai2"}
# Each environment, the list it is compiled from, and its two locks (`make setup`, TORCH=cpu).
FAMILIES = {
    "fastai1": ("requirements.in", "requirements.txt", "requirements-cpu.txt"),
    "fastai2": ("requirements-fastai2.in", "requirements-fastai2.txt", "requirements-fastai2-cpu.txt"),
}
# What the CPU locks pin differently from the default ones (the Makefile's cpu-lock-files).
CPU_SWAPPED = {"torch", "torchvision"}
LOCKS = [(env, lock) for env, (_, *locks) in FAMILIES.items() for lock in locks]
# Top-level imports that tie a module to one environment ({import name: distribution}): fastai v1
# and fastai 2 cannot share one, and the others only one lock holds (test_one_environment_packages).
# A module that imports none of them, itself or through the package's modules, imports in both.
ONE_ENVIRONMENT = {"fastai": "fastai", "surprise": "scikit-surprise", "myfm": "myfm", "implicit": "implicit",
                   "gradio": "gradio", "safetensors": "safetensors", "papermill": "papermill"}
# Import names to distributions where neither environment has one installed to ask (packages_distributions()).
DISTRIBUTIONS = {"sklearn": "scikit-learn", "surprise": "scikit-surprise", "PIL": "pillow", "yaml": "PyYAML"}


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} [:?]?= *(.*)$", MAKEFILE, re.MULTILINE)
    assert match, f"{name} is not set in the Makefile"
    return match[1].strip()


FLOOR = makefile_variable("PYTHON_FLOOR")


def clean_env() -> dict:
    """The environment for another interpreter: nothing of this checkout on its path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "MOVIELENS_FASTAI_HOME")}
    return {**env, "PYTHONNOUSERSITE": "1"}


def venv_or_skip(env: str) -> Path:
    venv = VENVS[env]
    if not (venv / "bin" / "python").exists():
        pytest.skip(f"{venv.name} does not exist: make setup")
    return venv


def run_json(python, code: str, *args, cwd=None, timeout=600):
    """Run `python -c code args` (outside the checkout); the JSON it writes to the file named by
    its last argument."""
    handle, out = tempfile.mkstemp(suffix=".json", prefix="probe-")
    os.close(handle)
    out = Path(out)
    result = subprocess.run([str(python), "-c", code, *args, str(out)], capture_output=True, text=True,
                            cwd=cwd or tempfile.gettempdir(), env=clean_env(), timeout=timeout)
    assert result.returncode == 0, f"{python}: {result.stderr[-4000:]}"
    try:
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def lock_pins(lock: str) -> dict[str, tuple[str, str]]:
    """{canonical name: (name as written, version)} of a lock."""
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = (name, version)
    return pins


def in_requirements(path: str) -> list[str]:
    lines = (line.split("#")[0].strip() for line in (ROOT / path).read_text().splitlines())
    return [line for line in lines if line]


# --- a) the wheel -------------------------------------------------------------------------------

def source_files() -> set[str]:
    """Every file of the source package (as the wheel names it), compiled caches left out."""
    return {path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of a copy of the project (no build/ or *.egg-info left in the checkout), built offline."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(PACKAGE, source / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                             "--no-index", "-w", str(tmp / "dist"), str(source)],
                            capture_output=True, text=True, cwd=tmp, env=clean_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    wheel, = (tmp / "dist").glob("movielens_fastai-*.whl")
    return wheel


def test_the_wheel_carries_every_module_and_data_file(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    expected = source_files()
    assert any(name.endswith(".py") for name in expected)
    assert not expected - names, f"left out of the wheel: {sorted(expected - names)}"
    packaged = {name for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packaged == expected, f"in the wheel but not in the source: {sorted(packaged - expected)}"


def test_the_wheel_says_which_python_and_what_it_needs(wheel):
    with zipfile.ZipFile(wheel) as zf:
        metadata_name, = (n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(metadata_name).decode()
    assert f"Requires-Python: >={FLOOR}\n" in metadata
    declared = re.findall(r"^Requires-Dist: ([^;\n]+)$", metadata, re.MULTILINE)
    wanted = PYPROJECT["project"]["dependencies"]
    assert {str(Requirement(r)) for r in declared} == {str(Requirement(r)) for r in wanted}
    assert "License-Expression: MIT\n" in metadata


# --- b) every module imports from the installed wheel ----------------------------------------------

IMPORT_EVERY_MODULE = r"""
import importlib, json, sys, traceback, warnings
warnings.simplefilter("ignore")
*modules, out = sys.argv[1:]
results = {}
for name in modules:
    try:
        importlib.import_module(name)
        results[name] = None
    except BaseException:
        results[name] = traceback.format_exc()
package = sys.modules.get("movielens_fastai")
json.dump({"file": getattr(package, "__file__", None), "results": results}, open(out, "w"))
"""

SITE_PACKAGES = """
import json, sys, sysconfig
paths = sysconfig.get_paths()
json.dump(sorted({paths["purelib"], paths["platlib"]}), open(sys.argv[1], "w"))
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path) -> dict[str, Path]:
    """{module name: file} under root's movielens_fastai/; __main__ modules left out (importing one
    runs it)."""
    files = (root / PACKAGE.name).rglob("*.py")
    return {module_name(PACKAGE.parent / f.relative_to(root)): f for f in files
            if "__pycache__" not in f.parts and f.stem != "__main__"}


def top_level_imports(path: Path) -> tuple[set[str], set[str]]:
    """(top-level names of absolute imports, package modules imported) by the statements that run
    when the module is imported: everything but function bodies."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names, internal = set(), set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    names.add(alias.name.split(".")[0])
                    if alias.name.split(".")[0] == PACKAGE.name:
                        internal.add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module
                    names.add(target.split(".")[0])
                if target.split(".")[0] == PACKAGE.name:
                    internal.add(target)
                    internal.update(f"{target}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return names, internal


def one_environment_modules() -> set[str]:
    """Modules that import a ONE_ENVIRONMENT package when imported: themselves, through the
    package's modules they import, or through their parent packages."""
    modules = package_modules(PACKAGE.parent)
    direct, edges = {}, {}
    for name, path in modules.items():
        imported, internal = top_level_imports(path)
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        direct[name] = bool(imported & set(ONE_ENVIRONMENT))
        edges[name] = {m for m in internal | parents if m in modules and m != name}
    tied = {name for name, yes in direct.items() if yes}
    while True:
        more = {name for name, deps in edges.items() if name not in tied and deps & tied}
        if not more:
            return tied
        tied |= more


@pytest.fixture(scope="module")
def installed_wheel(wheel, tmp_path_factory):
    """{environment: (python, site-packages) of a fresh venv with the wheel installed (not editable)
    that sees the environment's own packages through a .pth file}; environments that do not exist
    are absent."""
    pythons = {}
    for env, venv in VENVS.items():
        if not (venv / "bin" / "python").exists():
            continue
        target = tmp_path_factory.mktemp(f"installed-{env}") / "venv"
        subprocess.run([str(venv / "bin" / "python"), "-m", "venv", "--without-pip", str(target)],
                       check=True, env=clean_env(), timeout=120)
        python = target / "bin" / "python"
        # The wheel first, while the new venv sees nothing else (so pip touches nothing of the venv's).
        result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                                 "--no-deps", "--no-index", str(wheel)],
                                capture_output=True, text=True, env=clean_env(), timeout=300)
        assert result.returncode == 0, result.stderr[-4000:]
        own = run_json(python, SITE_PACKAGES)[0]
        # A plain path line: the venv's packages without its own .pth files (its editable install).
        (Path(own) / "movielens-fastai-environment.pth").write_text(
            "".join(f"{path}\n" for path in run_json(venv / "bin" / "python", SITE_PACKAGES)))
        pythons[env] = (python, Path(own))
    return pythons


def test_every_module_of_the_installed_wheel_imports(installed_wheel, tmp_path):
    if "fastai2" not in installed_wheel:
        pytest.skip(".venv-fastai2 does not exist: make setup")
    assert "fastai1" in installed_wheel
    results = {}
    for env, (python, site_packages) in installed_wheel.items():
        modules = sorted(package_modules(site_packages))
        assert sorted(package_modules(PACKAGE.parent)) == modules
        probe = run_json(python, IMPORT_EVERY_MODULE, *modules, cwd=tmp_path)
        assert probe["file"] and Path(probe["file"]).is_relative_to(site_packages), (
            f"{env}: movielens_fastai came from {probe['file']}, not the installed wheel")
        results[env] = probe["results"]
    tied = one_environment_modules()
    failures = []
    for module in sorted(results["fastai1"]):
        errors = {env: results[env][module] for env in results if results[env][module]}
        if len(errors) == len(results):
            failures.append(f"{module} imports in neither environment:\n"
                            + "\n".join(f"[{env}] {tb}" for env, tb in errors.items()))
        elif errors and module not in tied:
            failures.append(f"{module} imports none of {sorted(ONE_ENVIRONMENT)} when imported, but "
                            "fails in one environment:\n"
                            + "\n".join(f"[{env}] {tb}" for env, tb in errors.items()))
    assert not failures, "\n\n".join(failures)


def test_one_environment_packages_are_in_one_environment():
    """What excuses a module from importing in both environments really is in only one of them."""
    v1, v2 = lock_pins("requirements.txt"), lock_pins("requirements-fastai2.txt")
    for name, dist in ONE_ENVIRONMENT.items():
        key = canonicalize_name(dist)
        if name == "fastai":
            assert v1[key][1].split(".")[0] == "1" and v2[key][1].split(".")[0] == "2"
        else:
            assert (key in v1) != (key in v2), f"{dist} is in {'both' if key in v1 else 'neither'} lock(s)"


# --- c) what the package imports is declared -------------------------------------------------------

def imported_packages() -> dict[str, set[str]]:
    """{third-party top-level import name: files importing it}, anywhere in the package's code."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("__future__", PACKAGE.name):
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


PACKAGES_DISTRIBUTIONS = """
import json, sys
from importlib.metadata import packages_distributions
json.dump(packages_distributions(), open(sys.argv[1], "w"))
"""


def test_what_the_package_imports_is_declared():
    mapping = {}
    for env in VENVS:
        venv = venv_or_skip(env)
        for name, dists in run_json(venv / "bin" / "python", PACKAGES_DISTRIBUTIONS).items():
            mapping.setdefault(name, set()).update(canonicalize_name(d) for d in dists)
    for name, dist in DISTRIBUTIONS.items():
        mapping.setdefault(name, set()).add(canonicalize_name(dist))
    project = PYPROJECT["project"]
    declared = {canonicalize_name(Requirement(r).name)
                for r in [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]}
    undeclared = {}
    for name, files in sorted(imported_packages().items()):
        if not mapping.get(name, set()) & declared:
            undeclared[name] = f"{sorted(mapping.get(name, {'? (installed in neither environment)'}))} " \
                               f"imported by {sorted(files)}"
    assert not undeclared, f"imported but not in pyproject.toml's dependencies or extras: {undeclared}"


# --- d) every pin admits the floor ------------------------------------------------------------------

INSTALLED = """
import json, sys
from importlib.metadata import distributions
json.dump({d.metadata["Name"]: {"version": d.version, "requires_python": d.metadata["Requires-Python"]}
           for d in distributions()}, open(sys.argv[1], "w"))
"""


def installed(env: str) -> dict[str, dict]:
    """{canonical name: {version, requires_python}} of what the environment holds."""
    venv = venv_or_skip(env)
    found = run_json(venv / "bin" / "python", INSTALLED)
    return {canonicalize_name(name): info for name, info in found.items()}


def built_from(env: str, dists: dict[str, dict]) -> str:
    """The lock (default or CPU) the environment was installed from; fail if neither."""
    _, *locks = FAMILIES[env]
    differences = {}
    for lock in locks:
        versions = {name: dists.get(key, {}).get("version") for key, (name, _) in lock_pins(lock).items()}
        differences[lock] = sorted(f"{name}=={version} (installed: {versions[name]})"
                                   for name, version in lock_pins(lock).values() if versions[name] != version)
        if not differences[lock]:
            return lock
    pytest.fail(f"{VENVS[env].name} matches neither of its locks (make setup): {differences}")


def test_the_package_requires_the_makefiles_floor():
    assert re.fullmatch(r"3\.11\.\d+", FLOOR)
    assert PYPROJECT["project"]["requires-python"] == f">={FLOOR}"


@pytest.mark.parametrize("env, lock", LOCKS, ids=[lock for _, lock in LOCKS])
def test_every_pin_admits_the_python_floor(env, lock):
    dists = installed(env)
    built_from(env, dists)
    refused, unchecked, checked = [], [], 0
    for key, (name, version) in lock_pins(lock).items():
        info = dists.get(key)
        if info is None or info["version"] != version:
            unchecked.append(f"{name}=={version}")
            continue
        checked += 1
        if info["requires_python"] and FLOOR not in SpecifierSet(info["requires_python"]):
            refused.append(f"{name}=={version} (Requires-Python {info['requires_python']})")
    assert not refused, f"{lock}: not installable on Python {FLOOR}: {refused}"
    if unchecked:
        # Only the other TORCH build's packages can be missing: built_from() found the venv's lock whole.
        pytest.skip(f"{lock}: {checked} pins admit {FLOOR}; not installed in {VENVS[env].name} "
                    f"(the other TORCH build): {sorted(unchecked)}")


# --- e) the locks are what `make lock` writes ------------------------------------------------------

CLOSURE = r"""
import json, sys
from importlib.metadata import distributions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
*roots, out = sys.argv[1:]
dists = {}
for d in distributions():
    dists.setdefault(canonicalize_name(d.metadata["Name"]), d)
needed, problems, expanded = {}, [], set()
todo = [(Requirement(r), "the .in file") for r in roots]
while todo:
    req, by = todo.pop()
    name = canonicalize_name(req.name)
    needed.setdefault(name, set()).add(by)
    dist = dists.get(name)
    if dist is None:
        problems.append(f"{req} (needed by {by}) is not installed")
        continue
    if not req.specifier.contains(dist.version, prereleases=True):
        problems.append(f"{dist.metadata['Name']}=={dist.version} does not satisfy {req} (needed by {by})")
    for extra in {""} | set(req.extras):
        if (name, extra) in expanded:
            continue
        expanded.add((name, extra))
        for line in dist.requires or []:
            dep = Requirement(line)
            if dep.marker is None or dep.marker.evaluate({"extra": extra}):
                todo.append((dep, f"{dist.metadata['Name']}=={dist.version}"))
json.dump({"needed": {k: sorted(v) for k, v in needed.items()}, "problems": problems}, open(out, "w"))
"""


def make_dry_run(*args) -> str:
    result = subprocess.run(["make", "--no-print-directory", "-n", *args, f"PYTHON={sys.executable}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("env", FAMILIES)
def test_each_lock_is_its_in_file_resolved(env):
    """The lock the environment was built from holds exactly what its .in file needs (the closure of
    the installed packages' Requires-Dist; pip itself left out, as `make lock` leaves it out), each
    version meeting every requirement on it: what pip's resolver gives, minus only 'the newest',
    which needs the package registry (`make lock`)."""
    source, default_lock, _ = FAMILIES[env]
    dists = installed(env)
    lock = built_from(env, dists)
    roots = in_requirements(source)
    if lock != default_lock:
        # The CPU lock is the default one with torch and torchvision swapped for PyTorch's CPU build
        # (the Makefile's TORCH_CPU and TORCHVISION_CPU): the .in file's pins on them are the default's.
        pins = lock_pins(lock)
        roots = [f"{pins[name][0]}=={pins[name][1]}" if name in CPU_SWAPPED else line
                 for line in roots for name in [canonicalize_name(Requirement(line).name)]]
    closure = run_json(VENVS[env] / "bin" / "python", CLOSURE, *roots)
    assert not closure["problems"], f"{lock}: {closure['problems']}"
    needed = set(closure["needed"]) - {"pip"}
    pinned = set(lock_pins(lock))
    assert not needed - pinned, f"{lock} lacks what {source} needs: {sorted(needed - pinned)}"
    assert not pinned - needed, f"{lock} holds what nothing in {source} needs: {sorted(pinned - needed)}"


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-fastai2.txt"])
def test_each_lock_is_written_as_make_lock_writes_it(lock):
    """Its first line is `make lock`'s, then `pip freeze` order: one name==version per line, sorted by
    lower-cased name, no pip."""
    source = lock.replace(".txt", ".in")
    header = re.search(rf"echo '(# Locked from {re.escape(source)} by .*?)';", make_dry_run("lock"))
    assert header, f"make -n lock writes no header for {lock}"
    first, *lines = (ROOT / lock).read_text().splitlines()
    assert first == header[1]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", line) for line in lines), lock
    names = [line.split("==")[0] for line in lines]
    assert names == sorted(names, key=str.lower) and len(set(names)) == len(names)
    assert "pip" not in names


def test_the_cpu_locks_are_the_default_locks_as_make_writes_them(tmp_path):
    """`make cpu-lock-files` (what `make lock-cpu` writes, before it installs them) turns the
    default locks into exactly the committed CPU locks."""
    for name in ("Makefile", "requirements.txt", "requirements-fastai2.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(["make", "--no-print-directory", "cpu-lock-files"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for lock in ("requirements-cpu.txt", "requirements-fastai2-cpu.txt"):
        assert (tmp_path / lock).read_text() == (ROOT / lock).read_text(), f"{lock} is not what make writes"
