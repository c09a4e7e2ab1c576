"""The notebooks as a person runs them: a real Jupyter server, a real browser, the menus.

A session-scoped Jupyter server (the `notebook` 7 package from `.venv`, as `make jupyter`
starts it) serves a temporary copy of notebooks/ on 127.0.0.1 with a token. Headless
Chromium opens each notebook, types new values into its `parameters` cell, runs
*Run → Run All Cells* and waits for the kernel to finish. The checks are what a reader
would see: the notebook's own kernel (no kernel picker, no "No Kernel"), no error, no
library warning, the lr_find and loss plots as images, the "validation MSE" line, and the
results JSON the notebook writes. A full-page screenshot of each run is kept in
output/screenshots/.

The browser is Debian's `chromium` package, driven by Playwright (from PyPI) with
`executable_path`, so nothing is downloaded at test time. Playwright rather than Selenium:
its locators wait for the page by themselves (JupyterLab renders everything
asynchronously), it takes full-page screenshots itself, and it needs no chromedriver whose
version must match the browser's.

Run it alone with `.venv/bin/python -m pytest -m browser`. Without chromium it skips,
except under CI (CI=true), where a missing browser fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import NOTEBOOKS, ROOT, full_data_dir

from movielens_fastai.core import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "output" / "screenshots"
JUPYTER = Path(sys.executable).with_name("jupyter")
# Bounded waits (milliseconds): the server and the page, then a whole notebook's run.
PAGE_TIMEOUT = 60_000
RUN_TIMEOUT = 240_000
# What a person types over the parameters cell's lines (the output_dir is added per run).
EDITS = {"max_ratings": "5000", "epochs": "1"}


def wait_for_server(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter did not answer {url} within {timeout} s:\n{log.read_text()}")


def stop_server(server: subprocess.Popen, api: str, token: str) -> None:
    """Shut down the server and every kernel it started, whatever state they are in."""
    import psutil

    try:
        kernels = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kernels = []
    try:  # the polite way: the server shuts its kernels down itself
        request = urllib.request.Request(f"{api}/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=10).close()
        server.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    # Kernels run in process groups of their own: end any that outlived the server, by pid.
    for kernel in kernels:
        try:
            kernel.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(kernels, timeout=10)


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory):
    """`jupyter notebook` on 127.0.0.1 serving a copy of notebooks/: base URL, token, root folder."""
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("models", ".ipynb_checkpoints"))
    port, token = free_port(), uuid.uuid4().hex
    env = dict(os.environ)  # JUPYTER_PATH finds both kernels (conftest.py sets it)
    # Nothing from the user's own Jupyter settings, kernels or workspaces.
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    command = [str(JUPYTER), "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = home / "server.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", server, log)
        yield {"base": base, "token": token, "root": root, "log": log}
    finally:
        stop_server(server, f"{base}/api", token)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason}; CI installs it in .ci/run")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield chromium
        finally:
            chromium.close()


def code_cells(page):
    return page.locator(".jp-Notebook .jp-CodeCell")


def cell_with(page, text: str):
    """The code cell whose source contains text."""
    return code_cells(page).filter(has=page.locator(".jp-InputArea-editor", has_text=text)).first


def menu(page, top: str, item: str) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-item", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-content .lm-Menu-item", has_text=re.compile(f"^{re.escape(item)}")).first.click()


def edit_parameters(page, values: dict[str, str]) -> str:
    """Type over the lines `name = ...` of the parameters cell, as a person does; its new text."""
    sources = code_cells(page).locator(".jp-InputArea-editor").all_text_contents()
    index = next(i for i, text in enumerate(sources) if "max_ratings = None" in text)
    editor = code_cells(page).nth(index).locator(".cm-content")  # fixed: its text changes below
    editor.click()
    for name, value in values.items():
        lines = editor.locator(".cm-line").all_inner_texts()
        row = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ="))
        page.keyboard.press("Control+Home")
        for _ in range(row):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Home")
        page.keyboard.press("Shift+End")
        page.keyboard.type(f"{name} = {value}")
    page.keyboard.press("Escape")  # leave the editor, as after typing
    return "\n".join(editor.locator(".cm-line").all_inner_texts())


def wait_for_run(page, timeout_ms: int) -> None:
    """Wait until the queued cells have run: no "[*]" prompt left and the kernel idle."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                   .some(p => p.textContent.includes('*'))""", timeout=PAGE_TIMEOUT)
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                    .some(p => p.textContent.includes('*'))
                 && document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'""",
        timeout=timeout_ms, polling=1000)


