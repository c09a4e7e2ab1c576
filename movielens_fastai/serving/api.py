"""The app's JSON API, on the same server as its page: ``POST /api/recommend`` (ratings in, the
movies to watch next out) and ``POST /api/predict`` (ratings and one movie in, its predicted
rating out), described at ``/api/openapi.json``.

Every request goes through the page's own checks (``MovieApp.listed`` and ``MovieApp.predicted``):
the same rules and the same sentences. Bad input is answered 400 (not JSON), 413 (too large,
``RequestLimits``) or 422 (anything else) with ``{"detail": "<one sentence>"}``; the server goes on.

It is imported by ``serving.app`` and takes its handlers (a ``MovieApp``) as they are: ``mount``
adds the routes to the Gradio server ``serve`` runs (Gradio's app is a FastAPI app);
they are added after it starts, so errors are turned into answers by the routes' own class
(``PlainRoute``), not by app-wide handlers, and Gradio's own routes are left as they are.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from .bundle import RatingsError, shown

PREFIX = "/api"
#: How many titles a recommendation lists (the page's list, and the API's unless asked).
LIST_LENGTH = 10
#: The most titles one request may ask for.
MAX_LISTED = 100


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    movie: int | str = Field(description="a movie id, or its title as a person types it ('the godfather')")
    rating: float = Field(description="on the model's scale (MovieLens: 1 to 5)")


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratings: list[Rating] = Field(default_factory=list, description="at most the page's 1,000; none for the "
                                                                   "movies most people liked")
    n: int = Field(LIST_LENGTH, ge=1, le=MAX_LISTED, description="how many movies to list")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratings: list[Rating] = Field(default_factory=list, description="at most the page's 1,000")
    movie: int | str = Field(description="a movie id, or its title as a person types it")


class Listed(BaseModel):
    rank: int
    movie: int
    title: str
    predicted_rating: float
    because: str


class Recommendations(BaseModel):
    ratings: int = Field(description="how many ratings the list comes from")
    movies: list[Listed]


class Prediction(BaseModel):
    ratings: int = Field(description="how many ratings the prediction comes from")
    movie: int
    title: str
    predicted_rating: float
    rated: float | None = Field(None, description="the rating given, if the movie was among the ratings")


class Detail(BaseModel):
    detail: str = Field(description="one sentence: which field, and what is wrong with it")


def refused(status: int, sentence: str) -> JSONResponse:
    return JSONResponse({"detail": sentence}, status_code=status)


def as_sentence(text: str) -> str:
    """The bundle's refusals are clauses ("movie 50 (...) is rated twice"); an answer is a sentence."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def field_name(location) -> str:
    """Pydantic's location of an error as a person reads a field: ``ratings[2].rating``."""
    name = ""
    for part in location:
        if part == "body" and not name:
            continue
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def sentence(error: dict) -> str:
    """One plain sentence for pydantic's first complaint about a body."""
    kind, name = error.get("type", ""), field_name(error.get("loc", ()))
    if kind == "json_invalid":
        return f"The request body is not JSON ({error.get('ctx', {}).get('error', 'malformed')})."
    if kind == "missing":
        return f"The field {name} is missing." if name else "The request has no body: send a JSON object."
    if kind == "extra_forbidden":
        return f"The field {name} is not one this API reads."
    if not name:
        return f"The request body must be a JSON object ({error.get('msg', 'it is not')})."
    value = error.get("input")
    quoted = shown(value) if isinstance(value, str) else shown(value).strip("'")   # 0, not '0'
    given = f", not {quoted}" if "input" in error and not isinstance(value, dict | list) else ""
    return f"The field {name}: {error.get('msg', 'not valid').rstrip('.').lower()}{given}."


class PlainRoute(APIRoute):
    """A route that answers bad input with ``{"detail": sentence}``: pydantic's complaints (422)
    and the page's own refusals (``RatingsError``, 422)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def answer(request):
            try:
                return await handler(request)
            except RequestValidationError as err:
                errors = err.errors()
                return refused(422, sentence(errors[0]) if errors else "The request body is not valid.")
            except RatingsError as err:
                return refused(422, as_sentence(str(err)))

        return answer


def router(handlers) -> APIRouter:
    """The API's routes for ``handlers``' model."""
    routes = APIRouter(prefix=PREFIX, route_class=PlainRoute)
    bad = {422: {"model": Detail, "description": "a field missing, of the wrong kind or off the scale"},
           413: {"description": "a request over the size limit (plain text)"}}

    def table(ratings: list[Rating]) -> list[list]:
        # The page's table rows (movie, title, rating): a title goes where the page's ids go, as
        # MovieApp.movie takes either.
        return [[rated.movie, "", rated.rating] for rated in ratings]

    @routes.post("/recommend", response_model=Recommendations, responses=bad)
    def recommend(body: RecommendRequest) -> Recommendations:
        """The movies to watch next, best first, with the rating you would give each and why."""
        ratings, listed = handlers.listed(table(body.ratings), body.n)
        return Recommendations(ratings=len(ratings), movies=[
            Listed(rank=rank, movie=movie, title=title, predicted_rating=predicted, because=because)
            for rank, movie, title, predicted, because in listed])

    @routes.post("/predict", response_model=Prediction, responses=bad)
    def predict(body: PredictRequest) -> Prediction:
        """How's that movie? The rating you would give it, from your ratings."""
        ratings, movie, value = handlers.predicted(body.movie, table(body.ratings))
        return Prediction(ratings=len(ratings), movie=movie, title=handlers.bundle.title(movie),
                          predicted_rating=round(value, 2), rated=ratings.get(movie))

    return routes


def mount(app: FastAPI, handlers) -> None:
    """Add the API's routes, and its schema at ``/api/openapi.json``, to ``app`` (Gradio's)."""
    routes = router(handlers)
    schema = get_openapi(title="How's that movie? API", version="1", routes=routes.routes,
                         description=__doc__.split("\n\n")[0].replace("\n", " "))
    text = json.dumps(schema)

    @routes.get("/openapi.json", include_in_schema=False)
    def openapi():
        return JSONResponse(json.loads(text))

    app.include_router(routes)
