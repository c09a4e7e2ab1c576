"""``python -m movielens_fastai.methods METHOD --base B.tsv --test T.tsv --out P.npy [--seed S]
[--data-dir D] [--settings JSON]``: train METHOD on B, save its predictions of T (a .npy array).
How :func:`movielens_fastai.methods.predict` runs a method in another environment."""

import argparse
import json

import numpy as np
import pandas as pd

from ..data import RATING_COLUMNS
from . import METHODS, call

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("method", choices=list(METHODS))
parser.add_argument("--base", required=True)
parser.add_argument("--test", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", default=None)
parser.add_argument("--settings", default="{}")
args = parser.parse_args()
base_df, test_df = (pd.read_csv(p, sep="\t", header=None, names=RATING_COLUMNS)
                    for p in (args.base, args.test))
np.save(args.out, call(args.method, base_df, test_df, args.seed, args.data_dir, **json.loads(args.settings)))
