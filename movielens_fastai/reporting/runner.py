"""Run lesson notebooks from a terminal (``make run``, ``make lessons``, ``make benchmark``).

    python -m movielens_fastai.reporting.runner 01_article 02_port
    python -m movielens_fastai.reporting.runner --cell-timeout 1200 --cell-timeout 07_benchmark=7200 \\
        -p max_ratings 5000 --out /tmp/quick 01_article

Each notebook runs with papermill into the output folder, on the kernel its metadata names. The
terminal gets one line per notebook (which one of how many, how long it took), the notebook's
own progress lines while it runs (``lesson.PROGRESS_LINE``: which method, fold or seed, and the
seconds so far), and at the end where the executed notebooks, results and plots are. Everything
else a notebook prints stays in the executed notebook. A failure stops the run with the
notebook, the cell, the error and where the traceback is.

Kernels are started on IPC sockets (POSIX only): over TCP, ipykernel warns at every start that its
traffic is unencrypted, a warning about a local, short-lived connection that a reader can do
nothing about.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError
from traitlets.config import Config

from ..core import project_root
from ..lesson import PROGRESS_LINE

INDENT = "      "


def kernel_config() -> Config:
    """Kernel-manager settings for every notebook run: IPC transport where the OS has it."""
    config = Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
    return config


def duration(seconds: float) -> str:
    """``42 s``, ``5 min 5 s``: how the README states wall times."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60} s"


