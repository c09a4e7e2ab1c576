"""The article's model: fastai v1's ``EmbeddingDotBias`` in plain PyTorch, through fastai v1 and
fastai 2.8, and one tuned setting of it (``tuned``)."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from .baselines import MOVIE, RATING, USER, _index


def _one_cycle(step, total, lr_max, pct_start=0.3, div=25.0, final_div=25e4, moms=(0.95, 0.85)):
    """fastai v1's ``fit_one_cycle`` schedule: (lr, momentum) at batch ``step`` of ``total``."""
    a1 = int(total * pct_start)
    a2 = total - a1

    def cos(start, end, pct):
        return end + (start - end) / 2 * (np.cos(np.pi * pct) + 1)

    if step < a1:
        pct = step / a1
        return cos(lr_max / div, lr_max, pct), cos(moms[0], moms[1], pct)
    pct = (step - a1) / a2
    return cos(lr_max, lr_max / final_div, pct), cos(moms[1], moms[0], pct)


def dot_model(base_df, test_df, seed, n_factors=40, y_range=(0.0, 5.5), wd=0.1, lr=0.01, epochs=5, bs=64,
              device="cpu"):
    """fastai v1's ``EmbeddingDotBias`` trained with fastai v1's recipe, in plain PyTorch.

    prediction = sigmoid(u . m + b_u + b_m) * (hi - lo) + lo; embeddings initialised as
    fastai v1 does (normal, fmod 2, times 0.01); users and movies numbered by sorted id
    from 1, unknown ones 0 like '#na#'; Adam, betas (0.9, 0.99), eps 1e-8, decoupled weight
    decay ``wd`` on every parameter (torch's AdamW is fastai v1's ``true_wd``); one cycle:
    lr cosine from lr/25 up to lr over 30% of the batches, then down to lr/25e4, beta1
    0.95 -> 0.85 -> 0.95; MSE loss; shuffled batches of 64, the last partial one dropped.

    ``device`` ("cpu", "cuda", ...) is where the training runs; the initial weights and
    the batch order are drawn on the CPU from ``seed`` whatever the device, so a seed
    starts every device from the same point.
    """
    import torch

    torch.set_num_threads(1)   # tiny batches: one thread is fastest, and safe on a shared machine
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    users_tr, n_users = _index(base_df[USER].to_numpy(), base_df[USER].to_numpy())
    items_tr, n_items = _index(base_df[MOVIE].to_numpy(), base_df[MOVIE].to_numpy())
    users_te, _ = _index(base_df[USER].to_numpy(), test_df[USER].to_numpy())
    items_te, _ = _index(base_df[MOVIE].to_numpy(), test_df[MOVIE].to_numpy())

    def emb(n, d):
        e = torch.nn.Embedding(n, d)
        with torch.no_grad():
            e.weight.normal_(generator=gen).fmod_(2).mul_(0.01)
        return e

    u_w, i_w, u_b, i_b = (emb(n_users, n_factors).to(device), emb(n_items, n_factors).to(device),
                          emb(n_users, 1).to(device), emb(n_items, 1).to(device))
    params = [p for m in (u_w, i_w, u_b, i_b) for p in m.parameters()]
    lo, hi = y_range

    def forward(u, m):
        res = (u_w(u) * i_w(m)).sum(1) + u_b(u).squeeze(1) + i_b(m).squeeze(1)
        return torch.sigmoid(res) * (hi - lo) + lo

    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
    u_all, m_all = torch.as_tensor(users_tr, device=device), torch.as_tensor(items_tr, device=device)
    r_all = torch.as_tensor(base_df[RATING].to_numpy(np.float32), device=device)
    n_batches = len(r_all) // bs
    total, step = n_batches * epochs, 0
    for _ in range(epochs):
        order = torch.randperm(len(r_all), generator=gen).to(device)
        for b in range(n_batches):
            idx = order[b * bs:(b + 1) * bs]
            step_lr, mom = _one_cycle(step, total, lr)
            for group in opt.param_groups:
                group["lr"], group["betas"] = step_lr, (mom, 0.99)
            loss = torch.nn.functional.mse_loss(forward(u_all[idx], m_all[idx]), r_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    with torch.no_grad():
        preds = forward(torch.as_tensor(users_te, device=device), torch.as_tensor(items_te, device=device))
        return preds.cpu().numpy().astype(float)


def plain_torch(base_df, test_df, seed, epochs=5):
    """The article's model and settings (40 factors, y_range 0-5.5, wd 0.1, lr 0.01) in plain PyTorch."""
    return dot_model(base_df, test_df, seed, epochs=epochs)


@contextlib.contextmanager
def _quiet_fastai1():
    """No progress bars or epoch tables from fastai v1 (it has no switch of its own).

    Its warnings a reader cannot act on are already silenced by importing this package
    (``run.KNOWN_WARNINGS``), here and in ``python -m movielens_fastai.folds``."""
    import fastai.basic_train as basic_train
    import fastprogress.fastprogress as fp

    saved = basic_train.master_bar, basic_train.progress_bar, fp.NO_BAR
    basic_train.master_bar, basic_train.progress_bar = fp.force_console_behavior()
    fp.NO_BAR = True
    try:
        yield
    finally:
        basic_train.master_bar, basic_train.progress_bar, fp.NO_BAR = saved


def fastai1(base_df, test_df, seed, epochs=5):
    """The article's code on fastai 1.0.61, trained on all of ``.base``, predicting ``.test``.

    ``CollabDataBunch.from_df`` only splits at random, so we build what it builds, a
    ``CollabList`` with ``Categorify`` labelled by the rating, but split by index: the
    ``.base`` rows train, the ``.test`` rows are the validation set (Categorify learns
    its vocabulary from training rows only; unknown ids become '#na#'). Then the
    article's ``collab_learner(n_factors=40, y_range=[0, 5.5], wd=0.1)`` and
    ``fit_one_cycle(5, 0.01)``; ``get_preds`` on the validation set gives the predictions
    in ``.test`` order. The validation loss fastai prints per epoch is the test MSE
    (before clipping); nothing is tuned on it.
    """
    from fastai.basic_data import DatasetType
    from fastai.collab import CollabList, collab_learner
    from fastai.tabular import Categorify

    from ..run import seed_everything

    seed_everything(seed)
    df = pd.concat([base_df, test_df], ignore_index=True)
    valid_idx = np.arange(len(base_df), len(df))
    data = (CollabList.from_df(df, cat_names=[USER, MOVIE], procs=Categorify)
            .split_by_idx(valid_idx).label_from_df(cols=RATING).databunch(bs=64))
    learn = collab_learner(data, n_factors=40, y_range=[0, 5.5], wd=0.1)
    with _quiet_fastai1():
        learn.fit_one_cycle(epochs, 0.01)
        preds, _ = learn.get_preds(ds_type=DatasetType.Valid)
    return preds.numpy().reshape(-1).astype(float)


def fastai2(base_df, test_df, seed, epochs=5):
    """The same in fastai 2.8 (run in .venv-fastai2): ``TabularCollab`` split by index,
    ``dataloaders(bs=64, dl_type=TabDataLoader)`` (fastai 2.8's default TabWeightedDL samples
    with replacement, see the port notebook), ``collab_learner(n_factors=40, y_range=(0, 5.5),
    wd=0.1)``, ``fit_one_cycle(5, 0.01)``, ``get_preds`` on the validation (= test) rows."""
    from fastai.collab import TabularCollab, collab_learner
    from fastai.data.block import TransformBlock
    from fastai.data.transforms import IndexSplitter
    from fastai.tabular.core import Categorify, TabDataLoader
    from fastcore.basics import range_of

    from ..run import seed_everything

    seed_everything(seed)
    df = pd.concat([base_df, test_df], ignore_index=True)
    valid_idx = list(range(len(base_df), len(df)))
    splits = IndexSplitter(valid_idx)(range_of(df))
    to = TabularCollab(df, [Categorify], cat_names=[USER, MOVIE], y_names=[RATING],
                       y_block=TransformBlock(), splits=splits)
    dls = to.dataloaders(bs=64, dl_type=TabDataLoader)
    learn = collab_learner(dls, n_factors=40, y_range=(0, 5.5), wd=0.1)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, 0.01)
        preds, _ = learn.get_preds(dl=dls.valid)
    return preds.numpy().reshape(-1).astype(float)


# Chosen on a validation slice of u1.base only (a random 10%, numpy default_rng(0); trained on the
# other 90%), never on a .test file. RMSE on that slice: the article's setting 0.9245 (seeds 0-2:
# 0.9245, 0.9247, 0.9244); mean of those 3 seeds 0.9098; wd 0.2 0.9166 (wd 0.3 with 80 factors
# 0.9235, wd 0.2 for 3 epochs 0.9239); 2 seeds at wd 0.2 0.9132. Averaging seeds and doubling wd
# were the two gains, so: the article's dot model, wd 0.2, mean of 5 seeds. Then run once on u1-u5.
TUNED = {"n_factors": 40, "wd": 0.2, "epochs": 5, "n_models": 5}


def tuned(base_df, test_df, seed, epochs=None, **overrides):
    """The article's dot model with wd 0.2, averaged over 5 training seeds (seed .. seed+4).

    Chosen without looking at any .test file: see ``TUNED``."""
    settings = {**TUNED, **overrides}
    if epochs is not None:
        settings["epochs"] = epochs
    n_models = settings.pop("n_models")
    preds = [dot_model(base_df, test_df, seed + i, **settings) for i in range(n_models)]
    return np.mean(preds, axis=0)
