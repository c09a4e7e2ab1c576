"""GPU timings of the article's model, to set beside its "15 s on a GTX 1080Ti".

The article trained for 5 epochs (``fit_one_cycle(5, 0.01)``) on MovieLens 100K in about
15 s on a GTX 1080Ti and reached a validation MSE of about 0.82. This benchmark times,
on the article's split (``validation_indices(100000, 0.1, 42)``: 90,000 training and
10,000 validation ratings), on the GPU and then on the same machine's CPU:

* ``fastai2``: the port's recipe exactly as notebooks/02_port.ipynb builds it
  (``TabularCollab`` + ``Categorify``, those splits, ``TabDataLoader``, bs 64,
  ``collab_learner(n_factors=40, y_range=(0, 5.5), wd=0.1)``, ``fit_one_cycle(5, 0.01)``);
* ``plain``: the same recipe in plain PyTorch (``movielens_fastai.models.rating.article.dot_model``);
* ``fast``: the fast configuration of notebooks/03_under_the_hood.ipynb (batches of 1,024,
  lr 0.05, wd 0.6, 20 factors) with the same ``dot_model``.

Each (method, device) first trains once for one epoch, not counted (CUDA start-up,
kernel caches), then once per training seed. ``fit_seconds`` is the wall time of the
training alone (``fit_one_cycle``; for ``dot_model`` the call, which also encodes the ids
and predicts the 10,000 validation ratings, a few milliseconds), with
``torch.cuda.synchronize()`` before the clock starts and stops. ``valid_mse`` is the mean
squared error on the 10,000 validation ratings, predictions not clipped, as the notebooks
report it. The plain loop runs on one CPU thread (``dot_model`` sets it: fastest for
batches this small); fastai runs with torch's default number of threads, as in the notebook.
Results are written after every run, so a run cut short keeps what it measured; runs that
would not finish within ``--budget-seconds`` are skipped and listed as skipped.

fastai v1 (1.0.61, the article's library) is not timed here: it needs Python 3.11 with
pandas 1.5.3 and a torch built for that Python, which GPU machines with a newer Python
do not have.

Run it on a machine with a CUDA GPU, from the repository root, in an environment with
fastai 2.8.12 and a CUDA build of torch (``.venv-fastai2`` on such a machine, or pip
install ``fastai==2.8.12`` beside the machine's own torch), with MovieLens 100K in D::

    python benchmarks/gpu.py --data-dir D                 # writes benchmarks/results/gpu.json

Without a GPU it measures the CPU alone. A quick check of the script itself (a slice of
the ratings, one epoch, one seed; the numbers mean nothing)::

    .venv-fastai2/bin/python benchmarks/gpu.py --data-dir D --out /tmp --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from movielens_fastai.core import RATING_COLUMNS, environment, seed_everything, write_json_atomically  # noqa: E402
from movielens_fastai.data.movielens import check_movielens  # noqa: E402
from movielens_fastai.data.splits import validation_indices  # noqa: E402

ARTICLE = {"fit_seconds": 15, "valid_mse": 0.82, "hardware": "GTX 1080Ti", "year": 2019, "epochs": 5}
RECIPE = {"n_factors": 40, "y_range": (0.0, 5.5), "wd": 0.1, "lr": 0.01, "epochs": 5, "bs": 64}
FAST = {"n_factors": 20, "y_range": (0.0, 5.5), "wd": 0.6, "lr": 0.05, "epochs": 5, "bs": 1024}
VALID_PCT, SPLIT_SEED = 0.1, 42


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fit_fastai2(ratings, valid_idx, seed, device, epochs, threads):
    """The port notebook's recipe; (fit seconds, validation MSE, details)."""
    import torch
    from fastai.collab import TabularCollab, collab_learner
    from fastai.data.block import TransformBlock
    from fastai.data.transforms import IndexSplitter
    from fastai.tabular.core import Categorify, TabDataLoader
    from fastcore.basics import range_of

    torch.set_num_threads(threads)
    seed_everything(seed)
    splits = IndexSplitter(valid_idx)(range_of(ratings))
    to = TabularCollab(ratings, [Categorify], cat_names=["User ID", "Movie ID"], y_names=["Rating"],
                       y_block=TransformBlock(), splits=splits)
    dls = to.dataloaders(bs=RECIPE["bs"], dl_type=TabDataLoader, device=torch.device(device))
    learn = collab_learner(dls, n_factors=RECIPE["n_factors"], y_range=RECIPE["y_range"], wd=RECIPE["wd"])
    with learn.no_bar(), learn.no_logging():
        sync(device)
        started = time.perf_counter()
        learn.fit_one_cycle(epochs, RECIPE["lr"])
        sync(device)
        seconds = time.perf_counter() - started
        preds, targets = learn.get_preds(dl=dls.valid)
    details = {"num_workers": dls.train.num_workers, "torch_threads": torch.get_num_threads()}
    return seconds, float(((preds.flatten() - targets.flatten()) ** 2).mean()), details


