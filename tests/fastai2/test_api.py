"""The app's JSON API (``serving.api``) on the app's own server: good bodies get their answers, bad
ones a 4xx and ``{"detail": "<one sentence>"}`` naming the field, and then a fuzzer built from the
server's own schema (schemathesis) finds no body that gets a 5xx or hangs it.

The server runs in this process on 127.0.0.1 and a free port and is closed after the module
whatever happens. Every request has a timeout; nothing here measures time."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlparse

import pytest
import torch

from movielens_fastai.core import free_port
from movielens_fastai.serving.app import MAX_BODY_BYTES, serve
from movielens_fastai.serving.train import train_bundle

TIMEOUT = 30
STAR_WARS, EMPIRE, JEDI, RAIDERS, TOY_STORY, TITANIC = 50, 172, 181, 174, 1, 313
FIVE = [{"movie": STAR_WARS, "rating": 5}, {"movie": EMPIRE, "rating": 5}, {"movie": JEDI, "rating": 4},
        {"movie": "raiders of the lost ark", "rating": 5}, {"movie": "toy story", "rating": 3}]


@pytest.fixture(scope="module")
def server(data_dir):
    """The app's server for MovieLens 100K's model (about 20 s of training on 2 cores)."""
    torch.set_num_threads(1)
    bundle = train_bundle(data_dir, progress=lambda line: None)
    demo = serve(bundle, port=free_port(), block=False, quiet=True)
    try:
        yield urlparse(demo.local_url)
    finally:
        demo.close()


def post(server, path: str, body, headers=None) -> tuple[int, str, dict]:
    """(status, content type, JSON answer) of one POST; ``body`` is sent as JSON unless it is bytes."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=TIMEOUT)
    try:
        connection.request("POST", path, body=data, headers={"Content-Type": "application/json",
                                                             **(headers or {})})
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), json.loads(response.read())
    finally:
        connection.close()


def still_serving(server):
    status, _, answer = post(server, "/api/recommend", {"ratings": FIVE})
    assert status == 200 and len(answer["movies"]) == 10, answer


def test_ten_movies_with_reasons_for_five_ratings(server):
    status, kind, answer = post(server, "/api/recommend", {"ratings": FIVE, "n": 10})
    assert status == 200 and kind.startswith("application/json"), answer
    assert answer["ratings"] == 5 and [m["rank"] for m in answer["movies"]] == list(range(1, 11))
    rated = {"Star Wars (1977)", "Empire Strikes Back, The (1980)", "Return of the Jedi (1983)",
             "Raiders of the Lost Ark (1981)", "Toy Story (1995)"}
    for movie in answer["movies"]:
        assert movie["title"] not in rated and 1 <= movie["predicted_rating"] <= 5, movie
        assert movie["because"] == "popular with everyone" or movie["because"].split(" ", 3)[3] in rated
    status, _, three = post(server, "/api/recommend", {"ratings": FIVE, "n": 3})
    assert status == 200 and three["movies"] == answer["movies"][:3]
    status, _, popular = post(server, "/api/recommend", {})
    assert status == 200 and popular["ratings"] == 0 and len(popular["movies"]) == 10


def test_hows_that_movie(server):
    status, _, answer = post(server, "/api/predict", {"ratings": FIVE, "movie": "titanic"})
    assert status == 200, answer
    assert answer["movie"] == TITANIC and answer["title"] == "Titanic (1997)" and answer["ratings"] == 5
    assert 1 <= answer["predicted_rating"] <= 5 and answer["rated"] is None
    status, _, again = post(server, "/api/predict", {"ratings": FIVE, "movie": STAR_WARS})
    assert status == 200 and again["rated"] == 5
    status, _, title = post(server, "/api/predict", {"ratings": FIVE, "movie": "les miserables"})
    assert status == 200 and title["title"] == "Misérables, Les (1995)", title


