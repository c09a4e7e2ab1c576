"""A trained model saved and loaded as plain arrays (serving.bundle), trained through the fast path
(serving.train), and the new user it serves: in the fastai 2 environment (safetensors is there)."""

import io
import json
import os
import pickle
import struct

import numpy as np
import pandas as pd
import pytest
import safetensors.numpy
import torch

from movielens_fastai.data.movielens import DataError, load_movies, read_ratings_file
from movielens_fastai.serving.bundle import (
    POPULAR_REASON,
    BundleError,
    ModelBundle,
    RatingsError,
    load_bundle,
    ratings_sha256,
    save_bundle,
)
from movielens_fastai.serving.train import (
    dot_model_from_learner,
    dot_model_to_fastai,
    train_bundle_from_tables,
)
from movielens_fastai.training.learner import fast_collab_learner
from movielens_fastai.training.loaders import collab_dataloaders

SLICE = 8000


@pytest.fixture(scope="module")
def tables(data_dir):
    return read_ratings_file(data_dir / "u.data").iloc[:SLICE], load_movies(data_dir)


@pytest.fixture(scope="module")
def bundle(tables) -> ModelBundle:
    ratings, titles = tables
    lines = []
    made = train_bundle_from_tables(ratings, titles, progress=lines.append, source="a slice of u.data",
                                    rating_scale=(1, 5), epochs=1)
    made.info["progress"] = lines
    return made


@pytest.fixture
def saved(bundle, tmp_path):
    return save_bundle(tmp_path / "model.safetensors", bundle)


SOME_RATINGS = {50: 5, 181: 4, 1: 2, 100: 5}


def answers(bundle):
    """Everything a bundle answers, for comparing two bundles to the last bit."""
    known_user = int(bundle.model.user_ids[3])
    user = bundle.new_user(SOME_RATINGS)
    return (bundle.predict(known_user, bundle.movie_ids), user.predict(bundle.movie_ids), user.recommend(20),
            bundle.new_user({}).recommend(5), bundle.search("the", 20))


def test_training_says_what_it_does(bundle):
    lines = bundle.info["progress"]
    assert lines[0].startswith(f"Checking a slice of u.data: {SLICE:,} ratings")
    assert any("epoch 1/1" in line for line in lines)
    assert any("validation MSE" in line for line in lines)
    assert lines[-1].startswith("Done:")
    assert sum(line.startswith("Done:") for line in lines) == 1, "each step said once"


def test_bundle_records_how_it_was_made(bundle, tables):
    info = bundle.info
    assert info["ratings_sha256"] == ratings_sha256(tables[0])
    assert info["valid_mse"] > 0
    assert {"fastai", "torch", "numpy", "pandas", "safetensors", "movielens-fastai"} <= set(info["versions"])
    assert info["settings"]["recipe"]["n_factors"] == 40 and info["settings"]["recipe"]["y_range"] == [0, 5.5]
    assert info["data"]["ratings"] == SLICE and info["data"]["valid_ratings"] == SLICE // 10
    assert bundle.rating_scale == (1.0, 5.0)


def test_save_then_load_gives_the_same_answers_to_the_last_bit(bundle, saved):
    loaded = load_bundle(saved, expect_ratings_sha256=bundle.ratings_sha256)
    for name, array in bundle.arrays().items():
        assert np.array_equal(loaded.arrays()[name], array), name
        assert loaded.arrays()[name].dtype == array.dtype
    assert loaded.titles == bundle.titles and loaded.info == bundle.info
    for before, after in zip(answers(bundle), answers(loaded), strict=True):
        if isinstance(before, pd.DataFrame):
            pd.testing.assert_frame_equal(before, after, check_exact=True)
        else:
            assert np.array_equal(before, after)


