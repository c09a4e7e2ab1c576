"""Notebook 09 (a saved model, a new user, the app in a cell), run quickly by papermill on its
fastai 2 kernel: trained on a slice for one epoch, saved, loaded, a new user's ten with reasons,
the "how's that movie?" answers, the plot, and the app served from the kernel (locally: on its own
port on 127.0.0.1). The server stops with the kernel, which papermill shuts down at the end."""

import nbformat
import pytest
from conftest import run_notebook

pytestmark = pytest.mark.notebook

QUICK = {"max_ratings": 20_000, "epochs": 1}


@pytest.fixture(scope="module")
def for_you(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("for-you")
    return run_notebook("09_for_you", out, data_dir=str(data_dir), **QUICK), out


def test_a_new_user_gets_ten_with_reasons(for_you):
    results, out = for_you
    assert results["parameters"]["max_ratings"] == 20_000
    model = results["model"]
    assert model["trained_here"] and (out / model["file"]).exists()
    assert model["data"]["ratings"] == 20_000 and 0.5 < model["valid_mse"] < 2.0
    picks = results["recommendations"]
    rated = {int(m) for m in results["my_ratings"]}
    assert len(picks) == 10 and not {p["Movie ID"] for p in picks} & rated
    assert all(p["Because"].startswith("because you ") or p["Because"] == "popular with everyone"
               for p in picks)
    assert [row["Movie ID"] for row in results["look_up"]] == results["parameters"]["look_up"]
    assert all(1 <= row["For me"] <= 5 for row in results["look_up"])
    assert len(results["as_ratings_come_in"]) == len(rated) + 1
    assert (out / results["plot_png"]).read_bytes()[:4] == b"\x89PNG"


def test_the_app_opens_in_the_cell(for_you):
    results, out = for_you
    app = results["app"]
    assert app["url"].startswith("http://127.0.0.1:") and not app["through_jupyter"]
    executed = nbformat.read(out / "09_for_you.ipynb", as_version=4)
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    frames = [o.data["text/html"] for o in outputs if "<iframe" in o.get("data", {}).get("text/html", "")]
    assert len(frames) == 1 and f'src="{app["url"]}"' in frames[0], frames
    stderr = [o.text for o in outputs if o.get("name") == "stderr"]
    assert not [t for t in stderr if "Warning" in t or "Error" in t], stderr
