"""The app's handlers and its server, in the fastai 2 environment (Gradio is there): every bad input a
person or a client can send gets a plain sentence, and the server answers the next good request.

The server runs in this process on 127.0.0.1 and a free port (``serve(..., block=False)``), is
called over HTTP as a browser's page or any client calls it (``/gradio_api/call/<name>``), and is
closed after the module. Requests are few and each has a timeout."""

from __future__ import annotations

import html
import http.client
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
import torch

from movielens_fastai.data.movielens import load_movies, read_ratings_file
from movielens_fastai.serving.app import (
    LIST_LENGTH,
    MAX_BODY_BYTES,
    MAX_RATINGS,
    RATED,
    MovieApp,
    RequestLimits,
    data_name,
    plain,
    serve,
    shown,
    write_space,
)
from movielens_fastai.serving.bundle import POPULAR_REASON, save_bundle
from movielens_fastai.serving.train import train_bundle

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
JSON = {"Content-Type": "application/json"}
STAR_WARS, EMPIRE, JEDI, RAIDERS, TOY_STORY = 50, 172, 181, 174, 1
FIVE = {STAR_WARS: 5, EMPIRE: 5, JEDI: 4, RAIDERS: 5, TOY_STORY: 3}


@pytest.fixture(scope="module")
def bundle(data_dir):
    """The model `make app` serves: the article's recipe on MovieLens 100K (about 20 s on 2 cores)."""
    torch.set_num_threads(1)   # as the app's command trains: batches of 64 are fastest on one thread
    lines = []
    made = train_bundle(data_dir, progress=lines.append)
    made.info["progress"] = lines
    return made


@pytest.fixture(scope="module")
def app(bundle):
    return MovieApp(bundle)


@pytest.fixture(scope="module")
def server(bundle):
    demo = serve(bundle, port=None, block=False, quiet=True)
    try:
        yield urlparse(demo.local_url)
    finally:
        demo.close()


def table(ratings: dict) -> dict:
    """A ratings table as the page sends it."""
    return {"headers": RATED, "data": [[m, "", r] for m, r in ratings.items()], "metadata": None}


def request(server, method: str, path: str, body: bytes | None = None, headers=None):
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def call(server, name: str, *data, raw: bytes | None = None) -> tuple[str, object]:
    """One call of the page's ``name`` event over Gradio's HTTP API: (event, outputs)."""
    body = raw if raw is not None else json.dumps({"data": list(data)}).encode()
    status, text = request(server, "POST", f"/gradio_api/call/{name}", body,
                           {"Content-Type": "application/json"})
    assert status == 200, (status, text)
    status, stream = request(server, "GET", f"/gradio_api/call/{name}/{json.loads(text)['event_id']}")
    assert status == 200, (status, stream)
    event = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("event: ")][-1]
    data = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("data: ")][-1]
    return event, json.loads(data)


def still_serving(server):
    """A good request after a bad one gets ten titles."""
    event, (listed, message) = call(server, "recommend", table(FIVE))
    assert event == "complete" and len(listed["data"]) == LIST_LENGTH, (event, message)


# ----------------------------------------------------------------------------- the handlers


def test_five_ratings_give_ten_sensible_titles(app, bundle):
    rows, message = app.recommend(table(FIVE))
    assert message == "Ten movies for you, from your 5 ratings."
    titles = [row[1] for row in rows]
    assert [row[0] for row in rows] == list(range(1, 11)) and len(set(titles)) == 10
    assert not set(titles) & {bundle.title(m) for m in FIVE}, "a rated movie was listed"
    rated_titles = {bundle.title(m) for m in FIVE}
    for _, _, predicted, because in rows:
        assert 1 <= predicted <= 5
        assert because == POPULAR_REASON or because.removeprefix("because you liked ").removeprefix(
            "because you watched ") in rated_titles, because
    # Sensible: a Star Wars fan's list is not everyone's, and not a children's-film fan's.
    popular, _ = app.recommend(table({}))
    children, _ = app.recommend(table({1: 5, 71: 5, 95: 5, 99: 5, 588: 5}))   # Toy Story, Lion King, ...
    assert len(set(titles) & {row[1] for row in popular}) <= 5
    assert len(set(titles) & {row[1] for row in children}) <= 3
    assert {"Indiana Jones and the Last Crusade (1989)", "Terminator, The (1984)",
            "Back to the Future (1985)", "Princess Bride, The (1987)", "Alien (1979)", "Aliens (1986)",
            "Terminator 2: Judgment Day (1991)", "Star Trek: The Wrath of Khan (1982)"} & set(titles)