def test_the_file_holds_no_pickle_and_loading_never_unpickles(saved, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load_bundle unpickled something")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_bundle(saved)
    header_size = struct.unpack("<Q", saved.read_bytes()[:8])[0]
    header = json.loads(saved.read_bytes()[8:8 + header_size])
    dtypes = {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}
    assert dtypes <= {"F32", "F64", "I64"}


def test_the_arrays_are_the_fastai_models(tables):
    """dot_model_from_learner keeps the learner's weights as they are: rebuilt into fastai's
    EmbeddingDotBias they predict bit for bit what the learner predicts, and the numpy predictions
    agree to float32 rounding."""
    ratings = tables[0].reset_index(drop=True)
    torch.manual_seed(0)
    valid = np.arange(len(ratings) - 500, len(ratings))
    dls = collab_dataloaders(ratings, valid, bs=64, device="cpu", seed=0)
    learn = fast_collab_learner(dls, n_factors=40, y_range=(0, 5.5), wd=0.1, progress=False)
    with learn.no_logging():
        learn.fit_one_cycle(1, 0.01)
    dot = dot_model_from_learner(learn)
    x = dls.train.x[:2000]
    x = x[(x > 0).all(1)]
    learn.model.eval()
    with torch.no_grad():
        expected = learn.model(x)
        rebuilt = dot_model_to_fastai(dot)(x)
    assert torch.equal(expected, rebuilt)
    users, movies = dot.user_ids[x[:, 0].numpy() - 1], dot.movie_ids[x[:, 1].numpy() - 1]
    assert np.allclose(dot.predict(users, movies), expected.view(-1).numpy(), atol=1e-5)


@pytest.mark.parametrize("cut", ["inside the length", "inside the header", "inside the arrays", "last byte"])
def test_a_truncated_file_is_refused(saved, cut):
    data = saved.read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    keep = {"inside the length": 5, "inside the header": header_end // 2,
            "inside the arrays": header_end + 1000, "last byte": len(data) - 1}[cut]
    saved.write_bytes(data[:keep])
    with pytest.raises(BundleError, match=rf"^{saved}: (damaged|not a model bundle).*(truncated|too short)"):
        load_bundle(saved)


@pytest.mark.parametrize("where", ["an array", "a title", "the settings"])
def test_a_changed_byte_is_refused(saved, where):
    data = bytearray(saved.read_bytes())
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    if where == "an array":
        position = header_end + (len(data) - header_end) // 3
        data[position] ^= 0x01
    else:
        needle = b"Toy Story" if where == "a title" else b"cond_weight"
        position = bytes(data).index(needle) + 1
        data[position] = ord("X")
    saved.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"^{saved}: damaged: its contents do not match the SHA-256"):
        load_bundle(saved)


def test_a_bundle_of_other_ratings_is_refused(bundle, saved, tables):
    other = tables[0].assign(Rating=tables[0]["Rating"].where(tables[0].index != 0, 1))
    assert ratings_sha256(other) != bundle.ratings_sha256
    with pytest.raises(BundleError, match=rf"^{saved}: trained on other ratings \(SHA-256 "
                                          rf"{bundle.ratings_sha256[:12]}…\), not the ones expected"):
        load_bundle(saved, expect_ratings_sha256=ratings_sha256(other))


def test_files_that_are_not_bundles_are_refused(tmp_path, bundle):
    text = tmp_path / "notes.txt"
    text.write_text("a model, I promise\n")
    pickled = tmp_path / "export.pkl"
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    pickled.write_bytes(buffer.getvalue())
    foreign = tmp_path / "other.safetensors"
    foreign.write_bytes(safetensors.numpy.save({"w": np.zeros(3, np.float32)}, metadata={"format": "pt"}))
    newer = tmp_path / "newer.safetensors"
    metadata = {**bundle.metadata(), "format_version": "99"}
    newer.write_bytes(safetensors.numpy.save(bundle.arrays(), metadata=metadata))
    for path, message in [
        (text, "not a model bundle: not a safetensors file"),
        (pickled, "not a model bundle: not a safetensors file .*never reads"),
        (foreign, "not a model bundle: a safetensors file, but not one written by"),
        (newer, "bundle format version '99'; this code reads version 1"),
        (tmp_path / "missing.safetensors", "no such bundle file"),
        (tmp_path, r"no such bundle file \(it is a folder\)"),
    ]:
        with pytest.raises(BundleError, match=rf"^{path}: {message}"):
            load_bundle(path)


def test_saving_leaves_the_old_file_or_the_new_one(bundle, saved, monkeypatch):
    before = saved.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(saved, bundle)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


def test_ratings_sha256_names_the_ratings_not_the_file(tables):
    ratings = tables[0]
    shuffled = ratings.sample(frac=1, random_state=0).astype({"Rating": "float32"})
    assert ratings_sha256(shuffled) == ratings_sha256(ratings)
    assert ratings_sha256(ratings.iloc[1:]) != ratings_sha256(ratings)


def test_a_new_user_is_predicted_and_ranked(bundle):
    user = bundle.new_user(SOME_RATINGS)
    assert user.ratings == {50: 5.0, 181: 4.0, 1: 2.0, 100: 5.0}
    assert isinstance(user.predict(50), float) and user.predict([50, 1]).shape == (2,)
    assert user.predict(50) > user.predict(1)   # rated 5 and 2: the fold-in follows
    table = user.recommend(10)
    assert list(table.columns) == ["Movie ID", "Title", "Score", "Predicted rating", "Because"]
    assert len(table) == 10 and not set(table["Movie ID"]) & set(SOME_RATINGS)
    assert table["Score"].is_monotonic_decreasing
    assert all(reason == POPULAR_REASON or reason.startswith(("because you liked", "because you watched"))
               for reason in table["Because"])
    nobody = bundle.new_user([]).recommend(10)
    assert (nobody["Because"] == POPULAR_REASON).all()
    most_rated = bundle.movies.sort_values("Ratings", ascending=False, kind="stable")["Movie ID"]
    assert nobody["Movie ID"].tolist() == most_rated.head(10).tolist()


