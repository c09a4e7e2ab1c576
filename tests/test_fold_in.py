"""Folding a new user into a trained dot model (models.rating.fold_in), on synthetic models whose
true users are known: numpy alone, no training."""

import numpy as np
import pytest

from movielens_fastai.models.rating.fold_in import DotModel, fit_user, user_precision

Y_RANGE = (0.0, 5.5)


def synthetic_model(n_users=300, n_movies=400, n_factors=6, seed=0, penalty=1.0) -> DotModel:
    rng = np.random.default_rng(seed)
    return DotModel(
        user_ids=np.arange(1, n_users + 1) * 10, movie_ids=np.arange(1, n_movies + 1),
        user_vectors=rng.normal(0, 0.4, (n_users, n_factors)).astype(np.float32),
        user_biases=rng.normal(0.3, 0.2, n_users).astype(np.float32),
        movie_vectors=rng.normal(0, 0.6, (n_movies, n_factors)).astype(np.float32),
        movie_biases=rng.normal(0.2, 0.3, n_movies).astype(np.float32),
        y_range=Y_RANGE, fold_in_penalty=penalty)


def ratings_of(model: DotModel, theta: np.ndarray, movie_ids, noise=0.0, seed=1) -> np.ndarray:
    rows = model.rows(movie_ids)
    z = model.movie_vectors[rows].astype(float) @ theta[:-1] + theta[-1] + model.movie_biases[rows]
    lo, hi = model.y_range
    exact = lo + (hi - lo) / (1 + np.exp(-z))
    return exact + np.random.default_rng(seed).normal(0, noise, len(exact))


def test_a_known_user_is_recovered_from_exact_ratings():
    model = synthetic_model()
    true = np.append(model.user_vectors[7].astype(float), model.user_biases[7])
    movies = model.movie_ids[:150]
    folded = model.fold_in(movies, ratings_of(model, true, movies), penalty=1e-6)
    assert np.abs(np.append(folded.vector, folded.bias) - true).max() < 1e-3
    # and so it predicts what the trained model predicts for that user, on movies it was not given
    unseen = model.movie_ids[150:]
    trained = model.predict(np.full(len(unseen), model.user_ids[7]), unseen)
    assert np.abs(folded.predict(unseen) - trained).max() < 1e-3


def test_no_ratings_is_the_prior():
    model = synthetic_model()
    folded = model.fold_in([], [])
    assert np.array_equal(np.append(folded.vector, folded.bias), model.prior)
    # the default prior is the average training user
    assert np.allclose(model.prior, np.append(model.user_vectors.mean(0), model.user_biases.mean()))


def test_more_ratings_bring_predictions_closer_to_the_user():
    model = synthetic_model()
    rng = np.random.default_rng(3)
    true = np.append(rng.normal(0, 0.6, model.n_factors), 0.8)   # a user unlike the average one
    order = rng.permutation(model.movie_ids)
    given_all, held_out = order[:200], order[200:]
    ratings = ratings_of(model, true, given_all, noise=0.5)
    actual = ratings_of(model, true, held_out)
    errors = []
    for k in (0, 3, 10, 40, 200):
        folded = model.fold_in(given_all[:k], ratings[:k])
        errors.append(np.sqrt(np.mean((folded.predict(held_out) - actual) ** 2)))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:], strict=False)), errors


def test_a_high_rating_raises_that_movies_prediction():
    model = synthetic_model()
    movie = model.movie_ids[5]
    before = model.fold_in([], []).predict([movie])[0]
    after = model.fold_in([movie], [5.0]).predict([movie])[0]
    lower = model.fold_in([movie], [1.0]).predict([movie])[0]
    assert lower < before < after <= 5.0


def test_the_fit_is_a_minimum_of_its_objective():
    model = synthetic_model()
    rng = np.random.default_rng(5)
    movies = rng.choice(model.movie_ids, 12, replace=False)
    ratings = rng.integers(1, 6, 12).astype(float)
    rows = model.rows(movies)
    penalty = 0.7

    def objective(theta):
        z = model.movie_vectors[rows].astype(float) @ theta[:-1] + theta[-1] + model.movie_biases[rows]
        residual = ratings - 5.5 / (1 + np.exp(-z))
        gap = theta - model.prior
        return residual @ residual + penalty * gap @ model.prior_precision @ gap

    theta = fit_user(model.movie_vectors[rows], model.movie_biases[rows], ratings, Y_RANGE, model.prior,
                     penalty, model.prior_precision)
    best = objective(theta)
    for _ in range(50):
        nudge = rng.normal(0, 1e-3, theta.shape)
        assert objective(theta + nudge) >= best - 1e-9


def test_population_prior_fits_the_training_ratings_better_than_the_average_user():
    model = synthetic_model()
    users = np.repeat(model.user_ids, 20)
    movies = np.random.default_rng(2).choice(model.movie_ids, len(users))
    ratings = model.predict(users, movies)
    with_population = model.with_population_prior(movies, ratings)

    def error(prior):
        return np.mean((ratings_of(model, prior, movies) - ratings) ** 2)

    assert error(with_population.prior) < error(model.prior)
    assert with_population.fold_in([], []).bias == pytest.approx(with_population.prior[-1])


def test_user_precision_is_the_inverse_covariance_of_the_users():
    model = synthetic_model(n_users=2000, n_factors=3)
    theta = np.hstack([model.user_vectors, model.user_biases[:, None]]).astype(float)
    assert np.allclose(np.linalg.inv(user_precision(model.user_vectors, model.user_biases)),
                       np.cov(theta, rowvar=False), rtol=0.01, atol=1e-4)
    # fewer users than factors still gives a prior
    assert np.isfinite(user_precision(model.user_vectors[:3], model.user_biases[:3])).all()


def test_bad_inputs_are_refused_plainly():
    model = synthetic_model()
    with pytest.raises(KeyError, match=r"movie id\(s\) \[99999\] are not in the trained model"):
        model.fold_in([99999], [4.0])
    with pytest.raises(ValueError, match="2 movie ids but 1 ratings"):
        model.fold_in([1, 2], [4.0])
    with pytest.raises(ValueError, match="penalty must be a positive number"):
        model.fold_in([1], [4.0], penalty=0)
    with pytest.raises(ValueError, match="user_biases has shape"):
        DotModel([1, 2], [1], np.zeros((2, 3)), np.zeros(3), np.zeros((1, 3)), np.zeros(1), Y_RANGE)
    with pytest.raises(ValueError, match="movie_ids must be sorted and distinct"):
        DotModel([1, 2], [2, 1], np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), np.zeros(2), Y_RANGE)
    with pytest.raises(ValueError, match="y_range must be"):
        DotModel([1, 2], [1], np.zeros((2, 3)), np.zeros(2), np.zeros((1, 3)), np.zeros(1), (5, 1))