def test_rating_adds_to_the_table_and_finds_titles_as_typed(app, bundle):
    rows, message = app.rate(STAR_WARS, 5, table({}))
    assert rows == [[STAR_WARS, "Star Wars (1977)", 5.0]] and "Rate 4 more" in message
    rows, message = app.rate("empire strikes", 4, {"headers": RATED, "data": rows})   # typed, not picked
    assert [row[0] for row in rows] == [STAR_WARS, EMPIRE]
    rows, message = app.rate("star wars (1977)", 3, {"headers": RATED, "data": rows})   # rated again
    assert rows[0] == [STAR_WARS, "Star Wars (1977)", 3.0] and message.startswith("Changed")
    assert app.rate(None, 5, table({}))[1].startswith("⚠️ Pick a movie first")
    # The page's Markdown, escaped (``plain``): the brackets show as typed.
    assert app.rate([1, 2], 5, table({}))[1] == "⚠️ '\\[1, 2\\]' is not a movie title."


# What a person types, and the title they mean: case, accents, punctuation and the article's place
# (MovieLens writes "Godfather, The") are theirs to leave out.
TYPED = [
    ("les miserables", "Misérables, Les (1995)"),
    ("the godfather", "Godfather, The (1972)"),
    ("schindlers list", "Schindler's List (1993)"),
    ("miser", "Misérables, Les (1995)"),                        # the start of a word
    ("nenette et boni", "Nénette et Boni (1996)"),
    ("NÉNETTE", "Nénette et Boni (1996)"),
    ("la ceremonie", "Cérémonie, La (1995)"),
    ("cérémonie", "Cérémonie, La (1995)"),
    ("star wars 1977", "Star Wars (1977)"),                     # a year
    ("godfather 1974", "Godfather: Part II, The (1974)"),
    ("empire str", "Empire Strikes Back, The (1980)"),          # part of a word
    ("the empire strikes back", "Empire Strikes Back, The (1980)"),
    ("a fish called wanda", "Fish Called Wanda, A (1988)"),
    ("il postino", "Postino, Il (1994)"),
    ("the usual suspects", "Usual Suspects, The (1995)"),
    ("e.t.", "E.T. the Extra-Terrestrial (1982)"),
    ("wallace and gromit", None),                               # "and" is not "&": nothing found
    ("wallace gromit", "Wallace & Gromit: The Best of Aardman Animation (1996)"),
    ("the city of lost children", "City of Lost Children, The (1995)"),
    ("le mepris", "Contempt (Mépris, Le) (1963)"),              # an article moved inside brackets
    ("double life of veronique", "Double vie de Véronique, La (Double Life of Veronique, The) (1991)"),
    ("  Titanic  ", "Titanic (1997)"),
]


@pytest.mark.parametrize("typed, title", TYPED, ids=[typed.strip() for typed, _ in TYPED])
def test_search_finds_what_a_person_types_in_the_first_three(bundle, typed, title):
    found = list(bundle.search(typed, limit=3)["Title"])
    if title is None:
        assert found == [], found
        return
    assert title in bundle.titles, f"{title} is not among the model's movies: pick another"
    assert title in found, (typed, found)


def test_search_puts_the_best_matches_first(bundle, app):
    """The whole title, then whole words, then the start of words; then the most rated."""
    assert list(bundle.search("alien", 4)["Title"])[0] == "Alien (1979)"   # not Aliens, more rated
    assert list(bundle.search("the godfather", 2)["Title"]) == ["Godfather, The (1972)",
                                                                "Godfather: Part II, The (1974)"]
    starred = bundle.search("star", 50, match=True)
    assert list(starred["Title"])[0] == "Star Wars (1977)"
    assert starred["Match"].is_monotonic_increasing
    for _, same in starred.groupby("Match"):
        assert same["Ratings"].is_monotonic_decreasing
    # Typed whole on the page, a title is the one it is, even when others contain it.
    for typed, title in [("the godfather", "Godfather, The (1972)"),
                         ("les miserables", "Misérables, Les (1995)"),
                         ("Schindlers List", "Schindler's List (1993)"), ("alien", "Alien (1979)")]:
        assert bundle.title(app.movie(typed)) == title
    rows, message = app.rate("the godfather", 5, table({}))
    assert rows == [[127, "Godfather, The (1972)", 5.0]], message


