"""The app as a person uses it: a real server, a real browser, the page's own controls.

The server is the app's command (``python -m movielens_fastai.serving.app``) run by
``.venv-fastai2``'s Python on 127.0.0.1 and a free port, with no saved model: it trains one first
(printing each step) and then serves it; it is stopped whatever happens. Headless Chromium
(Debian's, driven by Playwright with ``executable_path``, as tests/test_browser_notebooks.py does) types part
of a title, picks it, rates five movies, asks for ten and looks up a movie's predicted rating; a
title the model does not know and a list asked for with no ratings get their plain messages, and
the page goes on working. Every request the page makes must go to 127.0.0.1: no fonts, scripts or
analytics from elsewhere. The last test opens notebooks/09_for_you.ipynb in Jupyter as Binder
serves it (a base URL, ``JUPYTERHUB_SERVICE_PREFIX``, jupyter-server-proxy), runs it, and uses the
app inside the notebook's output, whose page must come through Jupyter's own port.

Screenshots go to output/screenshots/. Run alone with ``.venv/bin/python -m pytest
tests/test_browser_app.py``; it is marked ``browser`` and skips without chromium (fails under CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from urllib.parse import urlparse

import pytest
from conftest import NOTEBOOKS, ROOT, full_data_dir
from test_browser_notebooks import (
    CHROMIUM,
    JUPYTER,
    SCREENSHOTS,
    menu,
    stop_server,
    wait_for_run,
    wait_for_server,
)

from movielens_fastai.core import free_port
from movielens_fastai.reporting import hosted

pytestmark = pytest.mark.browser

PYTHON2 = ROOT / ".venv-fastai2" / "bin" / "python"
PAGE_TIMEOUT = 60_000
# Training the model first on 2 busy cores, then the page (seconds).
START_TIMEOUT = 900
FIVE = [("star wa", "Star Wars (1977)", 5), ("empire str", "Empire Strikes Back, The (1980)", 5),
        ("return of the je", "Return of the Jedi (1983)", 4),
        ("raiders", "Raiders of the Lost Ark (1981)", 5), ("toy sto", "Toy Story (1995)", 3)]


def python_path() -> str:
    """This checkout first on the path of the processes started here (whatever the environments'
    own install of the package points at), then what the caller had."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def stop_group(process: subprocess.Popen) -> None:
    """End the process and anything it started (its own session), politely first."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """The app's command with no model yet: it trains one, saves it, serves it. Base URL, log, model."""
    if not PYTHON2.exists():
        pytest.skip(".venv-fastai2 does not exist: make setup")
    home = tmp_path_factory.mktemp("app")
    model, log, port = home / "model.safetensors", home / "server.log", free_port()
    env = {**os.environ, "PYTHONPATH": python_path(), "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [str(PYTHON2), "-m", "movielens_fastai.serving.app", "--model", str(model), "--port", str(port),
               "--data-dir", str(full_data_dir())]
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while f"Serving on {base}/" not in log.read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start (exit {server.poll()}):\n"
                                   f"{log.read_text()[-3000:]}")
            time.sleep(1)
        wait_for_server(f"{base}/", server, log)
        yield {"base": base, "log": log, "model": model}
    finally:
        stop_group(server)


@pytest.fixture(scope="module")
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


@pytest.fixture
def page(browser):
    """A fresh page that records the host of every request it makes."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(PAGE_TIMEOUT)
    page.hosts = set()
    page.on("request", lambda request: page.hosts.add(urlparse(request.url).netloc or request.url[:20]))
    try:
        yield page
    finally:
        page.close()


def only_loopback(hosts: set[str]) -> None:
    elsewhere = {h for h in hosts if not h.startswith("127.0.0.1:") and not h.startswith("data:")}
    assert not elsewhere, f"the page asked hosts other than 127.0.0.1: {sorted(elsewhere)}"


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def pick(scope, field: str, typed: str, title: str | None) -> None:
    """Type part of a title into a picker as a person does; choose ``title`` from what it offers
    (or, with None, leave the typed text as it is)."""
    box = scope.locator(f"#{field} input")
    box.click()
    box.fill("")
    box.press_sequentially(typed, delay=30)
    if title is None:
        box.press("Enter")   # no title matches: what was typed stays as the value
        return
    scope.get_by_role("option", name=title, exact=True).first.click()


def data_rows(scope, table: str):
    """A Gradio table's data rows (its rows are ARIA rows; the first is the header)."""
    return scope.locator(f"#{table} [role=row]").filter(has=scope.locator("[role=gridcell], td"))