def wait_for_saved(path: Path, text: str, timeout: float = 30) -> dict:
    """The notebook file once the browser has saved it (it then holds text)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} was not saved within {timeout} s")
        time.sleep(0.5)
    return json.loads(path.read_text())


def screenshot(page, name: str) -> Path:
    """The whole notebook in one image: the window made as tall as the notebook, then captured."""
    height = page.evaluate("() => document.querySelector('.jp-WindowedPanel-outer')?.scrollHeight ?? 700")
    page.set_viewport_size({"width": 1280, "height": min(height + 200, 30_000)})
    page.wait_for_timeout(1000)  # let the newly visible cells paint
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.parametrize("name", ["01_article", "02_port"])
def test_notebook_runs_in_the_browser(name, browser, jupyter, tmp_path):
    kernelspec = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["metadata"]["kernelspec"]
    output_dir = tmp_path / "output"
    values = dict(EDITS, data_dir=f'"{full_data_dir()}"', output_dir=f'"{output_dir}"')
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT)
    try:
        page.goto(f"{jupyter['base']}/notebooks/{name}.ipynb?token={jupyter['token']}")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
        # The notebook's own kernel starts: its name in the toolbar, no kernel picker.
        kernel = page.locator(".jp-Toolbar-kernelName")
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
        page.wait_for_function(
            "name => document.querySelector('.jp-Toolbar-kernelName')?.innerText.trim() === name",
            arg=kernelspec["display_name"], timeout=PAGE_TIMEOUT)
        assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").inner_text()
        assert "No Kernel" not in kernel.inner_text()

        menu(page, "Edit", "Clear Outputs of All Cells")
        assert page.locator(".jp-OutputArea-output").count() == 0
        source = edit_parameters(page, values)
        for key, value in values.items():
            assert f"\n{key} = {value}\n" in f"\n{source}\n", source

        menu(page, "Run", "Run All Cells")
        wait_for_run(page, RUN_TIMEOUT)

        assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").inner_text()
        prompts = [p.strip() for p in code_cells(page).locator(".jp-InputPrompt").all_text_contents()]
        assert prompts == [f"[{i}]:" for i in range(1, len(prompts) + 1)], \
            f"not every cell ran, in order, in this kernel: {prompts}"
        stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        shown = stderr.all_text_contents()
        assert not [text for text in shown if "Error" in text or "Traceback" in text], shown
        for plot in ("lr_find(", "plot_loss"):
            image = cell_with(page, plot).locator(".jp-OutputArea-output img")
            assert image.count() == 1, f"the cell calling {plot} shows no plot"
            assert image.get_attribute("src").startswith("data:image/png")
            assert image.evaluate("img => img.complete && img.naturalWidth > 100")

        last_output = code_cells(page).last.locator(".jp-OutputArea-output").all_text_contents()
        line = re.search(r"validation MSE (\d+\.\d+), fit .* -> (.*\.json)", "\n".join(last_output))
        assert line, last_output
        assert line.group(2) == str(output_dir / f"{name}.json")
        # Save, as a person would; the file then holds this run's outputs (that line names output_dir).
        page.keyboard.press("Control+s")
        saved = wait_for_saved(jupyter["root"] / f"{name}.ipynb", line.group(0))
        results = json.loads((output_dir / f"{name}.json").read_text())
        assert results["parameters"]["max_ratings"] == 5000 and results["parameters"]["epochs"] == 1
        assert results["dataset"]["ratings"] == 5000
        assert 0.5 < results["valid_mse"] < 2.0
        assert line.group(1) == f"{results['valid_mse']:.4f}"
        assert saved["metadata"]["kernelspec"]["name"] == kernelspec["name"]
        outputs = [o for cell in saved["cells"] for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"]
        # Last, so that everything above is checked too: no library warning reaches the reader.
        warnings = [text for text in shown if "Warning" in text]
        assert not warnings, "\n".join(warnings)
    finally:
        screenshot(page, name)
        page.close()
