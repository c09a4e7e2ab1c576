"""Turning a trained model into a table a person can read: predicted next to
actual ratings, and the movies a user has not rated yet, best first.

Two questions, two kinds of model:

* "How would I like this movie?": the article's rating model (``fastai_v1_scorer``,
  ``fastai_v2_scorer``) predicts a rating; ``top_unseen`` lists the highest predictions.
  These lists favour movies few people saw but those who did loved, and lose to plain
  "most popular" at guessing what a user will watch and enjoy (see
  notebooks/06_recommending.ipynb).
* "What should I watch next?": ``recommend_next`` ranks with a model trained for top-N
  lists (EASE by default: within 3% of the best ranker in notebooks/06_recommending.ipynb and
  fitted in seconds; any ranker of ``models.topn`` can be passed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..core import MOVIE, TITLE, USER
from ..models.topn.ease import CHOSEN_L2, EASE

# (user ids, movie ids) -> predicted ratings, all as 1-d arrays of equal length.
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


class UnknownUserError(KeyError):
    def __str__(self):
        return self.args[0]


def fastai_v1_scorer(learn) -> Scorer:
    """Score raw MovieLens ids with a fastai v1 ``collab_learner``.

    Unlike ``learn.get_idx`` this leaves the model where it is and keeps its
    gradients switched on.
    """
    users, movies = learn.data.train_ds.x.classes.values()
    return _embedding_scorer(learn.model, users, movies, lambda model, u, m: model(u, m))


def fastai_v2_scorer(learn) -> Scorer:
    """Score raw MovieLens ids with a fastai 2 ``collab_learner``."""
    import torch

    users, movies = learn.dls.classes.values()
    # fastai 2 models take one (n, 2) tensor of (user, movie) indices.
    return _embedding_scorer(learn.model, users, movies, lambda model, u, m: model(torch.stack([u, m], 1)))


def _embedding_scorer(model, user_classes: Sequence, movie_classes: Sequence, forward) -> Scorer:
    import torch

    # Vocabularies start with '#na#'; ids may be stored as str (v1) or int (v2).
    user_index = {str(c): i for i, c in enumerate(user_classes) if i}
    movie_index = {str(c): i for i, c in enumerate(movie_classes) if i}

    def score(user_ids, movie_ids):
        users = [user_index[str(u)] for u in user_ids]
        movies = [movie_index[str(m)] for m in movie_ids]
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.no_grad():
            preds = forward(model, torch.tensor(users, device=device), torch.tensor(movies, device=device))
        model.train(was_training)
        return preds.reshape(-1).cpu().numpy()

    score.known_users = {int(u) for u in user_index}
    score.known_movies = {int(m) for m in movie_index}
    return score


def top_unseen(scorer: Scorer, ratings: pd.DataFrame, movies: pd.DataFrame,
               user_id: int, n: int = 10) -> pd.DataFrame:
    """The ``n`` movies ``user_id`` has not rated, by the scorer's score, with titles.

    With a rating model this answers "which unseen movies would I rate highest?"; the
    score column is "Predicted rating", or the scorer's ``label`` if it has one (rankers
    label it "Score"). For "what should I watch next?" use ``recommend_next``.
    Only movies the model was trained on are candidates. A user who has rated all
    of them gets an empty table; a user the model never saw is an error.
    """
    known_users = getattr(scorer, "known_users", set(ratings[USER]))
    if user_id not in known_users:
        raise UnknownUserError(f"user {user_id} is not in the training data, so the model "
                               f"has nothing to recommend from{NEW_USER_HINT}")
    candidates = getattr(scorer, "known_movies", set(movies[MOVIE]))
    rated = set(ratings.loc[ratings[USER] == user_id, MOVIE])
    unseen = np.array(sorted(candidates - rated), dtype=np.int64)
    label = getattr(scorer, "label", "Predicted rating")
    columns = [MOVIE, TITLE, label]
    if unseen.size == 0:
        return pd.DataFrame(columns=columns)
    scores = scorer(np.full(unseen.shape, user_id), unseen)
    table = pd.DataFrame({MOVIE: unseen, label: scores})
    table = table.merge(movies[[MOVIE, TITLE]], on=MOVIE, how="left")
    table = table.sort_values([label, MOVIE], ascending=[False, True], kind="stable")
    return table[columns].head(n).reset_index(drop=True)


# Where a user the model never saw goes instead (docs/serving.md).
NEW_USER_HINT = ("; for someone the model has not seen, fold their ratings into a saved model: "
                 "movielens_fastai.serving.bundle.load_bundle(path).new_user(ratings).recommend(10) "
                 "(docs/serving.md)")


def recommend_next(ratings: pd.DataFrame, movies: pd.DataFrame, user_id: int, n: int = 10,
                   ranker=None) -> pd.DataFrame:
    """What should ``user_id`` watch next? The ``n`` movies they have not rated, best
    first, with titles, from a ranker trained on ``ratings`` (which movies each user
    rated, not how): by default EASE with the setting chosen in
    notebooks/06_recommending.ipynb (see ``best_ranker``); any unfitted ranker of ``models.topn``
    can be passed. A user not in ``ratings`` is an error.
    """
    if user_id not in set(ratings[USER]):
        raise UnknownUserError(f"user {user_id} is not in the ratings, so there is nothing to "
                               f"recommend from{NEW_USER_HINT}")
    ranker = (ranker if ranker is not None else best_ranker()).fit(ratings)
    return top_unseen(ranker.scorer(), ratings, movies, user_id, n)


def best_ranker() -> EASE:
    """The ranker ``recommend_next`` uses: EASE with its chosen penalty. In
    notebooks/06_recommending.ipynb it comes within 3% of the best NDCG@10 on both protocols (the
    blend and the fastai softmax model, which take a minute to train), in about 2 seconds and with
    no randomness."""
    return EASE(l2=CHOSEN_L2)
