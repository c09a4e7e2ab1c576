"""The app: a web page where a person finds movies by title, rates a few, and gets ten to watch
next with a reason each, and the predicted rating of any movie they look up.

It serves a saved ``ModelBundle`` (``serving.bundle``) with Gradio, as the fastai course serves
its models; the page is built by ``build_app`` and served by ``serve``, which also puts a size
and encoding check in front of every request (``RequestLimits``). ``python -m
movielens_fastai.serving.app`` loads the model (training one first when there is none, which is
the only step that needs fastai) and serves it on 127.0.0.1; ``show_in_notebook`` opens the same
page from a notebook cell, through Jupyter's own server where there is one in front
(JupyterHub, Binder); ``write_space`` lays out a Hugging Face Space. docs/app.md says more.

Nothing leaves the machine: Gradio's analytics are switched off before it is imported, the theme
names system fonts only, and the page's own files come from the server.

The handlers (``MovieApp``) take what a browser or any HTTP client sends and answer every bad
input (a title the model does not know, a rating off the scale, too many ratings, a malformed
table) with a plain sentence on the page; the server goes on serving.

Imports gradio at the top: only the fastai 2 environment (``.venv-fastai2``) imports this module.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

# Before gradio is imported: it reads this once, and would otherwise call home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue keeps a record of its last 10,000 events and, after every event, rebuilds a pandas
# summary of all of them (for its wait estimates): a fifth of the server's time under load, growing
# with the run, and memory that grows too. The last 500, summarised every 50 events, estimate as well.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "500")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "50")

with warnings.catch_warnings():
    # Gradio imports tqdm.auto, which in a notebook without ipywidgets warns that it falls back to
    # plain progress bars: nothing a reader of notebook 09 can or needs to act on.
    warnings.filterwarnings("ignore", message="IProgress not found")
    import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..core import LOOPBACK, MOVIE, RATING, TITLE, USER, free_port, project_root  # noqa: E402
from .api import LIST_LENGTH, mount  # noqa: E402
from .api import PREFIX as API_PREFIX  # noqa: E402
from .bundle import (  # noqa: E402
    BECAUSE,
    PREDICTED,
    BundleError,
    ModelBundle,
    RatingsError,
    check_ratings,
    load_bundle,
    ratings_sha256,
    save_bundle,
    shown,
)
from .titles import WHOLE_TITLE  # noqa: E402

#: The largest request body the server reads (bytes). The form sends a few kilobytes; a table of
#: MAX_RATINGS ratings about 60 KB.
MAX_BODY_BYTES = 1 << 20
#: The most ratings one request may carry: more than a person rates in one sitting (MovieLens
#: 100K's most active user rated 737 movies), and it bounds the work of one request.
MAX_RATINGS = 1000
#: How many visitors' sessions Gradio keeps (see ``serve``).
SESSIONS_KEPT = 256
#: The ratings table's columns, and the list's.
RATED = ["Movie ID", "Title", "Your rating"]
LISTED = ["#", "Title", "Predicted rating", "Because"]
#: Fonts the visitor's own system has: nothing is fetched for the page's type.
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue",
                "Arial", "sans-serif"]
SYSTEM_MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]
#: Where ``main`` keeps the model it trains on MovieLens 100K (output/ is git-ignored).
DEFAULT_MODEL = Path("output") / "app" / "movielens-100k.safetensors"
HOST = LOOPBACK
PORT = 7860


#: What Markdown, or the HTML it lets through, would read as markup anywhere in a line. Brackets
#: make links and images, < > tags, & entities; (, ), . and : mean nothing without them.
MARKUP = re.compile(r"([\\`*_\[\]<>#|~&@])")
#: What GitHub-flavoured Markdown turns into a link by itself.
BARE_LINK = re.compile(r"(?i)(://|\bwww\.)")


def plain(text) -> str:
    """``text`` (a person's words, a title, a sentence quoting either) for the page's Markdown: every
    character shown as it is and nothing rendered, on one line. The one place the page escapes:
    what the handlers say stays a plain sentence (the JSON API answers with it as it is)."""
    text = MARKUP.sub(r"\\\1", " ".join(str(text).splitlines()))
    return BARE_LINK.sub(lambda found: found[0].replace("/", "\\/").replace(".", "\\."), text)


def warning(err: Exception) -> str:
    """A refusal as the page shows it."""
    return f"⚠️ {plain(err)}"


# ----------------------------------------------------------------------------- the requests


class RequestLimits:
    """ASGI middleware in front of the app: a body over ``limit`` bytes is refused with 413 and a
    JSON body that is not UTF-8 with 400, each with one plain sentence, before Gradio reads it.

    Gradio's own ``max_file_size`` covers uploads only; this covers every route (the queue's
    ``join``, the ``/call`` API, uploads), so no request makes the server hold more than
    ``limit`` bytes. A body is read in full (at most ``limit`` bytes) and handed on unchanged."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = int(limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length", b"").strip()
        if length and (not length.isdigit() or int(length) > self.limit):
            await self.refuse(send, 413, self.too_large(length.decode("latin-1")), scope)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self.refuse(send, 413, self.too_large(f"more than {self.limit:,}"), scope)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and b"json" in headers.get(b"content-type", b"").lower():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as err:
                await self.refuse(send, 400, f"The request is not UTF-8 text (byte {err.start:,} is "
                                             f"{body[err.start:err.start + 1]!r}); send UTF-8 JSON.", scope)
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()   # later calls wait for the client to go away, as before

        await self.app(scope, replay, send)

    def too_large(self, size: str) -> str:
        return (f"The request is too large ({size} bytes); this app reads at most {self.limit:,} bytes "
                "per request (its form sends a few thousand).")

    @staticmethod
    async def refuse(send, status: int, sentence: str, scope=None) -> None:
        # The JSON API's clients read {"detail": sentence}, as from its other refusals.
        if scope and str(scope.get("path", "")).startswith(API_PREFIX + "/"):
            body, kind = json.dumps({"detail": sentence}).encode(), b"application/json"
        else:
            body, kind = (sentence + "\n").encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------- the handlers