def table_rows(scope, table: str) -> list[list[str]]:
    rows = data_rows(scope, table)
    return [[cell.strip() for cell in rows.nth(i).locator("[role=gridcell], td").all_inner_texts()]
            for i in range(rows.count())]


def rate_five_and_ask(scope) -> list[list[str]]:
    """Rate FIVE on the page in ``scope`` (a page or a frame), ask for ten; the list's rows."""
    for typed, title, stars in FIVE:
        pick(scope, "pick", typed, title)
        number = scope.locator("#stars input[type=number]")
        number.fill(str(stars))
        number.press("Enter")
        scope.locator("#rate").click()
        scope.locator("#message", has_text=f"Rated {title}: {stars} of 5").wait_for()
    assert len(table_rows(scope, "rated")) == 5, scope.locator("#rated").inner_text()
    scope.locator("#recommend").click()
    scope.locator("#message", has_text="Ten movies for you, from your 5 ratings.").wait_for()
    data_rows(scope, "listed").nth(9).wait_for()
    return table_rows(scope, "listed")


def check_the_list(rows: list[list[str]]) -> None:
    rated = {title for _, title, _ in FIVE}
    assert [row[0] for row in rows] == [str(i) for i in range(1, 11)], rows
    titles = [row[1] for row in rows]
    assert len(set(titles)) == 10 and not set(titles) & rated, titles
    for _, title, predicted, because in rows:
        assert 1 <= float(predicted) <= 5, (title, predicted)
        reason = because.removeprefix("because you liked ").removeprefix("because you watched ")
        assert reason in rated or because == "popular with everyone", because


def test_a_person_rates_five_movies_gets_ten_and_looks_one_up(app_server, page):
    log = app_server["log"].read_text()
    assert "No model at" in log and "training one first" in log, log[:500]
    for step in ("Checking MovieLens 100K", "epoch 5/5: training loss", "validation MSE",
                 "Fitting the new-user ranker", "Trained in", "Serving on"):
        assert step in log, f"the command did not say {step!r}:\n{log}"
    assert app_server["model"].exists()
    try:
        page.goto(app_server["base"] + "/")
        page.locator("#pick input").wait_for()
        rows = rate_five_and_ask(page)
        check_the_list(rows)
        pick(page, "look", "titanic", "Titanic (1997)")
        page.locator("#ask").click()
        answer = page.locator("#answer", has_text="Titanic (1997)")
        answer.wait_for()
        found = re.search(r"you would give it about (\d\.\d) of 5, from your 5 ratings\.",
                          answer.inner_text())
        assert found and 1 <= float(found[1]) <= 5, answer.inner_text()
        only_loopback(page.hosts)
    finally:
        screenshot(page, "app")


def test_bad_input_on_the_page_gets_a_plain_message_and_the_page_goes_on(app_server, page):
    page.goto(app_server["base"] + "/")
    page.locator("#pick input").wait_for()
    page.locator("#recommend").click()   # no ratings
    page.locator("#message", has_text="No ratings yet, so these are the movies most people liked").wait_for()
    data_rows(page, "listed").nth(9).wait_for()
    pick(page, "pick", "Star Warz", None)   # a title the model does not know, typed and left as is
    page.locator("#rate").click()
    page.locator("#message", has_text="No movie this model knows has 'Star Warz' in its title").wait_for()
    page.locator("#ask").click()   # nothing picked
    page.locator("#answer", has_text="Pick a movie first").wait_for()
    pick(page, "pick", "star wa", "Star Wars (1977)")   # and the page goes on
    page.locator("#rate").click()
    page.locator("#message", has_text="Rated Star Wars (1977)").wait_for()
    assert page.locator(".toast-wrap .toast-body, .error").count() == 0
    only_loopback(page.hosts)


