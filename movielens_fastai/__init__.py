"""Plumbing for the movielens-fastai notebooks: data download and checks, run
bookkeeping and recommendations. The lessons themselves live in notebooks/."""

from .data import (
    DATA_DIR_ENV,
    DataError,
    DownloadError,
    check_movielens,
    fetch_movielens,
    load_movies,
    resolve_data_dir,
    validation_indices,
)
from .datasets import fetch_dataset, load_dataset
from .ranking import (
    evaluate_ranking,
    evaluate_within_rated,
    ndcg_at_k,
    popularity_scorer,
    precision_at_k,
    top_k_for_users,
    top_k_unseen,
)
from .recommend import (
    UnknownUserError,
    fastai_v1_scorer,
    fastai_v2_scorer,
    predictions_table,
    recommend_next,
    top_unseen,
)
from .run import (
    check_batches,
    check_params,
    commit_to_jovian,
    environment,
    print_environment,
    quiet_known_warnings,
    seed_everything,
    write_json_atomically,
)

__all__ = [
    "DATA_DIR_ENV", "DataError", "DownloadError", "UnknownUserError",
    "check_batches", "check_movielens", "check_params", "commit_to_jovian", "environment",
    "evaluate_ranking", "evaluate_within_rated", "ndcg_at_k", "popularity_scorer",
    "precision_at_k", "top_k_for_users", "top_k_unseen",
    "fastai_v1_scorer", "fastai_v2_scorer", "fetch_dataset", "fetch_movielens", "load_dataset", "load_movies",
    "predictions_table", "print_environment", "quiet_known_warnings", "recommend_next", "resolve_data_dir",
    "seed_everything",
    "top_unseen", "validation_indices", "write_json_atomically",
]

# The notebooks' first cell is `import movielens_fastai as mlf`: from there on, the library
# warnings a reader cannot act on are not printed (see run.KNOWN_WARNINGS).
quiet_known_warnings()