class MovieApp:
    """What the page does, as plain methods (each a Gradio handler): ``rate`` adds a rating to the
    table of the person's ratings, ``recommend`` lists ten movies with a reason each, ``predict``
    answers "how's that movie?". Each returns a message for the page instead of raising when the
    input is bad, so a person always reads what went wrong and the server goes on."""

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        self.lo, self.hi = bundle.rating_scale
        titles = pd.Series(bundle.titles)
        twice = titles.duplicated(keep=False).to_numpy()
        #: (label, movie id) for the title pickers, most rated first; a title two movies share
        #: gets its id.
        movies = bundle.movies.assign(label=[f"{t} (#{m})" if d else t for t, m, d in
                                             zip(bundle.titles, bundle.movie_ids, twice, strict=True)])
        movies = movies.sort_values(["Ratings", TITLE], ascending=[False, True], kind="stable")
        self.choices = [(label, int(m)) for label, m in zip(movies["label"], movies[MOVIE], strict=True)]
        self.known = set(bundle.movie_ids.tolist())
        self._by_title = {t.casefold(): int(m) for t, m in zip(bundle.titles, bundle.movie_ids, strict=True)}

    # -- input

    def movie(self, value) -> int:
        """A picked or typed movie as its id: an id the model knows (what the pickers send), or a
        title (what a person types), matched as ``ModelBundle.search`` matches: the one title it
        is (case, accents, punctuation and the article's place aside), or the only one it finds."""
        if value is None or (isinstance(value, str) and not value.strip()):
            raise RatingsError("Pick a movie first: type part of its title and choose it from the list.")
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if int(value) in self.known:
                return int(value)
            raise RatingsError(f"This model knows no movie with id {int(value)}.")
        if isinstance(value, float) and value.is_integer():
            return self.movie(int(value))
        if not isinstance(value, str):
            raise RatingsError(f"{shown(value)} is not a movie title.")
        text = value.strip()
        if text.casefold() in self._by_title:
            return self._by_title[text.casefold()]
        found = self.bundle.search(text, limit=4, match=True)
        whole = found[found["Match"] == WHOLE_TITLE]
        if len(found) == 1 or len(whole) == 1:
            return int((whole if len(whole) == 1 else found)[MOVIE].iloc[0])
        if text.isdecimal() and int(text) in self.known:   # not isdigit: int('¹') fails
            return int(text)
        if found.empty:
            raise RatingsError(f"No movie this model knows has {shown(text)} in its title. Type part of "
                               "a title and pick one from the list.")
        some = "; ".join(found[TITLE].head(3))
        raise RatingsError(f"{shown(text)} is in several titles ({some}; …): pick one from the list.")

    def stars(self, value) -> float:
        """A rating given on the page: a number on the model's scale."""
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise RatingsError(f"A rating is a number from {self.lo:g} to {self.hi:g}, not "
                                   f"{shown(value)}.") from None
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise RatingsError(f"A rating is a number from {self.lo:g} to {self.hi:g}, not {shown(value)}.")
        value = float(value)
        if not (np.isfinite(value) and self.lo <= value <= self.hi):
            raise RatingsError(f"A rating runs from {self.lo:g} to {self.hi:g}; {value:g} is off the scale.")
        return value

    def ratings(self, table) -> dict[int, float]:
        """The person's ratings from the page's table (rows of movie id, title, rating; what Gradio
        sends for ``RATED``), checked: known movies, each once, ratings on the scale."""
        rows = self.rows(table)
        if len(rows) > MAX_RATINGS:
            raise RatingsError(f"{len(rows):,} ratings at once: this app takes at most {MAX_RATINGS:,} "
                               "(more than anyone rates in one sitting). Keep the ones you care about most.")
        pairs = []
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, (list, tuple)) or len(row) < 3:
                raise RatingsError(f"Row {number} of your ratings is not (movie id, title, rating).")
            movie_id, title, rating = row[0], row[1], row[2]
            try:
                movie = self.movie(movie_id if movie_id not in (None, "") else title)
                pairs.append((movie, self.stars(rating)))
            except RatingsError as err:
                raise RatingsError(f"Row {number} of your ratings: {err}") from None
        return check_ratings(self.bundle, pairs)

    @staticmethod
    def rows(table) -> list:
        """The rows of a ratings table as Gradio hands it over (a list of rows, or a frame)."""
        if table is None:
            return []
        if isinstance(table, pd.DataFrame):
            return table.to_numpy().tolist()
        if isinstance(table, Mapping):
            table = table.get("data", [])
        if not isinstance(table, Sequence) or isinstance(table, (str, bytes)):
            raise RatingsError("Your ratings did not arrive as a table; reload the page.")
        # Gradio sends an empty table as one empty row.
        return [row for row in table if not (isinstance(row, (list, tuple)) and
                                             all(cell in (None, "") for cell in row))]

    def table(self, ratings: Mapping[int, float]) -> list[list]:
        return [[movie, self.bundle.title(movie), rating] for movie, rating in ratings.items()]

    # -- handlers

    def rate(self, movie, stars, table):
        """Add (or change) one rating: the new table and a line saying what happened."""
        try:
            ratings = self.ratings(table)
            movie_id, value = self.movie(movie), self.stars(stars)
            check_ratings(self.bundle, {movie_id: value})
        except RatingsError as err:
            return gr.update(), warning(err)
        changed = movie_id in ratings
        ratings[movie_id] = value
        if len(ratings) > MAX_RATINGS:
            return gr.update(), f"⚠️ You have rated {MAX_RATINGS:,} movies, the most this app takes."
        title = self.bundle.title(movie_id)
        verb = "Changed" if changed else "Rated"
        more = max(0, 5 - len(ratings))
        hint = f" Rate {more} more for a list of your own." if more else " Ask for your ten movies."
        return self.table(ratings), f"{verb} *{plain(title)}*: {value:g} of {self.hi:g}.{hint}"

    def clear(self):
        return [], "Your ratings are cleared."

    def listed(self, table, n: int = LIST_LENGTH) -> tuple[dict[int, float], list[list]]:
        """The checked ratings and the ``n`` movies to watch next as rows (rank, movie id, title,
        predicted rating, reason); a ``RatingsError`` for bad input. The page's list and the JSON
        API's (``serving.api``) both come from here."""
        ratings = self.ratings(table)
        picks = self.bundle.new_user(ratings).recommend(n)
        predicted = np.clip(picks[PREDICTED].to_numpy(), self.lo, self.hi)
        columns = zip(picks[MOVIE], picks[TITLE], predicted, picks[BECAUSE], strict=True)
        return ratings, [[rank, int(movie), title, round(float(p), 1), because]
                         for rank, (movie, title, p, because) in enumerate(columns, start=1)]

    def predicted(self, movie, table) -> tuple[dict[int, float], int, float]:
        """The checked ratings, the movie's id and the rating this person would give it (on the
        scale); a ``RatingsError`` for bad input."""
        ratings = self.ratings(table)
        movie_id = self.movie(movie)
        value = self.bundle.new_user(ratings).predict(movie_id)
        return ratings, movie_id, float(np.clip(value, self.lo, self.hi))

    def recommend(self, table):
        """Ten movies to watch next: the list (rank, title, predicted rating, reason) and a line.
        The table's cells are plain text on the page, so titles go in as they are."""
        try:
            ratings, listed = self.listed(table)
        except RatingsError as err:
            return [], warning(err)
        rows = [[rank, title, predicted, because] for rank, _, title, predicted, because in listed]
        if not ratings:
            line = ("No ratings yet, so these are the movies most people liked. Rate a few of the movies "
                    "you have seen for a list of your own.")
        else:
            line = f"Ten movies for you, from your {len(ratings)} rating{'s' * (len(ratings) != 1)}."
        return rows, line

    def predict(self, movie, table):
        """How's that movie? One line: the rating the model expects this person to give."""
        try:
            ratings, movie_id, value = self.predicted(movie, table)
        except RatingsError as err:
            return warning(err)
        title = plain(self.bundle.title(movie_id))
        if not ratings:
            return (f"**{title}**: about **{value:.1f}** of {self.hi:g}, for someone the model knows nothing "
                    "about. Rate a few movies and ask again.")
        line = f"**{title}**: you would give it about **{value:.1f}** of {self.hi:g}"
        if movie_id in ratings:
            line += f" (you gave it {ratings[movie_id]:g})"
        return line + f", from your {len(ratings)} rating{'s' * (len(ratings) != 1)}."


