"""The tensor-slice loader (training.loaders) and the leaner learner (training.learner), against
fastai's own ``TabularCollab`` loaders and ``Learner``, in the fastai 2 environment."""

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.collab import EmbeddingDotBias, TabularCollab, collab_learner
from fastai.data.block import TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.learner import Learner
from fastai.optimizer import Adam
from fastai.tabular.core import Categorify, TabDataLoader
from fastai.torch_core import range_of, set_seed

from movielens_fastai.training.learner import LeanLearner, fast_collab_learner, foreach_adam, mse_flat
from movielens_fastai.training.loaders import collab_dataloaders, tensor_dataloaders

COLS = ["User ID", "Movie ID"]


def plain(v):
    return v if isinstance(v, str) else int(v)


def port_loaders(frame, valid_idx, bs):
    to = TabularCollab(frame, [Categorify], cat_names=COLS, y_names=["Rating"], y_block=TransformBlock(),
                       splits=IndexSplitter(valid_idx)(range_of(frame)))
    return to.dataloaders(bs=bs, dl_type=TabDataLoader)


# A small frame: user 99 and movie 999 appear only in validation (rows 7 and 11).
SMALL = pd.DataFrame({
    "User ID":  [30, 10, 20, 10, 40, 20, 30, 99, 40, 10, 30, 20, 40, 10, 20],
    "Movie ID": [5, 7, 5, 3, 7, 3, 3, 5, 5, 5, 7, 999, 3, 9, 9],
    "Rating":   [4, 3, 5, 1, 2, 4, 3, 5, 4, 2, 1, 3, 5, 4, 2],
    "Timestamp": 0,
})
SMALL_VALID = [2, 7, 11]


def test_numbering_is_categorifys():
    dls = collab_dataloaders(SMALL, SMALL_VALID, bs=4, device="cpu")
    port = port_loaders(SMALL, SMALL_VALID, 4)
    classes = {n: [plain(v) for v in dls.classes[n]] for n in COLS}
    assert classes == {n: [plain(v) for v in port.classes[n]] for n in COLS}
    assert classes == {"User ID": ["#na#", 10, 20, 30, 40], "Movie ID": ["#na#", 3, 5, 7, 9]}
    # validation rows 2, 7 (user 99, never in training) and 11 (movie 999, never in training)
    assert [int(i) for i in dls.valid.items.index] == SMALL_VALID
    assert dls.valid.x.tolist() == [[2, 2], [0, 2], [2, 0]]
    assert port.valid.xs.loc[dls.valid.items.index, COLS].to_numpy().tolist() == [[2, 2], [0, 2], [2, 0]]


def test_show_batch_decodes_ids_and_na():
    dls = collab_dataloaders(SMALL, SMALL_VALID, bs=4, device="cpu")
    shown = dls.valid.show_batch(show=False)
    assert list(shown.columns) == ["User ID", "Movie ID", "Rating"]
    assert [[plain(u), plain(m), float(r)] for u, m, r in shown.itertuples(index=False)] == \
        [[20, 5, 5.0], ["#na#", 5, 5.0], [20, "#na#", 3.0]]
    assert len(dls.train.show_batch(show=False, max_n=3)) == 3


@pytest.fixture(scope="module")
def big():
    """1,000 distinct (user, movie) pairs, 100 of them held out."""
    rng = np.random.default_rng(0)
    pairs = rng.choice(200 * 300, size=1000, replace=False)
    frame = pd.DataFrame({"User ID": pairs // 300, "Movie ID": pairs % 300,
                          "Rating": rng.integers(1, 6, 1000), "Timestamp": 0})
    return frame, np.sort(rng.choice(1000, 100, replace=False))


def served(loader):
    rows, sizes = [], []
    vocab = [np.asarray(loader.classes[n].items, dtype=object) for n in COLS]
    for x, y in loader:
        rows += [(plain(vocab[0][u]), plain(vocab[1][m])) for u, m in x.tolist()]
        sizes.append(len(y))
    return rows, sizes


def test_every_training_row_once_per_epoch(big):
    frame, valid = big
    train_rows = set(map(tuple, frame.drop(index=valid)[COLS].to_numpy().tolist()))
    dls = collab_dataloaders(frame, valid, bs=100, val_bs=30, device="cpu", seed=1)
    epoch1, sizes = served(dls.train)
    epoch2, _ = served(dls.train)
    assert (len(train_rows), len(dls.train), sorted(set(sizes))) == (900, 9, [100])
    assert len(epoch1) == len(set(epoch1)) == 900 and set(epoch1) <= train_rows
    assert set(epoch1) == set(epoch2) and epoch1 != epoch2   # the same rows, a new order
    # 900 = 14 * 64 + 4: the incomplete last batch is dropped, nothing is served twice
    dls = collab_dataloaders(frame, valid, bs=64, val_bs=30, device="cpu", seed=1)
    epoch, sizes = served(dls.train)
    assert (len(dls.train), sorted(set(sizes))) == (14, [64])
    assert len(epoch) == len(set(epoch)) == 896 and set(epoch) <= train_rows