def fit_dot_model(settings, train_df, valid_df, seed, device, epochs):
    """``folds.dot_model`` with ``settings``; (fit seconds, validation MSE, details)."""
    import torch

    from movielens_fastai.models.rating.article import dot_model

    sync(device)
    started = time.perf_counter()
    preds = dot_model(train_df, valid_df, seed, device=device, **{**settings, "epochs": epochs})
    sync(device)
    seconds = time.perf_counter() - started
    mse = float(np.mean((preds - valid_df["Rating"].to_numpy(float)) ** 2))
    return seconds, mse, {"torch_threads": torch.get_num_threads()}


def seed_list(text: str) -> list[int]:
    """``0,1,2`` as [0, 1, 2], as every benchmark of the project takes seeds."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="MovieLens 100K folder (u.data and u.item)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for gpu.json; created if missing (default: benchmarks/results)")
    parser.add_argument("--seeds", type=seed_list, default=[0, 1, 2],
                        help="training seeds on the GPU, e.g. 0,1,2")
    parser.add_argument("--cpu-seeds", type=seed_list, default=[0, 1, 2],
                        help="training seeds on the CPU, e.g. 0,1")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cuda (if present), then cpu")
    parser.add_argument("--methods", nargs="+", default=["fastai2", "plain", "fast"],
                        choices=["fastai2", "plain", "fast"])
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="skip runs that would end later than this after the start")
    parser.add_argument("--quick", action="store_true", help="5,000 ratings, 1 epoch, seed 0: a smoke test")
    args = parser.parse_args(argv)

    import torch

    started = time.perf_counter()
    data_dir = Path(args.data_dir)
    check_movielens(data_dir)
    ratings = pd.read_csv(data_dir / "u.data", sep="\t", header=None, names=RATING_COLUMNS)
    epochs = RECIPE["epochs"]
    seeds = {"cuda": args.seeds, "cpu": args.cpu_seeds}
    if args.quick:
        ratings, epochs, seeds = ratings.iloc[:5000], 1, {"cuda": [0], "cpu": [0]}
    valid_idx = validation_indices(len(ratings), VALID_PCT, SPLIT_SEED)
    is_valid = np.zeros(len(ratings), dtype=bool)
    is_valid[valid_idx] = True
    train_df, valid_df = ratings[~is_valid], ratings[is_valid]
    devices = args.devices or (["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"])
    default_threads = torch.get_num_threads()   # before dot_model sets one thread

    runners = {
        "fastai2": lambda seed, dev, n: fit_fastai2(ratings, valid_idx, seed, dev, n, default_threads),
        "plain": lambda seed, dev, n: fit_dot_model(RECIPE, train_df, valid_df, seed, dev, n),
        "fast": lambda seed, dev, n: fit_dot_model(FAST, train_df, valid_df, seed, dev, n),
    }
    env = environment(("fastai", "fastcore", "torch", "pandas", "numpy"))
    record = {
        "benchmark": "gpu", "article": ARTICLE,
        "protocol": (f"validation_indices({len(ratings)}, {VALID_PCT}, {SPLIT_SEED}): "
                     f"{len(train_df):,} training, {len(valid_df):,} validation ratings; {epochs} epochs; "
                     "one uncounted 1-epoch warm-up per method and device; fit_seconds between "
                     "torch.cuda.synchronize() calls; MSE not clipped"),
        "quick": args.quick, "epochs": epochs,
        "settings": {"fastai2": RECIPE, "plain": RECIPE, "fast": FAST},
        "machine": {
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cuda": torch.version.cuda, "cpu_count": os.cpu_count(), "torch_default_threads": default_threads,
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")},
        "versions": env["versions"],
        "fastai_v1": "not run: fastai 1.0.61 needs Python 3.11, pandas 1.5.3 and a torch for that Python",
        "results": [], "skipped": [],
    }

    def save():
        record["total_seconds"] = time.perf_counter() - started
        write_json_atomically(args.out / "gpu.json", record)

    # the GPU first; on the CPU the quick methods before fastai, the slowest there
    order = [(device, method) for device in devices
             for method in sorted(args.methods, key=lambda m: device == "cpu" and m == "fastai2")]
    for device, method in order:
        row = {"method": method, "device": device, "per_seed": []}
        record["results"].append(row)
        if args.budget_seconds is not None and time.perf_counter() - started > 0.9 * args.budget_seconds:
            record["skipped"].append({"method": method, "device": device,
                                      "reason": "budget: no time to warm up"})
            print(f"skip {method} on {device} (budget)", flush=True)
            continue
        warm_seconds, _, details = runners[method](1000, device, 1)
        row.update(details, warmup_1_epoch_seconds=warm_seconds)
        estimate = warm_seconds * epochs
        for seed in seeds["cuda" if device.startswith("cuda") else "cpu"]:
            elapsed = time.perf_counter() - started
            if args.budget_seconds is not None and elapsed + 1.2 * estimate > args.budget_seconds:
                record["skipped"].append({"method": method, "device": device, "seed": seed,
                                          "reason": f"budget: {elapsed:.0f} s spent, ~{estimate:.0f} s more"})
                print(f"skip {method} on {device}, seed {seed} (budget)", flush=True)
                continue
            seconds, mse, _ = runners[method](seed, device, epochs)
            estimate = seconds
            row["per_seed"].append({"seed": seed, "fit_seconds": seconds, "valid_mse": mse})
            runs = row["per_seed"]
            row["mean_fit_seconds"] = float(np.mean([r["fit_seconds"] for r in runs]))
            row["mean_valid_mse"] = float(np.mean([r["valid_mse"] for r in runs]))
            print(f"{method:>8} {device:>5} seed {seed}: MSE {mse:.4f}, fit {seconds:6.2f} s", flush=True)
            save()
        save()
    save()
    print(f"\nGPU: {record['machine']['gpu']}; {os.cpu_count()} CPU cores; article: "
          f"{ARTICLE['fit_seconds']} s on a {ARTICLE['hardware']}, MSE about {ARTICLE['valid_mse']}")
    print("| method | device | seeds | mean fit s | mean MSE | per seed (MSE / s) |")
    print("|---|---|---|---|---|---|")
    for row in record["results"]:
        if row["per_seed"]:
            runs = ", ".join(f"{r['valid_mse']:.4f} / {r['fit_seconds']:.1f}" for r in row["per_seed"])
            print(f"| {row['method']} | {row['device']} | {len(row['per_seed'])} | "
                  f"{row['mean_fit_seconds']:.2f} | {row['mean_valid_mse']:.4f} | {runs} |")
    print(f"-> {args.out / 'gpu.json'} ({record['total_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