# ----------------------------------------------------------------------------- the page


def as_table(handler, columns: list[str]):
    """``handler`` with the rows it returns first handed to Gradio as a pandas frame: for a list of
    rows, Gradio's Dataframe looks for polars on disk (``importlib.util.find_spec``) on every call,
    a twentieth of the server's time under load; for a frame it does not."""

    def framed(*args):
        rows, *rest = handler(*args)
        if isinstance(rows, list):
            rows = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
        return (rows, *rest)

    framed.__name__ = handler.__name__
    return framed


def data_name(bundle: ModelBundle) -> str:
    """What the bundle was trained on, for the page: its ``source`` without the folder it was read
    from (a path on the machine that trained it means nothing to a visitor)."""
    source = str(bundle.info.get("data", {}).get("source", "ratings"))
    return re.sub(r"\s*\((/|~|[A-Za-z]:\\).*\)$", "", source)


def theme() -> gr.themes.Base:
    """Gradio's base theme with the visitor's system fonts (no font files fetched)."""
    return gr.themes.Base(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO)


def build_app(bundle: ModelBundle) -> gr.Blocks:
    """The page for ``bundle``: a title picker that filters as you type, a rating, the table of
    your ratings, the ten-title list with a reason each, and a "How's that movie?" look-up.

    Every event has an API name (``rate``, ``clear``, ``recommend``, ``predict``), so the same
    calls can be made over HTTP (``/gradio_api/call/<name>``) by tests and the load benchmark."""
    handlers = MovieApp(bundle)
    lo, hi = bundle.rating_scale
    step = 1.0 if float(lo).is_integer() and float(hi).is_integer() else 0.5
    about = bundle.info.get("data", {})
    trained_on = about.get("train_ratings", about.get("ratings"))
    with gr.Blocks(title="How's that movie?", analytics_enabled=False) as demo:
        gr.Markdown(
            "# How's that movie?\n"
            "Rate a few movies you have seen; get ten to watch next, each with a reason, and the rating "
            "you would give any movie you look up. The model is the article's (fastai collaborative "
            f"filtering) trained on {plain(data_name(bundle))}"
            + (f": {trained_on:,} ratings of {len(bundle.titles):,} movies" if trained_on else "")
            + ". Your ratings stay on this page: the model folds you in from them, it does not keep them.")
        with gr.Row():
            with gr.Column(scale=3):
                pick = gr.Dropdown(choices=handlers.choices, value=None, label="Find a movie",
                                   info="Type part of its title, then choose it.", filterable=True,
                                   allow_custom_value=True, elem_id="pick")
            with gr.Column(scale=2):
                stars = gr.Slider(lo, hi, value=hi, step=step, label=f"Your rating ({lo:g} to {hi:g})",
                                  elem_id="stars")
            with gr.Column(scale=1, min_width=120):
                rate = gr.Button("Rate it", variant="primary", elem_id="rate")
        # No LaTeX: a "$$" a person typed is shown, not typeset (``plain`` escapes the rest).
        message = gr.Markdown("Rate five movies, then ask for your ten.", elem_id="message",
                              latex_delimiters=[])
        rated = gr.Dataframe(value=[], headers=RATED, datatype=["number", "str", "number"], type="array",
                             label="Your ratings", interactive=False, elem_id="rated")
        with gr.Row():
            go = gr.Button("What should I watch next?", variant="primary", elem_id="recommend")
            clear = gr.Button("Clear my ratings", elem_id="clear")
        listed = gr.Dataframe(value=[], headers=LISTED, datatype=["number", "str", "number", "str"],
                              type="array", label="Ten for you", interactive=False, wrap=True,
                              elem_id="listed")
        gr.Markdown("## How's that movie?")
        with gr.Row():
            with gr.Column(scale=3):
                look = gr.Dropdown(choices=handlers.choices, value=None, label="Look up a movie",
                                   info="The rating you would give it, from your ratings.",
                                   filterable=True, allow_custom_value=True, elem_id="look")
            with gr.Column(scale=1, min_width=120):
                ask = gr.Button("How's that movie?", elem_id="ask")
        answer = gr.Markdown(elem_id="answer", latex_delimiters=[])

        rate.click(as_table(handlers.rate, RATED), [pick, stars, rated], [rated, message], api_name="rate")
        clear.click(as_table(handlers.clear, RATED), None, [rated, message], api_name="clear")
        go.click(as_table(handlers.recommend, LISTED), [rated], [listed, message], api_name="recommend")
        ask.click(handlers.predict, [look, rated], [answer], api_name="predict")
    # Each call takes about a millisecond of model time: a few at once use both cores without
    # making any one wait long; more wait in the queue (bounded, so a flood is refused, not held).
    demo.queue(default_concurrency_limit=4, max_size=256)
    demo.handlers = handlers
    return demo