def test_validation_order_is_fixed(big):
    frame, valid = big
    dls = collab_dataloaders(frame, valid, bs=64, val_bs=30, device="cpu", seed=1)
    first, sizes = served(dls.valid)
    again, _ = served(dls.valid)
    known = [set(dls.classes[n].items[1:]) for n in COLS]
    expected = [tuple(plain(v) if v in k else "#na#" for v, k in zip(row, known, strict=True))
                for row in frame.iloc[valid][COLS].to_numpy().tolist()]
    assert first == again == expected
    assert sizes == [30, 30, 30, 10]     # val_bs=30, nothing dropped
    assert sum("#na#" in row for row in expected) > 0


def test_learner_works_as_in_the_port(big):
    frame, valid = big
    dls = collab_dataloaders(frame, valid, bs=64, device="cpu", seed=1)
    learn = fast_collab_learner(dls, n_factors=8, y_range=[0, 5.5], wd=0.1, progress=False)
    with learn.no_logging():
        suggestion = learn.lr_find(num_it=30, show_plot=False)
        learn.fit_one_cycle(2, 0.01)
    losses = [[float(v) for v in row[:2]] for row in learn.recorder.values]
    preds, targets = learn.get_preds(dl=dls.valid)
    train_preds, _ = learn.get_preds(ds_idx=0)
    port = port_loaders(frame, valid, 64)
    port_preds, port_targets = collab_learner(port, n_factors=8, y_range=[0, 5.5]).get_preds(dl=port.valid)
    some_movies = [int(m) for m in dls.train.items["Movie ID"].iloc[:3]]
    assert list(preds.shape) == list(port_preds.shape) == [100]
    assert list(targets.shape) == list(port_targets.shape) == [100, 1]
    assert len(train_preds) == 900              # get_preds(ds_idx=0): no row dropped
    assert list(learn.model.bias(some_movies, is_item=True).shape) == [3]
    assert list(learn.model.weight(some_movies, is_item=True).shape) == [3, 8]
    assert bool((preds >= 0).all() and (preds <= 5.5).all())
    assert len(losses) == 2
    mse = float(((preds.flatten() - targets.flatten()) ** 2).mean())
    assert mse == pytest.approx(losses[-1][1], rel=1e-5)
    assert 1e-7 < float(suggestion.valley) < 10


def _losses(big, learner_cls=Learner, opt_func=foreach_adam, seed=3):
    frame, valid = big
    set_seed(seed)
    loaders = collab_dataloaders(frame, valid, bs=64, device="cpu")
    model = EmbeddingDotBias.from_classes(8, loaders.classes, y_range=[0, 5.5])
    one = learner_cls(loaders, model, loss_func=mse_flat, opt_func=opt_func, wd=0.1)
    with one.no_logging(), one.no_bar():
        one.fit_one_cycle(2, 0.01)
    return [[float(v) for v in row[:2]] for row in one.recorder.values]


def test_runs_repeat_and_lean_learner_changes_nothing(big):
    first = _losses(big)
    assert first == _losses(big) == _losses(big, LeanLearner)
    # fastai's own Adam, callback by callback, trains to the same losses as foreach_adam
    flat = [v for row in first for v in row]
    assert [v for row in _losses(big, opt_func=Adam) for v in row] == pytest.approx(flat, abs=1e-5)


def test_foreach_adam_steps_like_fastais_adam():
    torch.manual_seed(0)
    start = [torch.randn(5, 3), torch.randn(4)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(3)]
    after = {}
    for name, make in {"fastai": Adam, "foreach": foreach_adam}.items():
        params = [torch.nn.Parameter(p.clone()) for p in start]
        opt = make(params, lr=0.01, wd=0.1)
        for step, g in enumerate(grads):
            opt.set_hyper("mom", 0.9 - 0.02 * step)
            for p, gp in zip(params, g, strict=True):
                p.grad = gp.clone()
            opt.step()
            opt.zero_grad()
        after[name] = [p.detach() for p in params]
    assert max(float((a - b).abs().max()) for a, b in zip(after["foreach"], start, strict=True)) > 1e-3
    pairs = zip(after["fastai"], after["foreach"], strict=True)
    assert max(float((a - b).abs().max()) for a, b in pairs) < 1e-6


def test_tensor_dataloaders_shuffle_from_their_seed_and_make_batches():
    x, y = torch.arange(10), torch.arange(10.0)
    first = [xb.tolist() for xb, _ in tensor_dataloaders(x, y, bs=4, seed=5).train]
    again = [xb.tolist() for xb, _ in tensor_dataloaders(x, y, bs=4, seed=5).train]
    other = [xb.tolist() for xb, _ in tensor_dataloaders(x, y, bs=4, seed=6).train]
    assert first == again != other and len(first) == 2      # 10 = 2 * 4 + 2: the rest dropped
    assert sorted(v for b in first for v in b) == sorted(set(v for b in first for v in b))
    kept = tensor_dataloaders(x, y, bs=4, seed=5, drop_last=False).train
    assert sorted(v for xb, _ in kept for v in xb.tolist()) == list(range(10))
    made = tensor_dataloaders(x, y, bs=4, seed=5, batch_fn=lambda pos: (pos * 100, pos)).train
    assert [xb.tolist() for xb, _ in made] == [[v * 100 for v in b] for b in first]
    valid = tensor_dataloaders(x, y, bs=4, seed=5).valid
    assert [xb.tolist() for xb, _ in valid] == [[0, 1, 2, 3]]    # no validation data: the first batch
