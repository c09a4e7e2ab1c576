"""The notebook runner behind `make run` and `make lessons` (reporting/runner.py): what reaches
the terminal. A line per notebook, the notebooks' progress lines, where the outputs are, a
failure in words; no Jupyter warning, nothing else a notebook prints."""

import io
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from papermill.exceptions import PapermillExecutionError

from movielens_fastai.reporting import runner

ROOT = Path(__file__).resolve().parent.parent


def test_progress_lines_pass_whole_and_nothing_else():
    heard = []
    sink = runner.ProgressLines(heard.append)
    for chunk in ["noise\n[   1", "2 s] method 1/3 bias, fold u1 ...\nmore noise\n",
                  "   plain text [  3 s] not at the start\n", "0%\r50%\r[    20 s] drawn with a return\n",
                  "[    30 s] no newline yet"]:
        sink.write(chunk)
    assert heard == ["[   12 s] method 1/3 bias, fold u1 ...", "[    20 s] drawn with a return"]
    sink.close()
    assert heard[-1] == "[    30 s] no newline yet"


def test_terminal_gives_one_line_per_notebook_and_indents_progress():
    out = io.StringIO()
    terminal = runner.Terminal(out, live=False)
    terminal.start("[1/2] 01_article")
    terminal.finish("31 s")
    terminal.start("[2/2] 07_benchmark")
    terminal.progress("[     0 s] method 1/13 global_mean, fold u1 ...")
    terminal.progress("[     1 s] method 1/13 global_mean, fold u2 ...")
    terminal.finish("34 min 2 s")
    assert out.getvalue() == (
        "[1/2] 01_article ... 31 s\n"
        "[2/2] 07_benchmark ...\n"
        "      [     0 s] method 1/13 global_mean, fold u1 ...\n"
        "      [     1 s] method 1/13 global_mean, fold u2 ...\n"
        "[2/2] 07_benchmark ... 34 min 2 s\n")


def test_durations_parameters_and_kernel_transport():
    assert [runner.duration(s) for s in (0.4, 31.4, 59.6, 73, 305, 2031)] == [
        "0 s", "31 s", "1 min 0 s", "1 min 13 s", "5 min 5 s", "33 min 51 s"]
    assert [runner.parameter_value(v) for v in ("5000", "[1, 2]", "false", "null", "../benchmarks/results")] \
        == [5000, [1, 2], False, None, "../benchmarks/results"]
    if os.name == "posix":
        assert runner.kernel_config().KernelManager.transport == "ipc"


def test_a_failure_names_the_error_and_the_executed_notebook(tmp_path):
    executed = tmp_path / "01_article.ipynb"
    executed.write_text("{}")
    err = PapermillExecutionError(cell_index=7, exec_count=6, source="", ename="DataError",
                                  evalue="ml-100k/u.data:3: rating 6 is outside 1-5", traceback=[])
    message = runner.failure("01_article", err, executed, 1200)
    assert message.startswith("01_article failed: DataError: ml-100k/u.data:3: rating 6 is outside 1-5\n")
    assert f"see cell 8 of {executed}" in message
    timeout = type("CellTimeoutError", (Exception,), {})("Cell execution timed out")
    assert "a cell ran longer than 1200 s" in runner.failure("07_benchmark", timeout, tmp_path / "none", 1200)


def notebook(folder, name, kernel, code):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("output_dir = '.'\nsteps = 2", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, folder / f"{name}.ipynb")


