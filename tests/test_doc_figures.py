"""Figures written into the prose of README and docs/ (outside the generated tables), each read
back from the page and checked against the results file or committed notebook output it comes
from; and the generated tables that have no other test, rendered again from their results files.

Each check names a page, a pattern whose groups are the figures as the page shows them, and a
function giving those figures from their source, formatted as the page formats them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_front_page import _bench_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def results(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def notebook_output(lesson: str, pattern: str) -> tuple[str, ...]:
    """The groups of the first match of pattern in the committed outputs of notebooks/<lesson>."""
    cells = json.loads((ROOT / "notebooks" / f"{lesson}.ipynb").read_text())["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(output.get("text", "")) + "".join(data.get("text/markdown", "")) \
                + "".join(data.get("text/plain", ""))
            found = re.search(pattern, text)
            if found:
                return found.groups()
    raise AssertionError(f"{lesson}'s committed outputs have nothing matching {pattern!r}")


def u1_rmse(method: str) -> str:
    row, = (r for r in results("folds")["summary"] if r["method"] == method)
    return f"{row['rmse_u1']:.4f}"


def scale_row(engine: str, optimizer: str, ratings: int = 25_000_000) -> dict:
    row, = (r for r in results("scale")["rows"]
            if (r["engine"], r["optimizer"], r["ratings"]) == (engine, optimizer, ratings))
    return row


def split_seconds(method: str) -> str:
    return f"{results('split')['methods'][method]['mean_fit_seconds']:.1f}"


def app_load_back_to_back() -> tuple[str, str]:
    phase = results("app_load")["phases"]["back to back (no pause)"]
    return f"{phase['per_second']:.0f}", f"{phase['p95_ms']:.0f}"


PORT_IN_05 = r"\| the port \(fastai 2\.8 as shipped\) \| [\d.]+ \| ([\d.]+) \|"
MODEL_FILE = r"09_for_you\.safetensors: (\d+\.\d) MiB"
FASTAI_25M = scale_row("fastai", "lazy")

CHECKS = {
    "the app's peak memory under load": (
        "docs/app.md", r"the server's memory peaked at (\d+) MiB under load",
        lambda: (f"{results('app_load')['memory']['peak_mib']:.0f}",)),
    "the app back to back": (
        "docs/app.md", r"the server answered (\d+) requests a second in the run above \(p95 (\d+) ms\)",
        app_load_back_to_back),
    "the served model's file": (
        "docs/app.md", r"the served model is a (\d+\.\d) MiB file \(as `09_for_you` prints it\)",
        lambda: notebook_output("09_for_you", MODEL_FILE)),
    "the Space's model file": (
        "docs/app.md", r"\((\d+\.\d) MiB for MovieLens 100K, as `09_for_you` prints it",
        lambda: notebook_output("09_for_you", MODEL_FILE)),
    "the bundle's file": (
        "docs/serving.md", r"; (\d+\.\d) MiB for MovieLens 100K, as `02_port` and `09_for_you` print it",
        lambda: notebook_output("09_for_you", MODEL_FILE)),
    "the bundle's movies": (
        "docs/serving.md", r"EASE's movie-by-movie weights \(([\d,]+) x ([\d,]+):",
        lambda: notebook_output("09_for_you", r"943 users and ([\d,]+) movies in the bundle") * 2),
    "myFM on u1": (
        "docs/benchmarks.md", r"On u1 alone those are (\d\.\d{4}), (\d\.\d{4}) and (\d\.\d{4})",
        lambda: tuple(u1_rmse(m) for m in ("myfm_vanilla", "myfm_extended", "myfm_probit"))),
    "05's one-seed verdict": (
        "docs/fast-path.md", r"the fast path at (\d\.\d\d)× the plain loop, and the fast configuration "
                             r"through fastai at (\d\.\d\d) s",
        lambda: notebook_output("05_fast_fastai", r"The fast path took \*\*(\d\.\d\d)×\*\*")
        + notebook_output("05_fast_fastai", r"`Learner` took \*\*(\d\.\d\d) s\*\*")),
    "the port in 05 and in the split run": (
        "docs/fast-path.md", r"the port took (\d+\.\d\d) s in it, (\d+\.\d) s on average in the split run",
        lambda: notebook_output("05_fast_fastai", PORT_IN_05)
        + (split_seconds("fastai 2.8.12, the port (02_port)"),)),
    "25M through fastai": (
        "docs/fast-path.md", r"25M ratings × 5 epochs through fastai's `Learner`: (\d+) s "
                             r"\(goal ≤ (\d+) s: met\) and ([\d,]+) MiB peak "
                             r"\(goal ≤ ([\d,]+) MiB: not met, (\d+) MiB over\)",
        lambda: (f"{FASTAI_25M['fit_seconds']:.0f}", f"{results('scale')['goal']['seconds_goal']}",
                 f"{FASTAI_25M['peak_rss_mib']:,.0f}", f"{results('scale')['goal']['peak_mib_goal']:,}",
                 f"{FASTAI_25M['peak_rss_mib'] - results('scale')['goal']['peak_mib_goal']:.0f}")),
    "25M through the plain loop": (
        "docs/fast-path.md", r"The plain PyTorch loop on the same loaders peaks at ([\d,]+) MiB here",
        lambda: (f"{scale_row('plain', 'lazy')['peak_rss_mib']:,.0f}",)),
}


def shown(page: str, pattern: str) -> tuple[str, ...]:
    text = " ".join((ROOT / page).read_text().split())
    found = re.search(pattern, text)
    assert found, f"{page}: no text matching {pattern!r}"
    return found.groups()


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_figure_in_the_prose_is_its_sources(name):
    page, pattern, source = CHECKS[name]
    assert shown(page, pattern) == tuple(source()), f"{page}: {name}"


def test_a_figure_typed_by_hand_is_caught(tmp_path):
    """The same check on a page whose figure was retyped: it no longer equals its source."""
    page, pattern, source = CHECKS["the app back to back"]
    wrong = (ROOT / page).read_text().replace(
        f"answered {source()[0]} requests a second", f"answered {int(source()[0]) + 5} requests a second")
    (tmp_path / "app.md").write_text(wrong)
    found = re.search(pattern, " ".join(wrong.split()))
    assert found and found.groups() != source()


def test_the_binder_table_is_the_one_its_suite_renders():
    text = (ROOT / "docs" / "install.md").read_text()
    block = text.split("<!-- benchmark:binder -->\n", 1)[1].split("<!-- /benchmark:binder -->", 1)[0]
    assert block == _bench_run().binder_table(results("binder"))