@pytest.mark.parametrize("movie, stars, said", [
    ("Star Warz", 5, "No movie this model knows has 'Star Warz' in its title"),
    ("star", 5, "'star' is in several titles"),
    (999_999, 5, "This model knows no movie with id 999999"),
    (STAR_WARS, 7, "A rating runs from 1 to 5; 7 is off the scale"),
    (STAR_WARS, 0, "A rating runs from 1 to 5; 0 is off the scale"),
    (STAR_WARS, "five", "A rating is a number from 1 to 5, not 'five'"),
    (STAR_WARS, float("nan"), "nan is off the scale"),
    (STAR_WARS, True, "not 'True'"),
    # A lone surrogate, a NUL: shown as Python escapes them, each backslash escaped for Markdown.
    # (Not "café": that finds "Metisse (Café au Lait) (1993)".)
    ("\ud800 qu\xe9x \x00", 5, r"'\\ud800 qu\\xe9x \\x00'"),
])
def test_a_bad_rating_gets_a_plain_message(app, movie, stars, said):
    rows, message = app.rate(movie, stars, table({}))
    assert message.startswith("⚠️ ") and said in message, message
    message.encode("utf-8")   # the page can carry it


@pytest.mark.parametrize("ratings, said", [
    ([[STAR_WARS, "", 6]], "Row 1 of your ratings: A rating runs from 1 to 5; 6 is off the scale"),
    ([[STAR_WARS, "", 5], [STAR_WARS, "", 4]], "rated twice"),
    ([[STAR_WARS, "", 5], ["x", "y"]], "Row 2 of your ratings is not (movie id, title, rating)"),
    ([[None, "Nothing Like It", 5]], "Row 1 of your ratings: No movie this model knows has"),
    ("not a table", "Your ratings did not arrive as a table"),
])
def test_a_bad_table_gets_a_plain_message(app, ratings, said):
    sent = {"headers": RATED, "data": ratings} if isinstance(ratings, list) else ratings
    listed, message = app.recommend(sent)
    assert said in message and message.startswith("⚠️ "), message
    assert said in app.predict(STAR_WARS, sent)


def test_thousands_of_ratings_at_once_are_refused(app, bundle):
    every = {int(m): 4 for m in bundle.movie_ids}
    _, message = app.recommend(table(every))
    assert message == (f"⚠️ {len(every):,} ratings at once: this app takes at most {MAX_RATINGS:,} (more than "
                       "anyone rates in one sitting). Keep the ones you care about most.")
    many = dict(list(every.items())[:MAX_RATINGS])
    rows, message = app.recommend(table(many))
    assert len(rows) == LIST_LENGTH and message == f"Ten movies for you, from your {MAX_RATINGS} ratings."


def test_no_ratings_gives_the_popular_list_and_says_so(app):
    rows, message = app.recommend(table({}))
    assert len(rows) == LIST_LENGTH and all(row[3] == POPULAR_REASON for row in rows)
    assert message.startswith("No ratings yet")
    assert app.recommend(None)[1].startswith("No ratings yet")
    assert app.recommend({"headers": RATED, "data": [[None, None, None]]})[1].startswith("No ratings yet")


def test_hows_that_movie(app, bundle):
    answer = app.predict("titanic", table(FIVE))
    assert answer.startswith("**Titanic (1997)**: you would give it about **")
    assert "from your 5 ratings" in answer
    value = float(answer.split("**")[3])
    assert value == round(float(np.clip(bundle.new_user(FIVE).predict(313), 1, 5)), 1)
    assert "(you gave it 5)" in app.predict(STAR_WARS, table(FIVE))
    assert "for someone the model knows nothing about" in app.predict(STAR_WARS, table({}))
    assert app.predict("Star Warz", table(FIVE)).startswith("⚠️ No movie")


# Markup a person might type: Gradio's Markdown would bold it, link it and keep or drop the tag.
MARKUP = "**bold** [link](http://example.com) <b>tag</b> a_b_ `c` www.example.com me@example.com &amp; ~~s~~"


def rendered(markdown: str) -> tuple[str, str]:
    """(the HTML a CommonMark renderer makes of a message, as Gradio's does; the text it shows)."""
    from markdown_it import MarkdownIt

    page = MarkdownIt("commonmark").enable(["strikethrough", "table"]).render(markdown)
    return page, html.unescape(re.sub(r"<[^>]+>", "", page)).strip()


