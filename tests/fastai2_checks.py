"""Facts about movielens_fastai.fastai_data, computed in the fastai 2 environment.

Run by tests/test_fastai_data.py with .venv-fastai2's Python (pytest lives in .venv); writes one
JSON object to the file named by its argument. Not a test module itself.
"""

import json
import sys
import warnings

import numpy as np
import pandas as pd
import torch
from fastai.collab import TabularCollab, collab_learner
from fastai.data.block import TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.learner import Learner
from fastai.optimizer import Adam
from fastai.tabular.core import Categorify, TabDataLoader
from fastai.torch_core import range_of, set_seed

from movielens_fastai.fastai_data import (
    collab_dataloaders,
    fast_collab_learner,
    foreach_adam,
    lean_learner_class,
    mse_flat,
)

warnings.filterwarnings("ignore")
COLS = ["User ID", "Movie ID"]
out = {}


def plain(v):
    return v if isinstance(v, str) else int(v)


# A small frame: user 99 and movie 999 appear only in validation (rows 7 and 11).
small = pd.DataFrame({
    "User ID":  [30, 10, 20, 10, 40, 20, 30, 99, 40, 10, 30, 20, 40, 10, 20],
    "Movie ID": [5, 7, 5, 3, 7, 3, 3, 5, 5, 5, 7, 999, 3, 9, 9],
    "Rating":   [4, 3, 5, 1, 2, 4, 3, 5, 4, 2, 1, 3, 5, 4, 2],
    "Timestamp": 0,
})
valid_idx = [2, 7, 11]
dls = collab_dataloaders(small, valid_idx, bs=4, device="cpu")
to = TabularCollab(small, [Categorify], cat_names=COLS, y_names=["Rating"], y_block=TransformBlock(),
                   splits=IndexSplitter(valid_idx)(range_of(small)))
port = to.dataloaders(bs=4, dl_type=TabDataLoader)
out["classes"] = {n: [plain(v) for v in dls.classes[n]] for n in COLS}
out["categorify_classes"] = {n: [plain(v) for v in port.classes[n]] for n in COLS}
out["valid_x"] = dls.valid.x.tolist()
out["categorify_valid_x"] = port.valid.xs.loc[dls.valid.items.index, COLS].to_numpy().tolist()
out["valid_items_index"] = [int(i) for i in dls.valid.items.index]
shown = dls.valid.show_batch(show=False)
out["valid_show_batch"] = {
    "columns": list(shown.columns),
    "rows": [[plain(u), plain(m), float(r)] for u, m, r in shown.itertuples(index=False)]}
out["train_show_batch_len"] = len(dls.train.show_batch(show=False, max_n=3))

# Every training row once per epoch; the last incomplete batch dropped; a new order each epoch.
rng = np.random.default_rng(0)
pairs = rng.choice(200 * 300, size=1000, replace=False)
big = pd.DataFrame({"User ID": pairs // 300, "Movie ID": pairs % 300, "Rating": rng.integers(1, 6, 1000),
                    "Timestamp": 0})
big_valid = np.sort(rng.choice(1000, 100, replace=False))
train_rows = set(map(tuple, big.drop(index=big_valid)[COLS].to_numpy().tolist()))


def served(loader):
    rows, sizes = [], []
    for x, y in loader:
        vocab = [np.asarray(loader.classes[n].items, dtype=object) for n in COLS]
        rows += [(plain(vocab[0][u]), plain(vocab[1][m])) for u, m in x.tolist()]
        sizes.append(len(y))
    return rows, sizes


