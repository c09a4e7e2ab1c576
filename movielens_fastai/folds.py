"""How good is the article's model really? A benchmark on the canonical MovieLens 100K splits.

GroupLens ships five train/test splits with the data set, ``u1.base``/``u1.test`` to
``u5.base``/``u5.test``: 80,000 training and 20,000 test ratings each, the five test
sets disjoint and together all of ``u.data``. Published numbers for ML-100K are either
the mean over these five folds, ``u1`` alone, or random cross-validation; this module
measures every method on exactly the canonical folds, so they can be compared.

Every method is a function ``fit_predict(base_df, test_df, seed, **settings)`` that
trains on the whole ``.base`` and returns one prediction per row of ``.test``.
``evaluate`` times it and scores it; **all predictions are clipped to [1, 5]**, the
range of the ratings, for every method, before RMSE and MAE are computed (Surprise
clips by itself; the sigmoid models can reach 5.5 and would otherwise be penalised
for a range choice rather than for what they learned).

``fit_seconds`` is the wall time of one ``fit_predict`` call (training and predicting
20,000 ratings), with the method's libraries imported beforehand so the first fold does
not pay for them. fastai 2.8 cannot share an environment with fastai v1, so the
``fastai2`` method runs in ``.venv-fastai2`` through this module's command line::

    .venv-fastai2/bin/python -m movielens_fastai.folds fastai2 --fold 1 --data-dir D [--seed S] [--epochs E]

which prints one JSON line. That is why fastai, torch and Surprise are imported only
inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .data import RATING_COLUMNS, DataError, check_ratings_file

USER, MOVIE, RATING, TIMESTAMP = RATING_COLUMNS
FOLDS = (1, 2, 3, 4, 5)
N_BASE, N_TEST = 80_000, 20_000
RATING_CLIP = (1.0, 5.0)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
FASTAI2_PYTHON = PROJECT_ROOT / ".venv-fastai2" / "bin" / "python"


# --------------------------------------------------------------------------- data


def _read_checked(path: Path, expected_rows: int) -> pd.DataFrame:
    check_ratings_file(path)   # 4 integer fields per line, ratings 1-5, no repeated pair
    df = pd.read_csv(path, sep="\t", header=None, names=RATING_COLUMNS, dtype=np.int64)
    if len(df) != expected_rows:
        raise DataError(f"{path}: expected exactly {expected_rows:,} ratings (one per line), "
                        f"found {len(df):,}")
    return df


def read_fold(data_dir: str | os.PathLike, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(base_df, test_df)`` of the canonical split ``u{k}.base`` / ``u{k}.test``.

    Both have the columns 'User ID', 'Movie ID', 'Rating', 'Timestamp' (integers).
    A damaged file raises ``DataError`` with ``file:line: problem``; a file with other
    than 80,000 (base) or 20,000 (test) ratings is damaged too.
    """
    if k not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {k!r}")
    data_dir = Path(data_dir)
    return (_read_checked(data_dir / f"u{k}.base", N_BASE),
            _read_checked(data_dir / f"u{k}.test", N_TEST))


def rmse(pred, actual) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(actual, float)) ** 2)))


def mae(pred, actual) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(actual, float))))


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# --------------------------------------------------------------------------- baselines


def global_mean(base_df, test_df, seed):
    """Every rating predicted as the mean training rating."""
    return np.full(len(test_df), base_df[RATING].mean())


def _index(base_ids, test_ids):
    """Sorted training ids -> 1..n; ids unseen in training -> 0 (fastai's '#na#')."""
    classes = np.unique(base_ids)
    pos = np.searchsorted(classes, test_ids)
    pos = np.clip(pos, 0, len(classes) - 1)
    known = classes[pos] == test_ids
    return np.where(known, pos + 1, 0), len(classes) + 1


def _bias_fit(base_df, reg_u, reg_i, sweeps):
    users, n_users = _index(base_df[USER].to_numpy(), base_df[USER].to_numpy())
    items, n_items = _index(base_df[MOVIE].to_numpy(), base_df[MOVIE].to_numpy())
    r = base_df[RATING].to_numpy(float)
    mu = r.mean()
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    for _ in range(sweeps):
        bu = np.bincount(users, r - mu - bi[items], n_users) / (reg_u + n_u)
        bi = np.bincount(items, r - mu - bu[users], n_items) / (reg_i + n_i)
    return mu, bu, bi