def shows_literally(message: str, typed: str, strong: int = 0, em: int = 0) -> str:
    """Check that ``message`` shows ``typed`` character for character and renders none of it (only
    the message's own bold and italics); the text it shows."""
    page, text = rendered(message)
    assert typed in text, (typed, text)
    assert "<a " not in page and "<b>" not in page and "<code>" not in page and "<s>" not in page, page
    assert (page.count("<strong>"), page.count("<em>")) == (strong, em), page
    return text


def test_markup_a_person_types_comes_back_as_typed(app, bundle):
    """Into each field: the picker, the rating, the table's title and rating cells, the look-up."""
    quoted = shown(MARKUP)   # messages quote a person's text as Python writes it, cut short
    shows_literally(app.rate(MARKUP, 5, table({}))[1], quoted)
    shows_literally(app.rate(STAR_WARS, MARKUP, table({}))[1], quoted)
    shows_literally(app.recommend({"headers": RATED, "data": [[None, MARKUP, 5]]})[1], quoted)
    shows_literally(app.recommend({"headers": RATED, "data": [[STAR_WARS, "", "**5**"]]})[1], "'**5**'")
    shows_literally(app.predict(MARKUP, table(FIVE)), quoted)
    assert shows_literally(app.predict(STAR_WARS, table({})), "Star Wars (1977)", strong=2)


def test_a_title_with_markup_is_shown_as_it_is_written(bundle):
    """A person's own titles file may hold anything: on the page a title is text, in the tables as
    well as the messages (the tables' cells are plain text: no escaping there)."""
    from movielens_fastai.serving.bundle import ModelBundle

    titles = list(bundle.titles)
    index = int(np.flatnonzero(bundle.movie_ids == STAR_WARS)[0])
    titles[index] = "Star *Wars*\n<i>IV</i> [x](http://example.com)"
    odd = MovieApp(ModelBundle(bundle.model, bundle.ranker, titles, bundle.rating_scale, bundle.info))
    written = titles[index].replace("\n", " ")   # on one line
    rows, message = odd.rate(STAR_WARS, 5, table({}))
    assert rows[0][1] == titles[index] and shows_literally(message, written, em=1)
    assert shows_literally(odd.predict(STAR_WARS, table(FIVE)), written, strong=2)
    listed, _ = odd.recommend(table({STAR_WARS: 5, EMPIRE: 5}))
    assert any(row[3] == f"because you liked {titles[index]}" for row in listed), listed
    assert odd.predict("star wars", table({})).startswith("**Star \\*Wars\\* \\<i\\>IV")


def test_plain_leaves_nothing_to_render():
    for typed in [MARKUP, "# heading", "| a | b |", "\\*", "$$x^2$$", "line\n# two", "1. list"]:
        page, text = rendered("⚠️ " + plain(typed))
        assert text == "⚠️ " + " ".join(typed.splitlines()), (typed, page)
        assert not re.search(r"<(?!/?p>)", page), page


def test_the_page_names_its_data_without_machine_paths(bundle):
    assert data_name(bundle) == "MovieLens 100K"


# ----------------------------------------------------------------------------- over HTTP


def test_the_page_and_its_calls_over_http(server):
    status, page = request(server, "GET", "/")
    assert status == 200
    status, config = request(server, "GET", "/config")
    assert status == 200 and json.loads(config)["title"] == "How's that movie?"
    for absent in ("fonts.googleapis", "fonts.gstatic", "cdn.jsdelivr", "unpkg.com", "api.gradio.app"):
        assert absent not in page and absent not in config
    event, (rows, message) = call(server, "rate", "star wars", 5, table({}))
    assert event == "complete" and rows["data"] == [[STAR_WARS, "Star Wars (1977)", 5.0]], message
    event, (listed, message) = call(server, "recommend", table(FIVE))
    assert event == "complete" and len(listed["data"]) == 10 and message.startswith("Ten movies")
    event, (answer,) = call(server, "predict", 313, table(FIVE))
    assert event == "complete" and answer.startswith("**Titanic (1997)**")