def test_pairs_and_strings_of_digits_are_accepted(bundle):
    assert bundle.new_user([(50, 5), ("181", 4.5)]).ratings == {50: 5.0, 181: 4.5}


@pytest.mark.parametrize("ratings, message", [
    ({999999: 4}, r"movie id 999999 is not one of this model's [\d,]+ movies"),
    ({"Star Wars": 4}, "movie id 'Star Wars' is not an integer"),
    ({50: 6}, r"the rating of movie 50 \(Star Wars \(1977\)\) is 6, outside the scale 1 to 5"),
    ({50: 0}, "outside the scale 1 to 5"),
    ({50: float("nan")}, "is nan, outside the scale"),
    ({50: "five"}, r"the rating of movie 50 \(Star Wars \(1977\)\) must be a number, got 'five'"),
    ({50: True}, "must be a number, got True"),
    ([(50, 4), (50, 5)], r"movie 50 \(Star Wars \(1977\)\) is rated twice"),
    ([(50, 4, 1)], r"\(movie id, rating\) pairs; got the item \(50, 4, 1\)"),
    ("50:4", "ratings must be a dict {movie id: rating} or \\(movie id, rating\\) pairs, got str"),
    ([(m, 4) for m in range(1, 3000)], "2,999 ratings, but the model knows only"),
])
def test_bad_ratings_get_plain_messages(bundle, ratings, message):
    with pytest.raises(RatingsError, match=message):
        bundle.new_user(ratings)


def test_search_finds_titles_the_way_a_type_ahead_needs(bundle):
    found = bundle.search("  STAR wars ")
    assert found["Title"].str.contains("Star Wars").all() and len(found) >= 1
    assert len(bundle.search("the", limit=3)) == 3
    assert bundle.search("the", 50)["Ratings"].is_monotonic_decreasing
    assert bundle.search("").empty and bundle.search("no such movie at all").empty
    with pytest.raises(ValueError, match="k must be a positive integer"):
        bundle.search("the", limit=0)


def test_training_refuses_a_bad_table_plainly(tables):
    ratings, titles = tables
    with pytest.raises(DataError, match="my ratings: row 3: rating 'x' is not a number"):
        train_bundle_from_tables(ratings.head(200).astype({"Rating": object}).assign(
            Rating=lambda f: f["Rating"].where(f.index != 2, "x")), titles, source="my ratings",
            progress=lambda line: None)
    with pytest.raises(ValueError, match="outside the rating scale 1 to 4"):
        train_bundle_from_tables(ratings, titles, rating_scale=(1, 4), progress=lambda line: None)


def test_the_ports_learner_saves_to_a_bundle_too(tables, tmp_path):
    """The port (``collab_learner`` on ``TabularCollab``) gives the same kind of bundle: its model's
    arrays with its id maps, predicting what the learner predicts."""
    from fastai.collab import TabularCollab, collab_learner
    from fastai.data.block import TransformBlock
    from fastai.data.transforms import IndexSplitter
    from fastai.tabular.core import Categorify, TabDataLoader
    from fastcore.basics import range_of

    from movielens_fastai.serving.train import bundle_from_learner

    ratings, titles = tables
    ratings = ratings.iloc[:5000].reset_index(drop=True)
    valid_idx = list(range(4500, 5000))
    torch.manual_seed(0)
    to = TabularCollab(ratings, [Categorify], cat_names=["User ID", "Movie ID"], y_names=["Rating"],
                       y_block=TransformBlock(), splits=IndexSplitter(valid_idx)(range_of(ratings)))
    dls = to.dataloaders(bs=64, dl_type=TabDataLoader)
    learn = collab_learner(dls, n_factors=40, y_range=(0, 5.5), wd=0.1)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 0.01)
    history = [list(row) for row in learn.recorder.values]
    made = bundle_from_learner(learn, ratings.iloc[:4500], titles, all_ratings=ratings,
                               progress=lambda line: None)
    assert made.info["ratings_sha256"] == ratings_sha256(ratings)
    # its validation MSE is the learner's last validation loss, and the learner's history is untouched
    assert [list(row) for row in learn.recorder.values] == history
    assert made.info["valid_mse"] == pytest.approx(history[-1][1], rel=1e-5)
    pairs = ratings.iloc[:200]
    with learn.no_bar():
        expected = learn.get_preds(dl=dls.test_dl(pairs))[0].view(-1).numpy()
    assert np.allclose(made.model.predict(pairs["User ID"], pairs["Movie ID"]), expected, atol=1e-5)
    with pytest.raises(ValueError, match="give the ratings the model was trained on"):
        bundle_from_learner(learn, ratings, titles, progress=lambda line: None)
    loaded = load_bundle(save_bundle(tmp_path / "port.safetensors", made))
    assert np.array_equal(loaded.model.predict(pairs["User ID"], pairs["Movie ID"]),
                          made.model.predict(pairs["User ID"], pairs["Movie ID"]))