def bias(base_df, test_df, seed, reg_u=15.0, reg_i=10.0, sweeps=10):
    """mean + user bias + movie bias, fitted by alternating least squares.

    Each sweep solves the regularised least-squares problem exactly for all user biases
    (``b_u = sum(r - mu - b_i) / (reg_u + n_u)``), then for all movie biases. These are
    Surprise's BaselineOnly defaults (ALS, reg_u 15, reg_i 10, 10 sweeps) written in
    numpy, so the two should agree: a check on both. Unknown users/movies get bias 0.
    """
    mu, bu, bi = _bias_fit(base_df, reg_u, reg_i, sweeps)
    users, _ = _index(base_df[USER].to_numpy(), test_df[USER].to_numpy())
    items, _ = _index(base_df[MOVIE].to_numpy(), test_df[MOVIE].to_numpy())
    bu[0] = bi[0] = 0.0
    return mu + bu[users] + bi[items]


# --------------------------------------------------------------------------- Surprise


def _surprise(algo_name, base_df, test_df, seed, **kwargs):
    import surprise

    reader = surprise.Reader(rating_scale=(1, 5))
    trainset = surprise.Dataset.load_from_df(base_df[[USER, MOVIE, RATING]], reader).build_full_trainset()
    algo_cls = getattr(surprise, algo_name)
    if algo_name == "BaselineOnly":   # deterministic; verbose=False only silences a print
        algo = algo_cls(verbose=False, **kwargs)
    else:
        algo = algo_cls(random_state=seed, **kwargs)
    algo.fit(trainset)
    return np.array([algo.predict(u, m).est for u, m in zip(test_df[USER], test_df[MOVIE], strict=True)])


def surprise_svd(base_df, test_df, seed):
    """Surprise's SVD (Funk's biased MF), default settings."""
    return _surprise("SVD", base_df, test_df, seed)


def surprise_svdpp(base_df, test_df, seed):
    """Surprise's SVD++ (MF with implicit feedback), default settings."""
    return _surprise("SVDpp", base_df, test_df, seed)


def surprise_baselineonly(base_df, test_df, seed):
    """Surprise's BaselineOnly (mean + user + item biases, ALS), default settings.

    It is deterministic and takes no random_state."""
    return _surprise("BaselineOnly", base_df, test_df, seed)


# --------------------------------------------------------------------------- the article's model


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

    from .run import seed_everything

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

    from .run import seed_everything

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


# --------------------------------------------------------------------------- beyond the article

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


# --------------------------------------------------------------------------- running


METHODS = {
    "global_mean": global_mean,
    "bias": bias,
    "surprise_baselineonly": surprise_baselineonly,
    "surprise_svd": surprise_svd,
    "surprise_svdpp": surprise_svdpp,
    "plain_torch": plain_torch,
    "fastai1": fastai1,
    "fastai2": fastai2,
    "tuned": tuned,
}
# Fast ones first, so a long run shows its first results early.
RUN_ORDER = ["global_mean", "bias", "surprise_baselineonly", "surprise_svd", "plain_torch", "tuned",
             "fastai1", "fastai2", "surprise_svdpp"]
# Methods with an epochs setting (the quick variant shortens them; Surprise keeps its defaults).
EPOCH_METHODS = {"plain_torch", "fastai1", "fastai2", "tuned"}
# Imported before the clock starts.
IMPORTS = {
    "surprise_baselineonly": ["surprise"], "surprise_svd": ["surprise"], "surprise_svdpp": ["surprise"],
    "plain_torch": ["torch"], "tuned": ["torch"], "fastai1": ["fastai.collab"], "fastai2": ["fastai.collab"],
}
# Which Python runs a method: fastai2 lives in its own environment.
SUBPROCESS_PYTHON = {"fastai2": FASTAI2_PYTHON}

# Surprise's own benchmark table for ML-100K (random 5-fold cross-validation, so comparable
# in protocol but not in folds); the notebook lists the other published numbers, with sources.
PUBLISHED = {
    "surprise_svdpp": (0.919, "Surprise's table, random 5-fold CV"),
    "surprise_svd": (0.934, "Surprise's table, random 5-fold CV"),
    "surprise_baselineonly": (0.944, "Surprise's table, random 5-fold CV"),
}