def run_runner(*args, cwd=ROOT, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "movielens_fastai.reporting.runner", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three one-cell notebooks, one per way a run goes: progress lines, silent, failing."""
    folder = tmp_path_factory.mktemp("notebooks")
    notebook(folder, "a_progress", "movielens-fastai", (
        "import pathlib, sys\nimport movielens_fastai as mlf\nprogress = mlf.Progress()\n"
        "for i in range(steps):\n    progress(f'step {i + 1}/{steps}')\n    print('a table row')\n"
        "print('a warning', file=sys.stderr)\npathlib.Path(output_dir, 'a_progress.json').write_text('{}')"))
    notebook(folder, "b_silent", "movielens-fastai2", "print('only for the notebook')")
    notebook(folder, "c_failing", "movielens-fastai",
             "raise ValueError('bad parameters: steps must be positive')")
    return folder


def test_the_terminal_shows_the_run_and_nothing_else(tiny, tmp_path):
    done = run_runner("--notebooks", str(tiny), "--out", str(tmp_path), "-p", "steps", "3", "a_progress",
                      "b_silent")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""      # no "Kernel is running over TCP without encryption", no papermill log
    lines = done.stdout.splitlines()
    assert lines[:6] == ["[1/2] a_progress ...", "      [     0 s] step 1/3", "      [     0 s] step 2/3",
                         "      [     0 s] step 3/3", lines[4], lines[5]]
    assert lines[4].startswith("[1/2] a_progress ... ") and lines[4].endswith(" s")
    assert lines[5].startswith("[2/2] b_silent ... ") and lines[5].endswith(" s")
    assert lines[6].startswith("2 notebooks in ") and lines[6].endswith(f" In {tmp_path}/:")
    assert lines[7:] == ["  executed notebooks: a_progress.ipynb, b_silent.ipynb",
                         "  results:            a_progress.json"]


def test_a_failing_notebook_stops_the_run_with_its_error(tiny, tmp_path):
    done = run_runner("--notebooks", str(tiny), "--out", str(tmp_path), "c_failing", "a_progress")
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("[1/2] c_failing ... failed after ")
    assert "a_progress" not in done.stdout, "the run stops at the first failure"
    assert done.stderr.splitlines() == [
        "c_failing failed: ValueError: bad parameters: steps must be positive",
        f"  see cell 3 of {tmp_path / 'c_failing.ipynb'}, the executed notebook, for the traceback"]
    missing = run_runner("--notebooks", str(tiny), "--out", str(tmp_path), "z_absent")
    assert missing.returncode == 1 and missing.stderr.startswith("no such notebook(s) in ")


@pytest.mark.notebook
def test_make_runs_notebooks_on_a_quick_parameter_set(tmp_path, data_dir):
    """What `make run` shows, on a slice of the data (the Makefile runs the same command)."""
    done = run_runner("--out", str(tmp_path), "-p", "data_dir", str(data_dir), "-p", "max_ratings", "5000",
                      "-p", "epochs", "1", "-p", "recommend_for_user", "6", "01_article", "02_port")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert [line.rsplit(" ... ", 1)[0] for line in lines[:2]] == ["[1/2] 01_article", "[2/2] 02_port"]
    assert lines[2].endswith(f"In {tmp_path}/:")
    assert lines[3:] == [
        "  executed notebooks: 01_article.ipynb, 02_port.ipynb",
        "  results:            01_article.json, 02_port.json",
        "  plots:              01_article-losses.png, 01_article-lr_find.png, 02_port-losses.png, "
        "02_port-lr_find.png"]


def test_makefile_runs_the_article_and_the_port_and_lessons_runs_every_notebook():
    python311 = os.path.realpath(sys.executable)
    commands = subprocess.run(["make", "-n", "--no-print-directory", "run", "lessons", f"PYTHON={python311}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.splitlines()
    runs = [c.split(" --cell-timeout 07_benchmark=7200 ", 1)[1] for c in commands
            if c.startswith(".venv/bin/python -m movielens_fastai.reporting.runner --cell-timeout 1200 ")]
    every = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert runs == ["01_article 02_port", " ".join(every)]
    assert every[:8] == ["01_article", "02_port", "03_under_the_hood", "04_interpretation", "05_fast_fastai",
                         "06_recommending", "07_benchmark", "08_beyond"]
