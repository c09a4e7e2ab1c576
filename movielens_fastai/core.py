"""The ground floor: what every other module of the package may use, and nothing of ours below it.

Column names of a ratings table, the checks on them, how ids become embedding rows, seeding, the
record of the environment a run used, results written atomically, and where the project's
checkout and its fastai 2 environment are.
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- columns

#: A ratings table's columns, as the article names them when it reads u.data.
RATING_COLUMNS = ["User ID", "Movie ID", "Rating", "Timestamp"]
USER, MOVIE, RATING, TIMESTAMP = RATING_COLUMNS
TITLE = "Title"


def check_columns(table, name: str, columns: Sequence[str]) -> None:
    """Refuse a table that lacks any of ``columns``; ``name`` says which table it is."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} ratings lack column(s) {missing}; expected {list(columns)}")


def check_k(k) -> int:
    """``k``, the length of a top-k list, as an int; anything but a positive integer is refused."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (the length of the list to judge), got {k!r}")
    return int(k)


def index_ids(train_ids, ids) -> tuple[np.ndarray, int]:
    """Embedding rows for ``ids`` as fastai's ``Categorify`` numbers them: the sorted distinct
    ``train_ids`` get 1..n, any id training never saw gets 0 (``#na#``). Returns (rows, n + 1)."""
    classes = np.unique(train_ids)
    ids = np.asarray(ids)
    pos = np.clip(np.searchsorted(classes, ids), 0, len(classes) - 1)
    known = classes[pos] == ids
    return np.where(known, pos + 1, 0), len(classes) + 1


# --------------------------------------------------------------------------- runs


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (where it is installed), so a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def device_description() -> str:
    """The device training runs on: the GPU when torch sees one, else the CPU and its cores."""
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        return f"cuda ({sys.modules['torch'].cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def environment(packages=("fastai", "torch", "pandas", "numpy")) -> dict:
    """The record of a run's environment: package versions (of *this* process), the device, the
    platform and the time. Every results file of the project carries one."""
    import torch  # noqa: F401  (so that device_description sees a GPU)

    versions = {"python": platform.python_version()}
    versions.update({p: _version(p) for p in packages})
    return {"versions": versions, "device": device_description(), "platform": platform.platform(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def machine() -> dict:
    """The machine alone (no package versions): cores, platform, processor, Python, time."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0o666 less the umask): ``mkstemp``'s temporary files are
    0o600, and a result renamed into place should be readable as any other file the user writes."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes_atomically(path: str | os.PathLike, data: bytes, mode: int | None = None,
                           sync: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then ``os.replace``:
    readers see the old file or the whole new one, never half of one, and nothing is left behind
    when writing fails. ``mode`` defaults to a new file's; ``sync`` flushes to disk before the
    rename (for a file a server will load)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, new_file_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path: str | os.PathLike, data: dict) -> Path:
    """Write JSON through a temporary file, so readers never see half a file."""
    text = json.dumps(data, indent=2, default=_to_json) + "\n"
    return write_bytes_atomically(path, text.encode())


def write_text_atomically(path: str | os.PathLike, text: str, mode: int | None = None) -> Path:
    """Write text through a temporary file, so readers never see half a file."""
    return write_bytes_atomically(path, text.encode(), mode)


def _to_json(value):
    """numpy / torch scalars and arrays, paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot record {type(value).__name__} in results JSON")


# --------------------------------------------------------------------------- where things are

#: Names the project's checkout (the folder with notebooks/ and pyproject.toml) when the package
#: is installed elsewhere.
HOME_ENV = "MOVIELENS_FASTAI_HOME"
#: The project's two environments: where each lives in the checkout, and the variable that names
#: its Python instead (when it lives elsewhere).
ENVIRONMENT_PYTHONS = {
    "fastai1": (".venv", "MOVIELENS_FASTAI1_PYTHON"),
    "fastai2": (".venv-fastai2", "MOVIELENS_FASTAI2_PYTHON"),
}


class SetupError(RuntimeError):
    """Something the project needs (its checkout, an environment) cannot be found."""


def _is_checkout(path: Path) -> bool:
    return (path / "notebooks").is_dir() and (path / "pyproject.toml").is_file()


def project_root() -> Path:
    """The project's checkout: ``$MOVIELENS_FASTAI_HOME``, else the folder this package sits in
    (an editable install), else the current directory; each only if it holds the project."""
    if os.environ.get(HOME_ENV):
        path = Path(os.environ[HOME_ENV]).expanduser().resolve()
        if not _is_checkout(path):
            raise SetupError(f"{HOME_ENV}={path} is not a movielens-fastai checkout (no notebooks/ "
                             "and pyproject.toml there)")
        return path
    for path in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if _is_checkout(path):
            return path
    raise SetupError(f"cannot find the movielens-fastai checkout: the package is installed outside it "
                     f"and the current directory is not it; set {HOME_ENV} to the checkout")


def environment_python(name: str) -> Path:
    """The Python of environment ``name`` ("fastai1": fastai 1.0.61, "fastai2": fastai 2.8): the
    variable of ``ENVIRONMENT_PYTHONS`` if set, else the checkout's venv."""
    if name not in ENVIRONMENT_PYTHONS:
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(ENVIRONMENT_PYTHONS)}")
    folder, variable = ENVIRONMENT_PYTHONS[name]
    if os.environ.get(variable):
        python = Path(os.environ[variable]).expanduser()
    else:
        python = project_root() / folder / "bin" / "python"
    if not python.exists():
        raise SetupError(f"{python}: the {name} environment is missing; build it with `make setup`, "
                         f"or set {variable} to its Python")
    return python


def running_in(name: str) -> bool:
    """Whether this process runs in environment ``name`` (venvs share one interpreter binary, so
    they are told apart by their prefix). Where fastai is installed, its major version decides."""
    folder, variable = ENVIRONMENT_PYTHONS[name]
    if os.environ.get(variable):
        return Path(sys.prefix).resolve() == Path(os.environ[variable]).expanduser().parent.parent.resolve()
    fastai = _version("fastai")
    if fastai is not None:
        return fastai.split(".")[0] == {"fastai1": "1", "fastai2": "2"}[name]
    try:
        return Path(sys.prefix).resolve() == (project_root() / folder).resolve()
    except SetupError:
        return False


LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on now: every server the project starts binds to one on loopback."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