def evaluate(method: str, base_df, test_df, fold, seed: int = 0, **settings) -> dict:
    """Train ``method`` on ``base_df``, predict ``test_df``, clip to [1, 5] and score."""
    fn = METHODS[method]
    for module in IMPORTS.get(method, []):
        importlib.import_module(module)
    _seed(seed)
    started = time.perf_counter()
    preds = np.asarray(fn(base_df, test_df, seed, **settings), dtype=float).reshape(-1)
    fit_seconds = time.perf_counter() - started
    if preds.shape != (len(test_df),) or not np.isfinite(preds).all():
        raise RuntimeError(f"{method}: expected {len(test_df)} finite predictions, got shape {preds.shape}")
    preds = np.clip(preds, *RATING_CLIP)
    actual = test_df[RATING].to_numpy(float)
    return {"method": method, "fold": fold, "rmse": rmse(preds, actual), "mae": mae(preds, actual),
            "fit_seconds": fit_seconds, "n_test": len(test_df), "settings": settings}


def _settings(method: str, epochs: int | None) -> dict:
    return {"epochs": epochs} if epochs is not None and method in EPOCH_METHODS else {}


def run_one(method: str, data_dir, fold: int, seed: int = 0, epochs: int | None = None) -> dict:
    """One method on one fold, in the environment the method needs."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    python = SUBPROCESS_PYTHON.get(method)
    # venvs share one interpreter binary: tell them apart by their prefix, not the executable
    if python is not None and Path(sys.prefix).resolve() != Path(python).parent.parent.resolve():
        cmd = [str(python), "-m", "movielens_fastai.folds", method, "--fold", str(fold),
               "--data-dir", str(data_dir), "--seed", str(seed)]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        done = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    base_df, test_df = read_fold(data_dir, fold)
    return evaluate(method, base_df, test_df, fold, seed, **_settings(method, epochs))


def run_benchmark(data_dir, methods=None, folds=FOLDS, seed: int = 0, epochs: int | None = None,
                  log=print) -> list[dict]:
    """Every method on every fold, one at a time; a list of ``evaluate`` rows."""
    methods = list(RUN_ORDER) if methods is None else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    rows = []
    for method in methods:
        for fold in folds:
            row = run_one(method, data_dir, fold, seed, epochs)
            if log:
                log(f"{method:>22} u{fold}: RMSE {row['rmse']:.4f}  MAE {row['mae']:.4f}  "
                    f"{row['fit_seconds']:7.1f} s")
            rows.append(row)
    return rows


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Per method: mean RMSE/MAE/fit seconds over its folds, RMSE per fold, published number."""
    df = pd.DataFrame(rows)
    order = list(dict.fromkeys(df["method"]))
    summary = df.groupby("method", sort=False).agg(
        folds=("fold", "count"), rmse=("rmse", "mean"), mae=("mae", "mean"),
        fit_seconds=("fit_seconds", "mean")).reindex(order)
    per_fold = df.pivot(index="method", columns="fold", values="rmse").reindex(order)
    for fold in per_fold.columns:
        summary[f"rmse_u{fold}"] = per_fold[fold]
    summary["published_rmse"] = [PUBLISHED.get(m, (None, ""))[0] for m in order]
    summary["published_source"] = [PUBLISHED.get(m, (None, ""))[1] for m in order]
    return summary.reset_index()


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def markdown_table(summary: pd.DataFrame) -> str:
    lines = ["| method | folds | mean RMSE | mean MAE | mean fit s | RMSE u1 | published RMSE |",
             "|---|---|---|---|---|---|---|"]
    for row in summary.itertuples(index=False):
        u1 = f"{row.rmse_u1:.4f}" if "rmse_u1" in summary and pd.notna(row.rmse_u1) else ""
        published = (f"{row.published_rmse:.4f} ({row.published_source})"
                     if pd.notna(row.published_rmse) else "")
        lines.append(f"| {row.method} | {row.folds} | {row.rmse:.4f} | {row.mae:.4f} | "
                     f"{row.fit_seconds:.1f} | {u1} | {published} |")
    return "\n".join(lines) + "\n"


# Where a label may go, relative to its point, in points: beside it first, then further up
# or down (with a thin line back to the point) until it overlaps nothing.
LABEL_OFFSETS = [(6, 3), (6, -10), (-6, 3), (-6, -10)] + [
    (dx, dy) for step in range(1, 8) for dy in (3 + 11 * step, -10 - 11 * step) for dx in (6, -6)]


def _overlaps(box, boxes) -> bool:
    return any(box.overlaps(other) for other in boxes)