def test_markup_typed_into_the_picker_is_shown_as_typed(app_server, page):
    """Markdown and HTML a person types come back as the characters typed: no bold, no link, no tag."""
    typed = "**bold** [link](http://example.com) <b>tag</b>"
    page.goto(app_server["base"] + "/")
    page.locator("#pick input").wait_for()
    pick(page, "pick", typed, None)
    page.locator("#rate").click()
    message = page.locator("#message", has_text="No movie this model knows has")
    message.wait_for()
    shown = message.inner_text()
    assert f"No movie this model knows has {typed!r} in its title" in shown, shown
    assert message.locator("strong, b, a").count() == 0, message.inner_html()
    only_loopback(page.hosts)


def jupyter_has_the_proxy() -> bool:
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def test_the_notebook_opens_the_app_through_jupyters_own_server(app_server, browser, tmp_path):
    """As on Binder: Jupyter under /user/<name>/, the kernel told so by JUPYTERHUB_SERVICE_PREFIX; the
    app in the notebook's output is reached through Jupyter's port, never its own."""
    if not jupyter_has_the_proxy():
        pytest.skip("jupyter-server-proxy is not in .venv (make setup installs it from requirements.txt)")
    prefix = "/user/tester/"
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("models", ".ipynb_checkpoints"))
    port, token = free_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTERHUB_SERVICE_PREFIX": prefix, "PYTHONPATH": python_path(),
           "GRADIO_ANALYTICS_ENABLED": "False", "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    command = [str(JUPYTER), "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", f"--ServerApp.base_url={prefix}",
               "--ServerApp.jpserver_extensions=jupyter_server_proxy=True"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = tmp_path / "jupyter.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}{prefix.rstrip('/')}"
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(PAGE_TIMEOUT)
    hosts = set()
    # The notebook's own "Open in" badges are images from their hosts; nothing else may leave.
    badges = set(hosted.BADGE_IMAGES.values())
    page.on("request", lambda request: request.url in badges or hosts.add(urlparse(request.url).netloc))
    try:
        wait_for_server(f"{base}/api/status?token={token}", server, log)
        output_dir = tmp_path / "output"
        notebook = root / "09_for_you.ipynb"
        nb = json.loads(notebook.read_text())
        cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
        cell["source"] = "".join(cell["source"]) + (
            f"\ndata_dir = {str(full_data_dir())!r}\noutput_dir = {str(output_dir)!r}"
            f"\nmodel_path = {str(app_server['model'])!r}\n")
        notebook.write_text(json.dumps(nb))
        page.goto(f"{base}/notebooks/09_for_you.ipynb?token={token}")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
        page.wait_for_function(
            "name => document.querySelector('.jp-Toolbar-kernelName')?.innerText.trim() === name",
            arg=nb["metadata"]["kernelspec"]["display_name"], timeout=PAGE_TIMEOUT)
        menu(page, "Edit", "Clear Outputs of All Cells")
        menu(page, "Run", "Run All Cells")
        wait_for_run(page, 600_000)
        frame_element = page.locator(".jp-OutputArea-output iframe").first
        frame_element.wait_for()
        src = frame_element.get_attribute("src")
        assert src.startswith(f"{prefix}proxy/"), src   # through Jupyter's server, not the app's port
        frame = frame_element.content_frame
        frame.locator("#pick input").wait_for()
        check_the_list(rate_five_and_ask(frame))
        app_ports = {h for h in hosts if h != f"127.0.0.1:{port}"}
        assert not app_ports, f"the page reached around Jupyter's server: {sorted(app_ports)}"
        results = json.loads((output_dir / "09_for_you.json").read_text())
        assert results["app"]["url"] == src
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "09_for_you_binder.png"), full_page=True)
        page.close()
        stop_server(server, f"{base}/api", token)