@pytest.mark.parametrize("name, data, said", [
    ("rate", ["Star Warz", 5, table({})], "No movie this model knows has 'Star Warz'"),
    ("recommend", [table({STAR_WARS: -3})], "-3 is off the scale"),
    ("recommend", [{"headers": RATED, "data": [[m, "", 4] for m in range(1, 3001)]}],
     "3,000 ratings at once"),
    ("predict", ["\ud800\udfff\ud800", table({})], "No movie this model knows has"),
])
def test_bad_input_over_http_gets_a_message_and_the_server_goes_on(server, name, data, said):
    event, outputs = call(server, name, *data)
    assert event == "complete" and said in outputs[-1], outputs
    still_serving(server)


def test_a_rating_off_the_slider_is_refused_by_gradios_own_check(server):
    """The slider's value is checked by Gradio before the handler sees it: its error event says why."""
    event, outputs = call(server, "rate", STAR_WARS, 11, table({}))
    assert event == "error" and outputs["error"] == "Value 11 is greater than maximum value 5.0.", outputs
    still_serving(server)


def test_no_ratings_over_http(server):
    event, (listed, message) = call(server, "recommend", table({}))
    assert event == "complete" and len(listed["data"]) == 10 and message.startswith("No ratings yet")


def test_a_request_that_is_not_utf8_is_refused_plainly(server):
    body = b'{"data": ["Caf\xe9", 5, null]}'   # latin-1, not UTF-8
    status, text = request(server, "POST", "/gradio_api/call/rate", body, JSON)
    assert status == 400 and text.startswith("The request is not UTF-8 text (byte 14 is b'\\xe9')")
    still_serving(server)