def _place_labels(ax, xs, ys, names, fontsize=8) -> None:
    """Annotate each point with its name at the first place in ``LABEL_OFFSETS`` where the label
    stays inside the axes, overlaps no other label and keeps clear of every other point (so it
    cannot be read as that point's label). Points drawn on top of each other share a place."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    px_per_pt = fig.dpi / 72
    points = ax.transData.transform(np.column_stack([xs, ys]))

    def around(i, pts):
        r = pts * px_per_pt
        return Bbox.from_extents(points[i, 0] - r, points[i, 1] - r, points[i, 0] + r, points[i, 1] + r)

    labels = []
    # Crowded points first (most neighbours nearby), so they get the places next to them.
    order = sorted(range(len(names)), key=lambda i: -np.sum(np.hypot(*(points - points[i]).T) < 60))
    for i in order:
        same = np.hypot(*(points - points[i]).T) < 3 * px_per_pt
        clear_of = [around(j, 12) for j in range(len(names)) if not same[j]] + [around(i, 4)]
        for dx, dy in LABEL_OFFSETS:
            ann = ax.annotate(names[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                              ha="left" if dx > 0 else "right", va="bottom", fontsize=fontsize,
                              arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6,
                                          "shrinkA": 0, "shrinkB": 3})
            ann.update_positions(renderer)   # otherwise done only when drawn
            box = Text.get_window_extent(ann, renderer)
            fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                    and box.y1 <= inside.y1)
            if fits and not _overlaps(box, clear_of) and not _overlaps(box.padded(2), labels):
                labels.append(box)
                break
            ann.remove()
        else:   # nowhere free: the first place, so the label is at least shown
            dx, dy = LABEL_OFFSETS[0]
            ax.annotate(names[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                        fontsize=fontsize)


def plot_rmse_vs_time(summary: pd.DataFrame, path=None):
    """Mean RMSE against mean fit time (log axis), one labelled point per method; labels are
    placed so that none overlaps another or a point (see ``_place_labels``)."""
    import matplotlib

    if path is not None and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs, ys = summary["fit_seconds"].to_numpy(float), summary["rmse"].to_numpy(float)
    ax.scatter(xs, ys, zorder=3)
    ax.set_xscale("log")
    # Room around the points for their labels.
    ax.set_xlim(xs.min() / 3, xs.max() * 12)
    span = ys.max() - ys.min()
    ax.set_ylim(ys.min() - 0.08 * span, ys.max() + 0.06 * span)
    ax.set_xlabel("mean fit + predict time per fold, seconds (log scale)")
    ax.set_ylabel("mean test RMSE, ratings clipped to [1, 5]")
    ax.set_title("MovieLens 100K, canonical folds " + ", ".join(f"u{f}" for f in sorted(
        summary.attrs.get("folds", []))) if summary.attrs.get("folds") else "MovieLens 100K, canonical folds")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _place_labels(ax, xs, ys, list(summary["method"]))
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def write_results(rows: list[dict], out_dir, seed: int, epochs: int | None, total_seconds: float) -> dict:
    """folds.json, folds.md and rmse_vs_time.png in ``out_dir``; returns the JSON record."""
    from .run import write_json_atomically

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    summary.attrs["folds"] = sorted({r["fold"] for r in rows})
    record = {
        "protocol": "train on u{k}.base, predict u{k}.test, predictions clipped to [1, 5]",
        "seed": seed, "epochs": epochs, "folds": summary.attrs["folds"],
        "machine": machine(), "total_seconds": total_seconds,
        "summary": json.loads(summary.to_json(orient="records")), "per_fold": rows,
    }
    write_json_atomically(out_dir / "folds.json", record)
    (out_dir / "folds.md").write_text(
        f"Mean over folds {', '.join(f'u{f}' for f in record['folds'])} (train on .base, test on .test; "
        f"predictions clipped to [1, 5]); seed {seed}; {record['machine']['cpu_count']} CPUs, "
        f"{record['machine']['platform']}, {record['machine']['date']}.\n\n" + markdown_table(summary))
    fig = plot_rmse_vs_time(summary, out_dir / "rmse_vs_time.png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Score one method on one canonical MovieLens 100K fold.")
    parser.add_argument("method", choices=list(METHODS))
    parser.add_argument("--fold", type=int, required=True, choices=FOLDS)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)
    base_df, test_df = read_fold(args.data_dir, args.fold)
    row = evaluate(args.method, base_df, test_df, args.fold, args.seed, **_settings(args.method, args.epochs))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
