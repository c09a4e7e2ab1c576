"""Run by tests/test_rankers.py in .venv-fastai2 (the rankers trained by fastai 2 and the
``implicit`` package live there): fit each ranker on a small slice of u1 and write, as
JSON, its NDCG@10 against the random floor, its lists, and whether two fits with one
seed agree.

    .venv-fastai2/bin/python tests/fastai2_rankers.py DATA_DIR OUT.json
"""

import json
import sys

import numpy as np

from movielens_fastai import rankers as rk


def main(data_dir, out):
    (_, train, test, threshold), = rk.protocol_splits("ours", data_dir, folds=[1])
    train, test = train[train["User ID"] <= 300], test[test["User ID"] <= 300]
    makers = {
        "implicit ALS": lambda: rk.ImplicitALS(factors=32, regularization=5.0, alpha=2.0, iterations=5),
        "BPR": lambda: rk.FastaiBPR(epochs=6, bs=512),
        "rating model": lambda: rk.RatingModel(epochs=1, bs=256),
        "blend": lambda: rk.Blend(rk.EASE(l2=200.0), rk.RatingModel(epochs=1, bs=256), weight=0.2),
    }
    report = {"random": rk.evaluate(rk.RandomRanker(seed=0), train, test, threshold),
              "most popular": rk.evaluate(rk.MostPopular(), train, test, threshold)}
    for name, make in makers.items():
        ranker = make()
        report[name] = rk.evaluate(ranker, train, test, threshold)
        top = ranker.recommend(ranker.users, k=10)
        report[name]["lists"] = {int(u): [int(m) for m in movies] for u, movies in top.items()}
        again = make().fit(train)
        report[name]["repeats"] = bool(np.array_equal(ranker.scores([1, 2]), again.scores([1, 2])))
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
