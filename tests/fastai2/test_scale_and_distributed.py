"""Training at scale (training.sparse.LazyAdam, evaluation.scale) and in several processes
(training.distributed), in the fastai 2 environment."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from movielens_fastai.data.synthetic import movielens_like
from movielens_fastai.evaluation.scale import train
from movielens_fastai.training.sparse import LazyAdam


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_lazy_adam_moves_only_the_rows_a_batch_names():
    torch.manual_seed(0)
    table = torch.nn.Embedding(6, 3, sparse=True)
    before = table.weight.detach().clone()
    opt = LazyAdam(table.parameters(), lr=0.1, weight_decay=0.5)
    table(torch.tensor([1, 4, 4])).sum().backward()
    opt.step()
    moved = (table.weight.detach() != before).any(1).tolist()
    assert [i for i, m in enumerate(moved) if m] == [1, 4]


def test_lazy_adam_is_adamw_when_every_row_is_named():
    torch.manual_seed(0)
    dense = torch.nn.Embedding(6, 3)
    sparse = torch.nn.Embedding(6, 3, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    reference = torch.optim.AdamW(dense.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.5)
    lazy = LazyAdam(sparse.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.5)
    every_row = torch.tensor([0, 1, 2, 3, 4, 5, 2])
    for _ in range(3):
        for emb, o in ((dense, reference), (sparse, lazy)):
            o.zero_grad()
            (emb(every_row) ** 2).sum().backward()
            o.step()
    assert float((dense.weight - sparse.weight).abs().max()) < 1e-6


@pytest.fixture(scope="module")
def small_set():
    return movielens_like(60_000, n_users=600, n_movies=900, seed=3)


@pytest.fixture(scope="module")
def runs(small_set):
    """One small synthetic set, trained four ways."""
    torch.set_num_threads(1)
    ways = (("fastai", "lazy"), ("plain", "lazy"), ("fastai", "dense"), ("plain", "sparse_adam"))
    return {f"{e}/{o}": train(small_set, e, o, epochs=3, bs=2048, lr=0.03,
                              wd=0.0 if o == "sparse_adam" else 1.0)
            for e, o in ways}


def test_fastai_and_plain_pytorch_learn_alike(runs, small_set):
    floor = runs["fastai/lazy"]["noise_floor_mse"]
    for name, run in runs.items():
        assert run["train_rows"] + run["valid_rows"] == run["ratings"] == 60_000, name
        # learnt, not memorised
        assert floor - 0.1 < run["valid_mse"] < float(small_set.rating.var()) - 0.15, name
        assert run["peak_rss_mib"] >= run["fit_peak_rss_mib"] > 0
    # the same model, batches and schedule: the two ways to step land together
    assert abs(runs["fastai/lazy"]["valid_mse"] - runs["plain/lazy"]["valid_mse"]) < 0.01
    assert abs(runs["fastai/lazy"]["valid_mse"] - runs["fastai/dense"]["valid_mse"]) < 0.02


def test_a_run_records_the_versions_of_the_process_that_trained(runs):
    import fastai

    versions = runs["fastai/lazy"]["environment"]["versions"]
    assert versions["fastai"] == fastai.__version__ and versions["fastai"].startswith("2.")
    # the installed distribution's version, as the environment record reads it: 2.14.1 for PyPI's
    # build (whose torch.__version__ says +cu130), 2.13.0+cpu for PyTorch's CPU build
    assert versions["torch"] == importlib.metadata.version("torch")


def test_training_refuses_bad_settings(small_set):
    with pytest.raises(ValueError, match="torch.optim.SparseAdam has no weight decay: give wd=0"):
        train(small_set, "fastai", "sparse_adam", epochs=1, wd=1.0)
    with pytest.raises(ValueError, match=r"engine must be one of \('fastai', 'plain'\), got 'jax'"):
        train(small_set, "jax", "lazy")


@pytest.mark.training
def test_two_processes_train_as_one(data_dir, tmp_path):
    """The fast configuration in one process and in two (torchrun, gloo), one epoch each."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MOVIELENS_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    got = {}
    for name, cmd in (
        ("one", [sys.executable, "-m", "movielens_fastai.training.distributed"]),
        ("two", [str(bin_dir / "torchrun"), "--nproc_per_node", "2",
                 "-m", "movielens_fastai.training.distributed"]),
    ):
        out = tmp_path / f"{name}.json"
        done = subprocess.run([*cmd, "--epochs", "1", "--out", str(out)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}"
        got[name] = json.loads(out.read_text())
    one, two = got["one"], got["two"]
    assert (one["world_size"], one["backend"]) == (1, None)
    assert (two["world_size"], two["backend"]) == (2, "gloo")
    assert abs(one["valid_mse"] - two["valid_mse"]) < 1e-4
    assert abs(one["weights_checksum"] - two["weights_checksum"]) < 1e-3 * one["weights_checksum"]
    assert 0.78 < two["valid_mse"] < 1.0  # one epoch of the fast configuration on the article's split