@pytest.mark.parametrize("path, body, status, said", [
    ("/api/recommend", {"ratings": [{"movie": STAR_WARS, "rating": 7}]}, 422,
     "Row 1 of your ratings: A rating runs from 1 to 5; 7 is off the scale."),
    ("/api/recommend", {"ratings": [{"movie": "Star Warz", "rating": 5}]}, 422,
     "Row 1 of your ratings: No movie this model knows has 'Star Warz' in its title."),
    ("/api/recommend", {"ratings": [{"movie": STAR_WARS, "rating": 5}, {"movie": STAR_WARS, "rating": 4}]},
     422, "rated twice"),
    ("/api/recommend", {"ratings": [{"movie": m, "rating": 4} for m in range(1, 1202)]}, 422,
     "1,201 ratings at once: this app takes at most 1,000"),
    ("/api/recommend", {"ratings": [{"movie": STAR_WARS}]}, 422, "The field ratings[0].rating is missing."),
    ("/api/recommend", {"ratings": [{"movie": STAR_WARS, "rating": "five"}]}, 422,
     "The field ratings[0].rating: input should be a valid number"),
    ("/api/recommend", {"ratings": "all of them"}, 422, "The field ratings: input should be a valid list"),
    ("/api/recommend", {"n": 0}, 422, "The field n: input should be greater than or equal to 1, not 0."),
    ("/api/recommend", {"ratings": FIVE, "colour": "red"}, 422,
     "The field colour is not one this API reads."),
    ("/api/recommend", b"{not json", 422, "The request body is not JSON"),
    ("/api/recommend", b"[1, 2]", 422, "The request body must be a JSON object"),
    ("/api/recommend", b'{"ratings": [{"movie": "Caf\xe9", "rating": 5}]}', 400,
     "The request is not UTF-8 text (byte 27 is b'\\xe9'); send UTF-8 JSON."),
    ("/api/predict", {"ratings": FIVE}, 422, "The field movie is missing."),
    ("/api/predict", {"movie": 999_999}, 422, "This model knows no movie with id 999999."),
    ("/api/predict", {"movie": "**bold** <b>x</b>"}, 422, "'**bold** <b>x</b>'"),   # plain text, not escaped
])
def test_bad_input_gets_one_sentence_naming_what_is_wrong(server, path, body, status, said):
    got, kind, answer = post(server, path, body)
    assert (got, kind.split(";")[0]) == (status, "application/json"), (got, answer)
    assert list(answer) == ["detail"] and said in answer["detail"], answer
    assert answer["detail"].endswith(".") and "\n" not in answer["detail"], answer
    still_serving(server)


def test_a_body_far_too_large_is_refused_in_json(server):
    """Refused from its declared length, before the body is read (so only its start is sent)."""
    with socket.create_connection((server.hostname, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(f"POST /api/recommend HTTP/1.1\r\nHost: {server.netloc}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
                     '{"ratings": ['.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    status, kind, answer = int(head.split()[1]), head.lower().split("content-type: ")[1].split("\r\n")[0], \
        json.loads(body)
    assert (status, kind) == (413, "application/json"), answer
    assert answer["detail"].startswith("The request is too large"), answer
    still_serving(server)


def test_the_schema_describes_both_routes(server):
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/api/openapi.json")
        response = connection.getresponse()
        schema = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200 and sorted(schema["paths"]) == ["/api/predict", "/api/recommend"]
    assert {"RecommendRequest", "PredictRequest", "Detail"} <= set(schema["components"]["schemas"])


def test_no_body_from_the_schema_breaks_the_server(server):
    """Bodies schemathesis makes from the schema, valid and not: none gets a 5xx or hangs the server
    (each request has a timeout), and the server answers afterwards. Bounded: 50 of each kind per
    route, no shrinking, nothing written to disk."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error

    base = f"http://{server.netloc}"
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", timeout=TIMEOUT)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.path for op in operations) == ["/api/predict", "/api/recommend"]
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=50, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def no_server_error(case):
                # Only what can be sent to the server: the API reads JSON bodies.
                response = case.call(base_url=base, timeout=TIMEOUT)
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code < 500, (case.body, response.text)

            no_server_error()
    still_serving(server)
