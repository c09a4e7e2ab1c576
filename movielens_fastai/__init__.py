"""movielens-fastai: the package behind the lessons in notebooks/.

The notebooks start with ``import movielens_fastai as mlf`` and use the names below; everything
else has one home in a subpackage, each standing on the ones before it:

* ``core``: column names, seeding, the environment record, atomic JSON, where things are;
* ``lesson``: what only notebooks need (warning filters, parameter checks, Jovian);
* ``data``: MovieLens 100K and the bigger releases, side information, synthetic ratings, splits;
* ``training``: fastai 2 parts (the tensor-slice loader, a lean learner, sparse Adam, data-parallel);
* ``models``: rating predictors (``models.rating``, with their registry) and rankers (``models.topn``);
* ``evaluation``: metrics and the protocols that score models, and the bridge between environments;
* ``reporting``: tables, plots, notebooks made fit to commit;
* ``serving``: the model in a person's hands.

Nothing imports a floor above its own; importing this package imports numpy, pandas and scipy only.
"""

from .core import environment, seed_everything, write_json_atomically
from .data.movielens import (
    DATA_DIR_ENV,
    DataError,
    DownloadError,
    check_movielens,
    fetch_movielens,
    load_movies,
    resolve_data_dir,
)
from .data.releases import fetch_dataset, load_dataset
from .data.splits import validation_indices
from .lesson import (
    Progress,
    check_batches,
    check_params,
    commit_to_jovian,
    finished_cleanly,
    predictions_table,
    print_environment,
    quiet_known_warnings,
)
from .serving.recommend import (
    UnknownUserError,
    fastai_v1_scorer,
    fastai_v2_scorer,
    recommend_next,
    top_unseen,
)

__all__ = [
    "DATA_DIR_ENV", "DataError", "DownloadError", "Progress", "UnknownUserError",
    "check_batches", "check_movielens", "check_params", "commit_to_jovian", "environment", "finished_cleanly",
    "fastai_v1_scorer", "fastai_v2_scorer", "fetch_dataset", "fetch_movielens", "load_dataset", "load_movies",
    "predictions_table", "print_environment", "quiet_known_warnings", "recommend_next", "resolve_data_dir",
    "seed_everything", "top_unseen", "validation_indices", "write_json_atomically",
]

# The notebooks' first cell is `import movielens_fastai as mlf`: from there on, the library
# warnings a reader cannot act on are not printed (see lesson.KNOWN_WARNINGS).
quiet_known_warnings()
