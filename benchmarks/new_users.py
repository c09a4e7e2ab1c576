"""New users on MovieLens 100K: how good are the fold-in's ratings and the new-user lists, and how
fast, for people the model never saw (issue #17). Run by the fastai 2 environment:

    nice .venv-fastai2/bin/python benchmarks/new_users.py            # about 3 minutes on 2 cores
    nice .venv-fastai2/bin/python benchmarks/new_users.py --docs     # and the table into docs/serving.md

One run (``movielens_fastai.evaluation.new_users.run_protocol``): 10% of the users held out (seed 0),
settings chosen on another 10% (validation users), the article's model trained through the fast
path (seed 42) on everyone else; each held-out user gives k = 1, 3, 5, 10, 20 ratings (at random,
and their first by time), the rest are scored against the global mean, the movie's bias, and the
same recipe retrained with their k ratings. Writes ``benchmarks/results/new_users.json`` (with the
environment, machine, date, command, seeds and settings) and ``new_users.md``; ``--quick`` (k = 1
and 5, no retraining) checks the wiring in about a minute and writes nowhere unless ``--out``;
``--render`` measures nothing and renders the goals and tables again from ``new_users.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from movielens_fastai.core import environment, machine, write_json_atomically, write_text_atomically  # noqa: E402
from movielens_fastai.data.movielens import (  # noqa: E402
    RATING_RANGE,
    check_movielens,
    load_movies,
    read_ratings_file,
    resolve_data_dir,
)
from movielens_fastai.evaluation.new_users import (  # noqa: E402
    BLEND_GRID,
    KS,
    ORDERS,
    PENALTY_GRID,
    given_and_rest,
    per_user,
    run_protocol,
    time_order_facts,
)
from movielens_fastai.models.rating.fold_in import CHOSEN_PENALTY  # noqa: E402
from movielens_fastai.models.topn.new_user import CHOSEN_BLEND  # noqa: E402
from movielens_fastai.reporting.new_users import goals, markdown  # noqa: E402
from movielens_fastai.serving.bundle import ModelBundle  # noqa: E402
from movielens_fastai.serving.train import ARTICLE_RECIPE, train_dot_model  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TRAIN_SEED = 42


def _shown_path(path: str) -> str:
    """``path`` relative to the checkout when it is inside it (``.venv-fastai2/bin/python``)."""
    absolute = Path(os.path.abspath(path))
    return os.fspath(absolute.relative_to(ROOT)) if absolute.is_relative_to(ROOT) else os.fspath(absolute)


def api_times(bundle: ModelBundle, ratings, users, ks, order: str, seed: int) -> np.ndarray:
    """Milliseconds per ``bundle.new_user(ratings).recommend(10)`` for each held-out user at each k."""
    times = []
    for k in ks:
        given, _ = given_and_rest(ratings, users, k, order, seed)
        for ids, values in per_user(given).values():
            known = np.isin(ids, bundle.movie_ids)
            asked = dict(zip(ids[known].tolist(), values[known].tolist(), strict=True))
            started = time.perf_counter()
            bundle.new_user(asked).recommend(10)
            times.append(time.perf_counter() - started)
    return 1000 * np.asarray(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None,
                        help="MovieLens 100K folder (default: $MOVIELENS_DIR, else ml-100k/)")
    parser.add_argument("--seed", type=int, default=0, help="the split's and the random order's seed")
    parser.add_argument("--quick", action="store_true", help="k = 1 and 5, no retraining; writes nowhere")
    parser.add_argument("--out", default=None, help=f"results folder (default: {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--docs", action="store_true", help="also put the table in docs/serving.md")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: render goals and tables again from new_users.json")
    args = parser.parse_args(argv)
    if args.render:
        render(Path(args.out) if args.out else RESULTS, args.docs)
        return
    out = Path(args.out) if args.out else (None if args.quick else RESULTS)
    torch.set_num_threads(1)   # batches of 64: one thread is fastest, and kind to a shared machine
    started = time.perf_counter()

    data_dir = resolve_data_dir(args.data_dir)
    check_movielens(data_dir)
    ratings, titles = read_ratings_file(data_dir / "u.data"), load_movies(data_dir)
    ks = (1, 5) if args.quick else KS

    def trainer(frame):
        return train_dot_model(frame, seed=TRAIN_SEED)[0]

    results, model, ranker = run_protocol(ratings, trainer, seed=args.seed, ks=ks, retrain=not args.quick)
    title_of = titles.set_index("Movie ID")["Title"]
    bundle = ModelBundle(model, ranker, title_of.reindex(model.movie_ids).tolist(), RATING_RANGE)
    api = api_times(bundle, ratings, results["users"]["held_out_ids"], ks, ORDERS[0], args.seed)
    results.update({
        "api_ms": {"p50": float(np.percentile(api, 50)), "p95": float(np.percentile(api, 95)),
                   "calls": len(api)},
        "time_order": time_order_facts(ratings),
        "settings": {"recipe": {**ARTICLE_RECIPE, "y_range": list(ARTICLE_RECIPE["y_range"])},
                     "training_seed": TRAIN_SEED, "trained_with": "collab_dataloaders + fast_collab_learner",
                     "torch_threads": torch.get_num_threads(), "penalty_grid": list(PENALTY_GRID),
                     "blend_grid": {k: list(v) for k, v in BLEND_GRID.items()},
                     "code_defaults": {"fold_in_penalty": CHOSEN_PENALTY, **CHOSEN_BLEND}},
        "environment": environment(packages=("fastai", "torch", "numpy", "pandas", "safetensors")),
        "machine": machine(),
        "command": " ".join([_shown_path(sys.executable), *sys.argv]),
        "data": {"dir": os.fspath(data_dir), "ratings": len(ratings)},
        "total_seconds": time.perf_counter() - started,
    })
    results["goals"] = goals(results)
    table = markdown(results)
    print(table)
    code = results["settings"]["code_defaults"]
    chosen = {key: results["chosen"][key] for key in code}
    if chosen != code:
        print(f"note: the settings chosen here {chosen} differ from the code's defaults {code} "
              "(fold_in.CHOSEN_PENALTY, new_user.CHOSEN_BLEND): update them to serve what was measured")
    if out is not None:
        write(out, results, table)
    if args.docs:
        to_docs(table)


def write(out: Path, results: dict, table: str) -> None:
    write_json_atomically(out / "new_users.json", results)
    write_text_atomically(out / "new_users.md", table)
    print(f"-> {out / 'new_users.json'}, {out / 'new_users.md'}")


def to_docs(table: str) -> None:
    from movielens_fastai.reporting.markers import put_between_markers

    print(f"-> {put_between_markers('new-users', table, ROOT)}")


def render(out: Path, docs: bool) -> None:
    """The goals, new_users.md and (``docs``) the table in docs/serving.md, again from new_users.json."""
    results = json.loads((out / "new_users.json").read_text())
    results["goals"] = goals(results)
    table = markdown(results)
    print(table)
    write(out, results, table)
    if docs:
        to_docs(table)


if __name__ == "__main__":
    main()