def serve(bundle: ModelBundle, host: str = HOST, port: int | None = PORT, root_path: str | None = None,
          block: bool = True, quiet: bool = False, limit: int = MAX_BODY_BYTES) -> gr.Blocks:
    """Serve ``bundle``'s page on ``host``:``port`` (127.0.0.1 unless told otherwise; ``port=None``
    takes a free one) behind ``RequestLimits``. ``root_path`` is the path the page is reached under
    when a proxy stands in front (Jupyter's ``/user/<name>/proxy/<port>/``). ``block=False``
    returns at once with the server running in a thread (``demo.close()`` stops it)."""
    demo = build_app(bundle)
    if port is None:
        port = free_port(host)
    # Gradio keeps a copy of every component's settings per session (about 140 KB here, the pickers'
    # 1,668 choices three times over), up to state_session_capacity sessions, least recently used
    # dropped first. The page keeps nothing of a visitor's in them (each call carries the ratings),
    # so a few hundred bound the memory without losing anything.
    demo.launch(server_name=host, server_port=port, root_path=root_path, prevent_thread_lock=True,
                inbrowser=False, share=False, inline=False, quiet=quiet, show_error=False, footer_links=[],
                theme=theme(), state_session_capacity=SESSIONS_KEPT,
                app_kwargs={"middleware": [(RequestLimits, (), {"limit": limit})]})
    # The JSON API beside the page (serving.api), answered by the same handlers.
    mount(demo.app, demo.handlers)
    if not quiet:
        print(f"Serving on {demo.local_url}", flush=True)
    if block:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            demo.close()
    return demo


