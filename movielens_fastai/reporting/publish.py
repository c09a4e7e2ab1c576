"""Turn an executed notebook into the one we commit: the outputs of a real run stay
(a reader on GitHub sees the tables and plots), the run's noise goes.

    python -m movielens_fastai.reporting.publish output/01_article.ipynb notebooks/01_article.ipynb

Execution counts are renumbered 1, 2, ... in cell order; papermill's and Jupyter's
run metadata (timestamps, durations, injected parameters) are dropped; absolute paths
of the machine that ran it are rewritten; only the kernel and language metadata stay.
"""

from __future__ import annotations

import os
import re
import site
import sys
import sysconfig
from pathlib import Path

import nbformat

from ..core import SetupError, project_root, write_text_atomically
from ..data.movielens import DATA_DIR_ENV
from ..lesson import KNOWN_WARNINGS

KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")
KEPT_CELL_METADATA = ("tags",)


def _machine_paths() -> list[tuple[str, str]]:
    """(absolute prefix, what to show instead), longest first."""
    try:
        replacements = {str(project_root()): "."}
    except SetupError:
        replacements = {}
    for path in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}:
        replacements[path] = "<site-packages>"
    replacements[sys.prefix] = "<env>"
    replacements[str(Path.home())] = "~"
    if os.environ.get(DATA_DIR_ENV):
        # the data read from elsewhere: the reader sees the variable that pointed there
        replacements[os.environ[DATA_DIR_ENV].rstrip("/")] = f"${DATA_DIR_ENV}"
    # A kernel reports a symlinked venv (or checkout) by its real path: rewrite that one too.
    for path, shown in list(replacements.items()):
        replacements.setdefault(os.path.realpath(path), shown)
    return sorted(replacements.items(), key=lambda item: -len(item[0]))


def scrub(text: str, paths=None) -> str:
    for prefix, shown in paths or _machine_paths():
        text = text.replace(prefix, shown)
    return text


# One warning as Python prints it: "file:line: Category: message", then the indented source line.
_WARNING_RECORD = re.compile(r"^[^\n]*:\d+: (\w+): ([^\n]*)\n(?:  [^\n]*\n)?", re.M)


def drop_known_warnings(stderr: str) -> str:
    """stderr text without the records of ``lesson.KNOWN_WARNINGS`` (same message and category).

    The package silences those warnings when it is imported; this removes them from the
    outputs of a run made without the filters (an older run), and nothing else."""
    def known(record: re.Match) -> bool:
        category, message = record.group(1), record.group(2)
        return any(category == cls.__name__ and re.match(pattern, message) for pattern, cls in KNOWN_WARNINGS)

    return _WARNING_RECORD.sub(lambda record: "" if known(record) else record.group(0), stderr)


def _blanked(output) -> bool:
    """A display emptied after it was shown (``lesson.clear_stopped_bar``): only the repr of an
    empty HTML object is left, which a reader would see as text."""
    return output.get("output_type") == "display_data" and output.get("data", {}).get("text/html") == ""


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    paths = _machine_paths()
    nb.metadata = {k: nb.metadata[k] for k in KEPT_NOTEBOOK_METADATA if k in nb.metadata}
    nb.metadata.get("language_info", {}).pop("version", None)
    cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    count = 0
    for cell in cells:
        cell.metadata = {k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata}
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = [o for o in cell.get("outputs", []) if not (
            o.get("name") == "stderr" and not drop_known_warnings(o.text)) and not _blanked(o)]
        for output in cell.outputs:
            if output.get("name") == "stderr":
                output.text = drop_known_warnings(output.text)
            if "execution_count" in output:
                output.execution_count = count
            if "text" in output:
                output.text = scrub(output.text, paths)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output.data[mime] = scrub(value, paths)
            if "traceback" in output:
                output.traceback = [scrub(line, paths) for line in output.traceback]
    nb.cells = cells
    return nb


def publish(executed: str | os.PathLike, dest: str | os.PathLike) -> Path:
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        raise ValueError(f"{executed}: refusing to publish a notebook with an error output "
                         f"({errors[0].get('ename')}: {errors[0].get('evalue')})")
    return write_text_atomically(dest, nbformat.writes(normalise(nb)) + "\n")


# What an absolute path of the machine that ran a notebook looks like.
MACHINE_PATH = re.compile(r"(?<![\w.~>])/(?:home|root|tmp|work|usr|opt|Users|var|private)/")


def main(argv=None) -> None:
    executed, dest = (argv or sys.argv[1:])[:2]
    print(publish(executed, dest))


if __name__ == "__main__":
    main()