def parameter_value(text: str):
    """A ``-p`` value: JSON when it parses (``5000``, ``[1, 2]``, ``false``, ``null``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class ProgressLines:
    """A notebook's stdout as papermill hands it over (``stdout_file``), cut into whole lines;
    only the progress lines go on, to ``emit``. A line drawn with carriage returns counts as its
    last state."""

    def __init__(self, emit):
        self.emit = emit
        self.pending = ""

    def write(self, text: str) -> None:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self._consider(line)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.pending:
            self._consider(self.pending)
        self.pending = ""

    def _consider(self, line: str) -> None:
        line = line.rsplit("\r", 1)[-1].rstrip()
        if PROGRESS_LINE.match(line):
            self.emit(line)


class Terminal:
    """What the reader sees: per notebook one line, ``[i/n] name ... 31 s``, with the notebook's
    progress lines under it. On an interactive terminal the open line also counts the seconds."""

    def __init__(self, stream=None, live: bool | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.lock = threading.Lock()
        self.head, self.started, self.open = "", 0.0, False
        self.ticker: threading.Thread | None = None
        self.stop = threading.Event()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _status(self) -> str:
        return f"{self.head} ... {duration(time.perf_counter() - self.started)}"

    def start(self, head: str) -> None:
        with self.lock:
            self.head, self.started, self.open = head, time.perf_counter(), True
            self._write(self._status() if self.live else f"{head} ...")
        if self.live:
            self.stop.clear()
            self.ticker = threading.Thread(target=self._tick, daemon=True)
            self.ticker.start()

    def _tick(self) -> None:
        while not self.stop.wait(1.0):
            with self.lock:
                if self.open:
                    self._write("\r\033[K" + self._status())

    def progress(self, line: str) -> None:
        with self.lock:
            if self.live:
                self._write(f"\r\033[K{INDENT}{line}\n{self._status()}")
            else:
                if self.open:
                    self._write("\n")
                    self.open = False
                self._write(f"{INDENT}{line}\n")

    def finish(self, outcome: str) -> None:
        self.stop.set()
        if self.ticker:
            self.ticker.join()
            self.ticker = None
        with self.lock:
            if self.live:
                self._write(f"\r\033[K{self.head} ... {outcome}\n")
            elif self.open:
                self._write(f" {outcome}\n")
            else:
                self._write(f"{self.head} ... {outcome}\n")
            self.open = False

    def say(self, text: str) -> None:
        with self.lock:
            self._write(text + "\n")


def shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (``output/``), else whole."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def declared_parameters(notebook: Path) -> set[str]:
    return {name for name in papermill.inspect_notebook(str(notebook))}


def run_one(notebook: Path, out_dir: Path, parameters: dict, cell_timeout: float, emit) -> None:
    """Execute ``notebook`` into ``out_dir`` (same name), in its own folder, on its own kernel."""
    kernel = nbformat.read(notebook, as_version=4).metadata["kernelspec"]["name"]
    params = dict(parameters)
    if "output_dir" not in params and "output_dir" in declared_parameters(notebook):
        params["output_dir"] = os.path.relpath(out_dir, notebook.parent)
    sink = ProgressLines(emit)
    try:
        papermill.execute_notebook(
            str(notebook), str(out_dir / notebook.name), parameters=params, kernel_name=kernel,
            cwd=str(notebook.parent), execution_timeout=cell_timeout, progress_bar=False,
            stdout_file=sink, config=kernel_config())
    finally:
        sink.close()


def failure(name: str, err: BaseException, executed: Path, cell_timeout: float) -> str:
    """What went wrong, in the words a reader can act on."""
    if isinstance(err, PapermillExecutionError):
        what, cell = f"{err.ename}: {err.evalue}", f"cell {err.cell_index + 1} of "
    elif type(err).__name__ == "CellTimeoutError":
        what = (f"a cell ran longer than {cell_timeout:.0f} s, the limit for one cell (the Makefile's "
                "CELL_TIMEOUT); if it was not stuck, raise the limit")
        cell = ""
    else:
        what, cell = f"{type(err).__name__}: {err}", ""
    if executed.exists():
        what += f"\n  see {cell}{shown(executed)}, the executed notebook, for the traceback"
    return f"{name} failed: {what}"


def outputs_since(out_dir: Path, started: float) -> dict[str, list[str]]:
    """The files this run wrote in ``out_dir``, by kind."""
    kinds = {"executed notebooks": ".ipynb", "results": ".json", "plots": ".png"}
    files = sorted(p for p in out_dir.iterdir() if p.is_file() and p.stat().st_mtime >= started - 1)
    return {kind: [p.name for p in files if p.suffix == suffix] for kind, suffix in kinds.items()}


def run(names: list[str], out_dir: Path, notebooks_dir: Path, parameters: dict | None = None,
        cell_timeout: float = 1200, timeouts: dict[str, float] | None = None,
        terminal: Terminal | None = None) -> int:
    """Run the notebooks ``names`` one after another; 0 if all ran, 1 at the first failure."""
    terminal = terminal or Terminal()
    timeouts = timeouts or {}
    missing = [n for n in names if not (notebooks_dir / f"{n}.ipynb").is_file()]
    if missing:
        print(f"no such notebook(s) in {shown(notebooks_dir)}: {', '.join(missing)}", file=sys.stderr)
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    started_wall, started = time.time(), time.perf_counter()
    for i, name in enumerate(names, start=1):
        limit = timeouts.get(name, cell_timeout)
        terminal.start(f"[{i}/{len(names)}] {name}")
        t0 = time.perf_counter()
        try:
            run_one(notebooks_dir / f"{name}.ipynb", out_dir, parameters or {}, limit, terminal.progress)
        except KeyboardInterrupt:
            terminal.finish("interrupted")
            return 130
        except Exception as err:  # noqa: BLE001  (any failure: say what it was and stop)
            terminal.finish(f"failed after {duration(time.perf_counter() - t0)}")
            print(failure(name, err, out_dir / f"{name}.ipynb", limit), file=sys.stderr)
            return 1
        terminal.finish(duration(time.perf_counter() - t0))
    files = outputs_since(out_dir, started_wall)
    lines = [f"{len(names)} notebook{'s' if len(names) > 1 else ''} in "
             f"{duration(time.perf_counter() - started)}. In {shown(out_dir)}/:"]
    lines += [f"  {kind + ':':<20}{', '.join(found)}" for kind, found in files.items() if found]
    terminal.say("\n".join(lines))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m movielens_fastai.reporting.runner",
        description="Run lesson notebooks with papermill, showing one line per notebook and its progress.")
    parser.add_argument("names", nargs="+", help="notebook names without .ipynb, e.g. 01_article")
    parser.add_argument("--out", type=Path, help="where executed notebooks and results go (default: output/)")
    parser.add_argument("--notebooks", type=Path, help="the notebooks' folder (default: notebooks/)")
    parser.add_argument("--cell-timeout", action="append", default=[], metavar="[NAME=]SECONDS",
                        help="a cell running longer than this has hung; NAME=SECONDS for one notebook")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter for every notebook (VALUE read as JSON when it parses)")
    args = parser.parse_args(argv)
    cell_timeout, timeouts = 1200.0, {}
    for item in args.cell_timeout:
        name, _, seconds = item.rpartition("=")
        if name:
            timeouts[name] = float(seconds)
        else:
            cell_timeout = float(seconds)
    root = project_root()
    # Each environment registers its kernel inside its own venv (see the Makefile).
    os.environ.setdefault("JUPYTER_PATH", os.pathsep.join(
        str(root / venv / "share" / "jupyter") for venv in (".venv", ".venv-fastai2")))
    return run(args.names, args.out or root / "output", args.notebooks or root / "notebooks",
               {name: parameter_value(value) for name, value in args.parameter}, cell_timeout, timeouts)


if __name__ == "__main__":
    sys.exit(main())