for bs in (100, 64):
    big_dls = collab_dataloaders(big, big_valid, bs=bs, val_bs=30, device="cpu", seed=1)
    epoch1, sizes1 = served(big_dls.train)
    epoch2, _ = served(big_dls.train)
    out[f"epochs_bs{bs}"] = {
        "n_train": len(train_rows), "batches": len(big_dls.train), "sizes": sorted(set(sizes1)),
        "served": len(epoch1), "distinct": len(set(epoch1)), "all_from_train": set(epoch1) <= train_rows,
        "same_set_both_epochs": set(epoch1) == set(epoch2) if bs == 100 else None,
        "order_changed": epoch1 != epoch2,
    }
    valid1, vsizes = served(big_dls.valid)
    valid2, _ = served(big_dls.valid)
    known = [set(big_dls.classes[n].items[1:]) for n in COLS]
    expected = [tuple(plain(v) if v in k else "#na#" for v, k in zip(row, known, strict=True))
                for row in big.iloc[big_valid][COLS].to_numpy().tolist()]
    out[f"valid_bs{bs}"] = {"fixed": valid1 == valid2, "sizes": vsizes, "in_frame_order": valid1 == expected,
                            "unknown_rows": sum("#na#" in row for row in expected)}

# get_preds, bias and weight, lr_find, fit_one_cycle, as in the port.
big_dls = collab_dataloaders(big, big_valid, bs=64, device="cpu", seed=1)
learn = fast_collab_learner(big_dls, n_factors=8, y_range=[0, 5.5], wd=0.1, progress=False)
with learn.no_logging():
    suggestion = learn.lr_find(num_it=30, show_plot=False)
    learn.fit_one_cycle(2, 0.01)
fit_losses = [[float(v) for v in row[:2]] for row in learn.recorder.values]
preds, targets = learn.get_preds(dl=big_dls.valid)
train_preds, _ = learn.get_preds(ds_idx=0)
port_big = TabularCollab(big, [Categorify], cat_names=COLS, y_names=["Rating"], y_block=TransformBlock(),
                         splits=IndexSplitter(big_valid)(range_of(big)))
port_big = port_big.dataloaders(bs=64, dl_type=TabDataLoader)
port_learn = collab_learner(port_big, n_factors=8, y_range=[0, 5.5])
port_preds, port_targets = port_learn.get_preds(dl=port_big.valid)
some_movies = [int(m) for m in big_dls.train.items["Movie ID"].iloc[:3]]
out["learner"] = {
    "lr_find_suggestion": float(suggestion.valley),
    "losses": fit_losses,
    "preds_shape": list(preds.shape), "targets_shape": list(targets.shape),
    "port_preds_shape": list(port_preds.shape), "port_targets_shape": list(port_targets.shape),
    "train_preds_rows": len(train_preds),
    "valid_mse": float(((preds.flatten() - targets.flatten()) ** 2).mean()),
    "bias_shape": list(learn.model.bias(some_movies, is_item=True).shape),
    "weight_shape": list(learn.model.weight(some_movies, is_item=True).shape),
    "preds_in_range": bool((preds >= 0).all() and (preds <= 5.5).all()),
}


def losses(learner_cls=None, opt_func=foreach_adam, seed=3):
    set_seed(seed)
    loaders = collab_dataloaders(big, big_valid, bs=64, device="cpu")
    from fastai.collab import EmbeddingDotBias

    model = EmbeddingDotBias.from_classes(8, loaders.classes, y_range=[0, 5.5])
    cls = learner_cls or Learner
    one = cls(loaders, model, loss_func=mse_flat, opt_func=opt_func, wd=0.1)
    with one.no_logging(), one.no_bar():
        one.fit_one_cycle(2, 0.01)
    return [[float(v) for v in row[:2]] for row in one.recorder.values]


out["repeat"] = {"first": losses(), "again": losses(), "lean": losses(lean_learner_class()),
                 "fastai_adam": losses(opt_func=Adam)}

# One optimiser step: foreach_adam against fastai's Adam on the same parameters and gradients.
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
out["adam_moved"] = max(float((a - b).abs().max()) for a, b in zip(after["foreach"], start, strict=True))
out["adam_max_difference"] = max(float((a - b).abs().max())
                                 for a, b in zip(after["fastai"], after["foreach"], strict=True))
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