# ----------------------------------------------------------------------------- in a notebook


def proxied_prefix(port: int) -> str | None:
    """The path under which Jupyter's own server proxies ``port`` (jupyter-server-proxy's
    ``<base>/proxy/<port>/``), when the notebook runs behind a JupyterHub (Binder is one): the
    visitor's browser cannot reach the kernel's 127.0.0.1, only the Jupyter server. None locally."""
    base = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not base:
        return None
    return f"{base.rstrip('/')}/proxy/{port}/"


def show_in_notebook(bundle: ModelBundle, port: int | None = None, proxy: bool | None = None,
                     height: int = 900) -> gr.Blocks:
    """Serve ``bundle``'s page from the notebook's kernel and show it in the cell's output.

    Locally the frame points at the server's own port on 127.0.0.1. Behind a JupyterHub (Binder),
    or with ``proxy=True``, it points at Jupyter's own server (``/proxy/<port>/``, which
    jupyter-server-proxy forwards to the kernel's port), and Gradio is told that path so its
    links go the same way. The server keeps running until ``demo.close()`` or the kernel stops."""
    from IPython.display import IFrame, display

    port = port or free_port()
    prefix = proxied_prefix(port) if proxy is None else (
        f"{os.environ.get('JUPYTERHUB_SERVICE_PREFIX', '/').rstrip('/')}/proxy/{port}/" if proxy else None)
    demo = serve(bundle, port=port, root_path=prefix.rstrip("/") if prefix else None, block=False,
                 quiet=True)
    demo.notebook_url = prefix or f"http://{HOST}:{port}/"
    display(IFrame(demo.notebook_url, width="100%", height=height))
    return demo


