"""The notebooks as committed: real outputs, but nothing of the machine that ran them."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from movielens_fastai.reporting.publish import MACHINE_PATH, normalise, publish

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNELS = {"movielens-fastai", "movielens-fastai2"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    assert nb.metadata.kernelspec.name in KERNELS
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)) or counts == [None] * len(code), counts
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"error output committed: {errors[0].ename}"
    warnings = [o.text for c in code for o in c.outputs
                if o.output_type == "stream" and o.name == "stderr" and "Warning" in o.text]
    assert not warnings, f"warning output committed: {warnings[0][:300]}"
    machine_paths = MACHINE_PATH.findall(path.read_text())
    assert not machine_paths, f"machine paths in {path.name}: {machine_paths[:3]}"


# A fastprogress bar as text: "6.12% [86/1406 00:00<00:12 ...]".
PROGRESS_TEXT = re.compile(r"(\d+(?:\.\d+)?)% \[(\d+)/(\d+)")


def output_texts(output) -> list[str]:
    texts = [output.get("text", "")]
    texts += [v for v in output.get("data", {}).values() if isinstance(v, str)]
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_show_no_frozen_bar_or_unfilled_template(path):
    """A bar stopped part-way ("6.12% [86/1406]") reads as a run that never finished, and fastai
    v1's lr_find prints "type {learner_name}.recorder.plot()" unformatted (lesson.finished_cleanly)."""
    for i, cell in enumerate(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"):
        for text in (t for o in cell.outputs for t in output_texts(o)):
            assert "<progress" not in text, f"code cell {i + 1}: an HTML progress bar in its output"
            frozen = [m.group(0) for m in PROGRESS_TEXT.finditer(text) if m.group(2) != m.group(3)]
            assert not frozen, f"code cell {i + 1}: a progress bar stopped at {frozen[0]}"
            assert "{learner_name}" not in text, f"code cell {i + 1}: an unformatted template string"


def test_every_notebook_is_committed_with_the_outputs_of_a_run():
    for path in NOTEBOOKS:
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), f"{path.name} is committed without outputs"
        plots = [o for c in code for o in c.outputs
                 if o.output_type == "display_data" and "image/png" in o.data]
        assert plots, f"{path.name} shows no plot"


def executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "movielens-fastai", "display_name": "x", "language": "python"},
                   "papermill": {"start_time": "2026-01-01"}, "widgets": {}}
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={
            "tags": ["parameters"], "execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"}}),
        nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print(path)", execution_count=7, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text=f"{ROOT}/x\n"),
        ]),
        nbformat.v4.new_code_cell("1", execution_count=3, outputs=[
            nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=3)]),
    ]
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    return path


def test_publish_normalises_a_run(tmp_path):
    dest = publish(executed_notebook(tmp_path), tmp_path / "out.ipynb")
    nb = nbformat.read(dest, as_version=4)
    assert set(nb.metadata) == {"kernelspec"}
    assert [c.source for c in nb.cells] == ["x = 1", "print(path)", "1"]
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    assert nb.cells[0].metadata == {"tags": ["parameters"]}
    assert nb.cells[1].outputs[0].text == "./x\n"
    assert nb.cells[2].outputs[0].execution_count == 3
    assert not MACHINE_PATH.search(dest.read_text())


def test_publish_rewrites_the_real_path_of_a_linked_environment(tmp_path):
    """A venv that is a symlink shows in tracebacks and profiles by its real path."""
    import os
    import site

    real = os.path.realpath(site.getsitepackages()[0])
    path = executed_notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs[0].text = f"{real}/fastai/basic_train.py:85(fit)\n"
    nbformat.write(nb, path)
    cell = nbformat.read(publish(path, tmp_path / "out.ipynb"), as_version=4).cells[1]
    assert cell.outputs[0].text == "<site-packages>/fastai/basic_train.py:85(fit)\n"


def test_publish_drops_a_display_that_was_blanked(tmp_path):
    """lesson.clear_stopped_bar empties a frozen bar's display; its leftover goes."""
    path = executed_notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs.append(nbformat.v4.new_output("display_data", data={
        "text/html": "", "text/plain": "<IPython.core.display.HTML object>"}))
    nbformat.write(nb, path)
    cell = nbformat.read(publish(path, tmp_path / "out.ipynb"), as_version=4).cells[1]
    assert [o.output_type for o in cell.outputs] == ["stream"]


def test_publish_refuses_a_failed_run(tmp_path):
    path = executed_notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs.append(nbformat.v4.new_output("error", ename="DataError", evalue="bad", traceback=[]))
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="refusing to publish a notebook with an error output"):
        publish(path, tmp_path / "out.ipynb")
    assert not (tmp_path / "out.ipynb").exists()


def test_normalise_is_idempotent(tmp_path):
    once = normalise(nbformat.read(executed_notebook(tmp_path), as_version=4))
    twice = normalise(nbformat.reads(nbformat.writes(once), as_version=4))
    assert json.loads(nbformat.writes(once)) == json.loads(nbformat.writes(twice))


def test_publish_drops_exactly_the_known_warnings(tmp_path):
    path = executed_notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    known = ("/env/fastai/imports/core.py:29: UserWarning: pkg_resources is deprecated as an API. See x.\n"
             "  import pkg_resources\n")
    other = "/env/x.py:3: UserWarning: something a reader should see\n  warn()\n"
    nb.cells[2].outputs += [nbformat.v4.new_output("stream", name="stderr", text=known),
                            nbformat.v4.new_output("stream", name="stderr", text=known + other)]
    nbformat.write(nb, path)
    cell = nbformat.read(publish(path, tmp_path / "out.ipynb"), as_version=4).cells[1]
    assert [o.get("name") for o in cell.outputs] == ["stdout", "stderr"]
    assert cell.outputs[1].text == other
