"""The tensor-slice DataLoaders and the leaner learner (movielens_fastai.fastai_data).

fastai 2 lives in .venv-fastai2 and pytest in .venv: tests/fastai2_checks.py computes the facts
there, once per module, and the tests below judge them."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON2 = ROOT / ".venv-fastai2" / "bin" / "python"


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    out = tmp_path_factory.mktemp("fastai2") / "facts.json"
    done = subprocess.run([str(PYTHON2), str(ROOT / "tests" / "fastai2_checks.py"), str(out)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_numbering_is_categorifys(facts):
    assert facts["classes"] == facts["categorify_classes"]
    assert facts["classes"] == {"User ID": ["#na#", 10, 20, 30, 40], "Movie ID": ["#na#", 3, 5, 7, 9]}
    # validation rows 2, 7 (user 99, never in training) and 11 (movie 999, never in training)
    assert facts["valid_items_index"] == [2, 7, 11]
    assert facts["valid_x"] == facts["categorify_valid_x"] == [[2, 2], [0, 2], [2, 0]]


def test_show_batch_decodes_ids_and_na(facts):
    assert facts["valid_show_batch"] == {"columns": ["User ID", "Movie ID", "Rating"],
                                         "rows": [[20, 5, 5.0], ["#na#", 5, 5.0], [20, "#na#", 3.0]]}
    assert facts["train_show_batch_len"] == 3


def test_every_training_row_once_per_epoch(facts):
    whole = facts["epochs_bs100"]
    assert whole == {"n_train": 900, "batches": 9, "sizes": [100], "served": 900, "distinct": 900,
                     "all_from_train": True, "same_set_both_epochs": True, "order_changed": True}
    # 900 = 14 * 64 + 4: the incomplete last batch is dropped, nothing is served twice
    partial = facts["epochs_bs64"]
    assert (partial["batches"], partial["sizes"]) == (14, [64])
    assert partial["served"] == partial["distinct"] == 896
    assert partial["all_from_train"] and partial["order_changed"]


def test_validation_order_is_fixed(facts):
    for key in ("valid_bs100", "valid_bs64"):
        valid = facts[key]
        assert valid["fixed"] and valid["in_frame_order"]
        assert valid["sizes"] == [30, 30, 30, 10]     # val_bs=30, nothing dropped
        assert valid["unknown_rows"] > 0


def test_learner_works_as_in_the_port(facts):
    learner = facts["learner"]
    assert learner["preds_shape"] == learner["port_preds_shape"] == [100]
    assert learner["targets_shape"] == learner["port_targets_shape"] == [100, 1]
    assert learner["train_preds_rows"] == 900              # get_preds(ds_idx=0): no row dropped
    assert learner["bias_shape"] == [3] and learner["weight_shape"] == [3, 8]
    assert learner["preds_in_range"]
    assert len(learner["losses"]) == 2
    assert learner["valid_mse"] == pytest.approx(learner["losses"][-1][1], rel=1e-5)
    assert 1e-7 < learner["lr_find_suggestion"] < 10


def test_runs_repeat_and_lean_learner_changes_nothing(facts):
    repeat = facts["repeat"]
    assert repeat["first"] == repeat["again"] == repeat["lean"]
    # fastai's own Adam, callback by callback, trains to the same losses as foreach_adam
    flat = [v for row in repeat["first"] for v in row]
    assert [v for row in repeat["fastai_adam"] for v in row] == pytest.approx(flat, abs=1e-5)


def test_foreach_adam_steps_like_fastais_adam(facts):
    assert facts["adam_moved"] > 1e-3
    assert facts["adam_max_difference"] < 1e-6