# ----------------------------------------------------------------------------- a Space


SPACE_APP = '''\
"""How's that movie? A new user's ten movies and predicted ratings, from the article's model."""

import os

from movielens_fastai.serving.app import serve
from movielens_fastai.serving.bundle import load_bundle

serve(load_bundle("model.safetensors"), host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
      port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
'''

SPACE_README = """\
---
title: How's that movie?
emoji: 🎬
colorFrom: indigo
colorTo: gray
sdk: gradio
sdk_version: {gradio}
app_file: app.py
pinned: false
---

# How's that movie?

Rate a few movies; get ten to watch next with a reason each, and the rating you would give any
movie you look up. The model is the article's collaborative filtering model ("How's that movie?
Neural collaborative filtering with FastAI", 2019) trained with fastai 2 on {source}, saved as
plain arrays (`model.safetensors`, no pickle), and a new user is folded in from their ratings.

Made by `make space` in the movielens-fastai project; the app needs numpy, pandas, scipy,
safetensors and gradio, not fastai or torch. `model.safetensors` is larger than 10 MB: Hugging Face
stores it with Git LFS.
"""


def write_space(bundle_path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Lay out a Hugging Face Space in ``out``: ``app.py``, ``requirements.txt`` (the few packages
    the served app imports, at this environment's versions), ``README.md`` with the Space's YAML
    header, the saved model, and the package itself (``movielens_fastai/``: pure Python). Nothing
    is deployed; ``out`` is replaced."""
    from importlib import metadata

    bundle = load_bundle(bundle_path)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(bundle_path, out / "model.safetensors")
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, out / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / "app.py").write_text(SPACE_APP)
    needed = ["numpy", "pandas", "scipy", "safetensors", "gradio"]
    (out / "requirements.txt").write_text("".join(f"{name}=={metadata.version(name)}\n" for name in needed))
    source = data_name(bundle)
    (out / "README.md").write_text(SPACE_README.format(gradio=metadata.version("gradio"), source=source))
    return out


# ----------------------------------------------------------------------------- the command


def read_table(path: Path, columns: dict[str, str], what: str) -> pd.DataFrame:
    """A CSV file's ``columns`` ({its name: ours}), read as UTF-8 (else latin-1, as MovieLens' own
    files are), renamed; a missing file or column is a ``ValueError`` that says which."""
    if not path.is_file():
        raise ValueError(f"{what} {path}: no such file")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", sep=None, engine="python")
    except UnicodeDecodeError:
        frame = pd.read_csv(path, encoding="latin-1", sep=None, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{what} {path}: not a table this can read ({err})") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} {path}: no column {', '.join(map(repr, missing))}; its columns are "
                         f"{list(frame.columns)} (name yours with --user-column, --item-column, "
                         "--rating-column, --title-column)")
    return frame[list(columns)].rename(columns=columns)


def own_tables(args) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A person's ratings (and titles) from the CSV files named on the command line, in the
    project's columns; without a titles file, each item is named by its id."""
    ratings_path = Path(args.ratings)
    ratings = read_table(ratings_path, {args.user_column: USER, args.item_column: MOVIE,
                                        args.rating_column: RATING}, "ratings")
    if args.titles:
        titles = read_table(Path(args.titles), {args.item_column: MOVIE, args.title_column: TITLE}, "titles")
    else:
        ids = pd.unique(ratings[MOVIE])
        titles = pd.DataFrame({MOVIE: ids, TITLE: [f"item {i}" for i in ids]})
    return ratings, titles, ratings_path.name


def model_for(args, progress=print) -> ModelBundle:
    """The model to serve: the saved one at ``args.model`` if it is there (and, for a person's own
    ratings, trained on exactly those), else one trained now, with each step printed, and saved.

    Training is the one step that needs fastai 2 and torch, so it is imported only here."""
    path = Path(args.model)
    expected = None
    if args.ratings:
        ratings, titles, source = own_tables(args)
        expected = ratings_sha256(ratings)
    if path.exists() and not args.retrain:
        try:
            bundle = load_bundle(path, expect_ratings_sha256=expected)
            progress(f"Loaded the model {path}")
            return bundle
        except BundleError as err:
            if "trained on other ratings" not in str(err):
                raise
            progress(f"{err}\nTraining a new one.")
    else:
        progress(f"No model at {path}: training one first (a few minutes on 2 CPU cores)."
                 if not args.retrain else f"Training a model for {path}.")
    import torch

    from .train import train_bundle, train_bundle_from_tables

    # Batches of 64 are small: one thread is the fastest (benchmarks/new_users.py), and a second one
    # only spins when the machine is busy.
    torch.set_num_threads(1)
    started = time.perf_counter()
    if args.ratings:
        bundle = train_bundle_from_tables(ratings, titles, progress=progress, source=source)
    else:
        bundle = train_bundle(args.data_dir, progress=progress)
    save_bundle(path, bundle)
    progress(f"Trained in {time.perf_counter() - started:.0f} s; saved {path}")
    return bundle


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(
        prog="python -m movielens_fastai.serving.app",
        description="Serve the 'How's that movie?' page on 127.0.0.1: MovieLens 100K's model by default "
                    "(trained first when there is none), or one trained on your own ratings (--ratings).")
    described.add_argument("--model", help=f"the saved model (default: {DEFAULT_MODEL} in the checkout, or "
                                            "output/app/<ratings file>.safetensors with --ratings)")
    described.add_argument("--data-dir", help="MovieLens 100K's folder, for training (default: as the "
                                              "notebooks find it)")
    described.add_argument("--ratings", help="a CSV file of your own ratings: one row per (user, item, "
                                             "rating)")
    described.add_argument("--titles", help="a CSV file of the items' titles (item and title columns); "
                                            "without it, items are named by id")
    described.add_argument("--user-column", default=USER, help=f"default {USER!r}")
    described.add_argument("--item-column", default=MOVIE, help=f"default {MOVIE!r}")
    described.add_argument("--rating-column", default=RATING, help=f"default {RATING!r}")
    described.add_argument("--title-column", default=TITLE, help=f"default {TITLE!r}")
    described.add_argument("--retrain", action="store_true", help="train a new model even if one is saved")
    described.add_argument("--host", default=HOST, help=f"the address to listen on (default {HOST})")
    described.add_argument("--port", type=int, default=PORT, help=f"default {PORT}; 0 takes a free port")
    described.add_argument("--root-path", help="the path a proxy serves the page under, if any")
    described.add_argument("--space", metavar="DIR", help="instead of serving: lay out a Hugging Face Space "
                                                        "in DIR (app file, requirements, README, the model)")
    return described


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.model is None:
        try:
            outputs = project_root() / "output" / "app"
        except Exception:   # an installed package outside the checkout: the current folder's
            outputs = Path("output") / "app"
        name = Path(args.ratings).stem + ".safetensors" if args.ratings else DEFAULT_MODEL.name
        args.model = str(outputs / name)
    try:
        bundle = model_for(args)
    except ValueError as err:   # BundleError, DataError, a CSV without its columns: one line, no trace
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.space:
        print(f"A Hugging Face Space in {write_space(args.model, args.space)} (not deployed)")
        return 0
    serve(bundle, host=args.host, port=args.port or None, root_path=args.root_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