def raw_post(server, path: str, headers: dict, body: bytes) -> tuple[int, str]:
    """Send a request as a client that does not wait to be told no: the headers, then as much of the
    body as the server takes; then read its answer."""
    with socket.create_connection((server.hostname, server.port), timeout=TIMEOUT) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": server.netloc, **headers}.items())
        sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
        try:
            for start in range(0, len(body), 65536):
                sock.sendall(body[start:start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass   # refused before the whole body was sent
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    status_line, _, rest = answer.decode("utf-8", "replace").partition("\r\n")
    return int(status_line.split()[1]), rest.split("\r\n\r\n", 1)[-1]


def test_a_request_far_larger_than_the_form_sends_is_refused(server):
    huge = 100 * MAX_BODY_BYTES
    # Declared too large: refused from the headers, before a byte of the body is read.
    status, text = raw_post(server, "/gradio_api/call/rate", {**JSON, "Content-Length": str(huge)},
                            b'{"data": ["aaaa')
    assert status == 413 and text == (f"The request is too large ({huge} bytes); this app reads at most "
                                      f"{MAX_BODY_BYTES:,} bytes per request (its form sends a few "
                                      "thousand).\n")
    # No length declared (chunked): counted as it arrives, refused once past the limit.
    chunk = b"a" * 65536
    body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * (MAX_BODY_BYTES // len(chunk) + 2)
    status, text = raw_post(server, "/gradio_api/queue/join", {**JSON, "Transfer-Encoding": "chunked"}, body)
    assert status == 413 and text.startswith(f"The request is too large (more than {MAX_BODY_BYTES:,} bytes)")
    status, _ = raw_post(server, "/gradio_api/call/rate", {"Content-Length": "not a number"}, b"{}")
    assert status in (400, 413)
    still_serving(server)


def test_a_malformed_call_is_an_error_event_and_the_server_goes_on(server):
    status, text = request(server, "POST", "/gradio_api/call/recommend", b'{"data": 5}',
                           {"Content-Type": "application/json"})
    assert status in (400, 422), (status, text)
    still_serving(server)


def test_request_limits_pass_other_traffic_unchanged():
    """What the middleware hands on is what arrived, and it stays out of other protocols' way."""
    import asyncio

    seen = {}

    async def inner(scope, receive, send):
        seen["scope"] = scope["type"]
        if scope["type"] == "http":
            seen["first"] = await receive()

    limits = RequestLimits(inner, limit=10)
    messages = iter([{"type": "http.request", "body": b"12345", "more_body": True},
                     {"type": "http.request", "body": b"678", "more_body": False}])

    async def receive():
        return next(messages)

    asyncio.run(limits({"type": "http", "headers": []}, receive, None))
    assert seen["first"] == {"type": "http.request", "body": b"12345678", "more_body": False}
    assert seen["scope"] == "http"
    asyncio.run(limits({"type": "lifespan"}, lambda: None, None))
    assert seen["scope"] == "lifespan"


# ----------------------------------------------------------------------------- a Space, the command


def test_a_space_is_laid_out_and_its_app_needs_no_fastai(bundle, tmp_path):
    model = save_bundle(tmp_path / "model.safetensors", bundle)
    space = write_space(model, tmp_path / "space")
    assert sorted(p.name for p in space.iterdir()) == ["README.md", "app.py", "model.safetensors",
                                                        "movielens_fastai", "requirements.txt"]
    readme = (space / "README.md").read_text()
    assert readme.startswith("---\ntitle: How's that movie?\n") and "\nsdk: gradio\n" in readme
    assert "\napp_file: app.py\n" in readme and "MovieLens 100K" in readme
    needs = [line.split("==")[0] for line in (space / "requirements.txt").read_text().splitlines()]
    assert needs == ["numpy", "pandas", "scipy", "safetensors", "gradio"]
    probe = ("import sys; sys.argv = ['app']; import movielens_fastai.serving.app as a, "
             "movielens_fastai.serving.bundle as b; b.load_bundle('model.safetensors'); "
             "import os; print(a.__file__.startswith(os.getcwd()), "
             "sorted({'torch', 'fastai'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=space, capture_output=True, text=True,
                            timeout=300, env={"PATH": "/usr/bin:/bin", "GRADIO_ANALYTICS_ENABLED": "False"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["True", "[]"], result.stdout


def run_command(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "movielens_fastai.serving.app", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.server
def test_the_command_refuses_a_bad_table_with_the_same_messages(tmp_path, data_dir):
    ratings = read_ratings_file(data_dir / "u.data").iloc[:3000]
    own = ratings.rename(columns={"User ID": "userId", "Movie ID": "movieId", "Rating": "stars"})
    path = tmp_path / "mine.csv"
    own[["userId", "movieId", "stars"]].to_csv(path, index=False)
    result = run_command("--ratings", str(path), "--model", str(tmp_path / "m.safetensors"), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: ratings {path}: no column 'User ID', 'Movie ID', 'Rating'; "
                                    "its columns are ['userId', 'movieId', 'stars']"), result.stderr
    twice = pd.concat([own, own.iloc[[0]]])
    twice.to_csv(path, index=False)
    result = run_command("--ratings", str(path), "--user-column", "userId", "--item-column", "movieId",
                         "--rating-column", "stars", "--model", str(tmp_path / "m.safetensors"),
                         "--port", "0")
    assert result.returncode == 2
    assert f"error: mine.csv: row {len(twice)}: user {own.iloc[0, 0]} rated movie {own.iloc[0, 1]} again " \
           "(first on row 1)" in result.stderr, result.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_a_model_trained_on_your_own_table(tmp_path, data_dir):
    """The option for a person's own data: any column names, titles from a second file (latin-1 is
    read too), trained with the same checks, then served like MovieLens."""
    from movielens_fastai.serving.app import model_for, parser

    ratings = read_ratings_file(data_dir / "u.data").iloc[:4000]
    ratings.rename(columns={"User ID": "who", "Movie ID": "what", "Rating": "stars"}).to_csv(
        tmp_path / "mine.csv", index=False)
    load_movies(data_dir).rename(columns={"Movie ID": "what", "Title": "name"}).to_csv(
        tmp_path / "titles.csv", index=False, encoding="latin-1")
    args = parser().parse_args(["--ratings", str(tmp_path / "mine.csv"),
                                "--titles", str(tmp_path / "titles.csv"),
                                "--user-column", "who", "--item-column", "what", "--rating-column", "stars",
                                "--title-column", "name", "--model", str(tmp_path / "mine.safetensors")])
    lines = []
    made = model_for(args, progress=lines.append)
    assert lines[0].startswith("No model at") and lines[1].startswith("Checking mine.csv: 4,000 ratings")
    assert (tmp_path / "mine.safetensors").exists() and data_name(made) == "mine.csv"
    lines.clear()
    again = model_for(args, progress=lines.append)
    assert lines == [f"Loaded the model {tmp_path / 'mine.safetensors'}"]
    assert again.ratings_sha256 == made.ratings_sha256
    rows, message = MovieApp(again).recommend(table({50: 5, 1: 4}))
    assert len(rows) == LIST_LENGTH and message.startswith("Ten movies")
