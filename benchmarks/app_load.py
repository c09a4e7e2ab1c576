"""The app under load, on loopback: concurrent simulated people asking for their ten movies. Run by
the fastai 2 environment (the app needs Gradio, which only it has):

    nice .venv-fastai2/bin/python benchmarks/app_load.py            # about 2 minutes on 2 cores
    nice .venv-fastai2/bin/python benchmarks/app_load.py --docs     # and the table into docs/app.md

The server is the app's own command (``python -m movielens_fastai.serving.app``) in a process of
its own on 127.0.0.1 and a free port, serving the saved MovieLens 100K model (trained first if there
is none; that is not timed). After a warm-up, ``--users`` threads (20) each act as one person:
five ratings of movies drawn from the 300 most rated (seeded per person) and a request for their
ten titles over Gradio's HTTP API (``/gradio_api/call/recommend``: the queue's join, then the
result's event stream, as a client of the page sees it), again and again, until ``--requests``
(2,000) have been made or ``--seconds`` (120) have passed. Each request's latency counts from
the first byte sent to the last byte of the result; an error is any status but 200, an event
other than ``complete``, a list not ten long, or a timeout (10 s). The server's resident memory
(with any children) is sampled every 0.2 s through the run; its first and last 10% are compared
to see whether it grows. The server is stopped whatever happens.

Writes ``benchmarks/results/app_load.json`` (every figure, the machine, the date, the command, the
load average at the start) and ``app_load.md``; ``--docs`` puts the table between the
``benchmark:app-load`` markers (docs/app.md). The client runs on the same 2 cores as the server, so
the figures are the server's latency with a busy neighbour, not the server alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import psutil  # noqa: E402

from movielens_fastai.core import (  # noqa: E402
    environment,
    free_port,
    machine,
    write_json_atomically,
    write_text_atomically,
)
from movielens_fastai.serving.bundle import load_bundle  # noqa: E402

GOALS = {"p95_ms": 150.0, "users": 20, "errors": 0, "memory_growth_mib": 20.0}
REQUEST_TIMEOUT = 10.0
RATED = ["Movie ID", "Title", "Your rating"]


def start_server(model: Path, port: int, log: Path) -> subprocess.Popen:
    """The app's command in its own process group (so that it and anything it starts can be ended)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("w") as out:
        command = [sys.executable, "-m", "movielens_fastai.serving.app", "--model", str(model),
                   "--port", str(port)]
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_until_serving(port: int, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
        finally:
            connection.close()
    raise SystemExit(f"the app did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def page_endpoint(port: int, name: str) -> dict:
    """How the page calls the event named ``name``: its index and the id of the button that fires it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", "/config")
        config = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    event = next(d for d in config["dependencies"] if d.get("api_name") == name)
    return {"fn_index": event["id"], "trigger_id": event["targets"][0][0]}


def recommend(port: int, endpoint: dict, session: str, ratings: dict[int, float]) -> tuple[float, str | None]:
    """One click on *What should I watch next?* as the page sends it: join the queue with the ratings
    table, then read the session's event stream to the result. (seconds, error or None)."""
    table = {"headers": RATED, "data": [[m, "", r] for m, r in ratings.items()], "metadata": None}
    body = json.dumps({"data": [table], "session_hash": session, "event_data": None, **endpoint})
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("POST", "/gradio_api/queue/join", body=body,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            return time.perf_counter() - started, f"join: HTTP {response.status}"
        event_id = json.loads(answer)["event_id"]
        connection.request("GET", f"/gradio_api/queue/data?session_hash={session}")
        response = connection.getresponse()
        if response.status != 200:
            return time.perf_counter() - started, f"data: HTTP {response.status}"
        done = None
        for line in response:   # server-sent events, one "data: {...}" line each
            if not line.startswith(b"data: "):
                continue
            message = json.loads(line[6:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                done = message
            if message.get("msg") == "close_stream" or done:
                break
        elapsed = time.perf_counter() - started
        if done is None:
            return elapsed, "the stream closed without the result"
        if not done.get("success"):
            return elapsed, f"failed: {str(done.get('output'))[:200]}"
        listed = done["output"]["data"][0]
        if len(listed["data"]) != 10:
            return elapsed, f"{len(listed['data'])} titles"
        return elapsed, None
    except (OSError, ValueError, KeyError, IndexError, StopIteration) as err:
        return time.perf_counter() - started, f"{type(err).__name__}: {err}"
    finally:
        connection.close()


class MemorySampler(threading.Thread):
    """The server's resident memory (its process and children), every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.process, self.every = psutil.Process(pid), every
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def rss_mib(self) -> float:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2 ** 20

    def run(self):
        started = time.perf_counter()
        while not self.done.is_set():
            try:
                self.samples.append((time.perf_counter() - started, self.rss_mib()))
            except psutil.NoSuchProcess:
                return
            self.done.wait(self.every)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def run_load(port: int, endpoint: dict, users: int, total: int, seconds: float, popular: list[int],
             seed: int, think: float) -> dict:
    """``users`` threads, each one visitor of the page (one session), asking for recommendations until
    ``total`` requests have been made or ``seconds`` have passed; between two requests each waits
    ``think`` seconds on average (uniformly half to one and a half times it; 0: back to back), and
    each starts at a random moment within the first ``think`` seconds."""
    lock, latencies, errors = threading.Lock(), [], []
    issued = 0
    deadline = time.monotonic() + seconds

    def person(index: int):
        nonlocal issued
        draw = random.Random(seed * 1000 + index)
        session = f"load{seed}-{think:g}-{index}"
        time.sleep(draw.uniform(0, think))
        while time.monotonic() < deadline:
            with lock:
                if issued >= total:
                    return
                issued += 1
            ratings = {m: float(draw.randint(1, 5)) for m in draw.sample(popular, 5)}
            elapsed, error = recommend(port, endpoint, session, ratings)
            with lock:
                latencies.append(elapsed)
                if error:
                    errors.append(error)
            if think:
                time.sleep(min(draw.uniform(0.5, 1.5) * think, max(0.0, deadline - time.monotonic())))

    started = time.perf_counter()
    threads = [threading.Thread(target=person, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT)
    wall = time.perf_counter() - started
    ms = [1000 * x for x in latencies]
    return {"requests": len(latencies), "seconds": wall, "per_second": len(latencies) / wall,
            "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms, default=float("nan")), "mean_ms": statistics.fmean(ms) if ms else float("nan"),
            "errors": len(errors), "error_examples": sorted(set(errors))[:5],
            "stopped_by": "count" if len(latencies) >= total else "time", "users": users, "think_s": think,
            "limits": {"requests": total, "seconds": seconds}}


def memory_summary(samples: list[tuple[float, float]], load_started: float, load_ended: float) -> dict:
    """The server's RSS before the load, over the first and last tenth of the load, and its peak."""
    during = [rss for t, rss in samples if load_started <= t <= load_ended]
    tenth = max(1, len(during) // 10)
    first, last = statistics.fmean(during[:tenth]), statistics.fmean(during[-tenth:])
    return {"samples": len(samples), "every_s": 0.2, "before_load_mib": samples[0][1],
            "start_mib": first, "end_mib": last, "peak_mib": max(rss for _, rss in samples),
            "growth_mib": last - first,
            "series_mib": [round(rss, 1) for _, rss in samples[::max(1, len(samples) // 60)]]}


def table(results: dict) -> str:
    memory, goals, met = results["memory"], results["goals"], results["met"]
    lines = ["| 20 concurrent users | requests | p50 | p95 | p99 / slowest | errors | goal: p95 <= "
             f"{goals['p95_ms']:.0f} ms, no error |", "|---|---|---|---|---|---|---|"]
    for name, load in results["phases"].items():
        ok = load["p95_ms"] <= goals["p95_ms"] and load["errors"] == 0
        distance = "" if ok else f" ({load['p95_ms'] / goals['p95_ms']:.1f}x the goal)"
        verdict = "met" if ok else "not met" + distance
        lines.append(f"| {name} | {load['requests']:,} in {load['seconds']:.0f} s "
                     f"({load['per_second']:.0f}/s) | {load['p50_ms']:.0f} ms | {load['p95_ms']:.0f} ms | "
                     f"{load['p99_ms']:.0f} / {load['max_ms']:.0f} ms | {load['errors']} | {verdict} |")
    lines.append("")
    lines.append(f"Server memory (RSS, sampled every 0.2 s): {memory['before_load_mib']:.0f} MiB before the "
                 f"load, {memory['start_mib']:.0f} MiB over its first tenth, "
                 f"{memory['end_mib']:.0f} MiB over its last "
                 f"({memory['growth_mib']:+.1f} MiB), peak {memory['peak_mib']:.0f} MiB: "
                 f"{'flat' if met['memory'] else 'not flat'} (goal: growth under "
                 f"{goals['memory_growth_mib']:.0f} MiB).")
    return ("\n".join(lines) + f"\n\n`{results['command']}`, {results['machine_line']}, {results['date']}; "
            f"the client ran on the same cores as the server.\n")


def put_table(marker: str, text: str) -> Path:
    """The table between its markers in docs/."""
    from movielens_fastai.reporting.markers import put_between_markers

    return put_between_markers(marker, text, ROOT)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "output" / "app" / "movielens-100k.safetensors"),
                        help="the saved model to serve (trained first by the app's command if missing)")
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated people (default 20)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds a person pauses between requests, on average, in the first phase")
    parser.add_argument("--requests", type=int, default=2000,
                        help="each phase stops after this many requests")
    parser.add_argument("--seconds", type=float, default=60, help="or after this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help=f"results folder (default: {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--docs", action="store_true", help="also put the table in docs/app.md")
    args = parser.parse_args(argv)
    if not (1 <= args.users <= 200 and 1 <= args.requests <= 100_000 and 1 <= args.seconds <= 600
            and 0 < args.think <= 60):
        raise SystemExit("--users 1-200, --requests 1-100000, --seconds 1-600, --think 0-60: "
                         "the run is bounded")
    out = Path(args.out) if args.out else RESULTS
    model = Path(args.model)
    load_average = os.getloadavg()[0]
    port = free_port()
    log = out / "app_load.server.log" if args.out else ROOT / "output" / "app_load.server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if not model.exists():
        # The app's command trains and saves the model when there is none; the run measures a
        # server started from the saved model, as every later `make app` is.
        print(f"{model} not found: the app's command trains and saves it first", flush=True)
        server = start_server(model, port, log)
        try:
            wait_until_serving(port, server, log, timeout=900)
        finally:
            stop_server(server)
        port = free_port()
    server = start_server(model, port, log)
    try:
        wait_until_serving(port, server, log, timeout=180)
        bundle = load_bundle(model)
        popular = bundle.movies.sort_values("Ratings", ascending=False)["Movie ID"].head(300).tolist()
        sampler = MemorySampler(server.pid)
        sampler.start()
        endpoint = page_endpoint(port, "recommend")
        warm = [recommend(port, endpoint, "warm-up", {m: 4.0 for m in popular[i:i + 5]})
                for i in range(0, 50, 5)]
        if any(error for _, error in warm):
            raise SystemExit(f"warm-up failed: {[e for _, e in warm if e]}")
        load_started = sampler.samples[-1][0] if sampler.samples else 0.0
        phases = {}
        for name, think in ((f"pausing about {args.think:g} s between requests", args.think),
                            ("back to back (no pause)", 0.0)):
            phases[name] = run_load(port, endpoint, args.users, args.requests, args.seconds, popular,
                                    args.seed, think)
        load_ended = sampler.samples[-1][0]
        time.sleep(1.0)
        sampler.done.set()
        sampler.join(timeout=5)
    finally:
        stop_server(server)
    memory = memory_summary(sampler.samples, load_started, load_ended)
    met = {**{name: load["p95_ms"] <= GOALS["p95_ms"] and load["errors"] == GOALS["errors"]
              for name, load in phases.items()},
           "memory": abs(memory["growth_mib"]) < GOALS["memory_growth_mib"]}
    where = machine()
    results = {
        "suite": "app-load", "phases": phases, "memory": memory, "goals": GOALS, "met": met,
        "settings": {"users": args.users, "think_s": args.think, "requests": args.requests,
                     "seconds": args.seconds,
                     "seed": args.seed,
                     "ratings_per_request": 5, "drawn_from": "the 300 most rated movies",
                     "request_timeout_s": REQUEST_TIMEOUT,
                     "protocol": "the page's: /gradio_api/queue/join, then /gradio_api/queue/data",
                     "sessions": "one per simulated user"},
        "model": {"path": os.path.relpath(model, ROOT), "sha256": bundle.info.get("ratings_sha256")},
        "environment": environment(packages=("gradio", "fastapi", "uvicorn", "numpy", "pandas",
                                             "safetensors")),
        "machine": where,
        "machine_line": f"{where['cpu_count']} CPU cores, {where['processor']}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join([*(["nice"] if os.nice(0) > 0 else []), ".venv-fastai2/bin/python",
                             os.path.relpath(__file__, ROOT), *sys.argv[1:]]),
        "load_average_at_start": load_average,
    }
    text = table(results)
    print(text)
    write_json_atomically(out / "app_load.json", results)
    write_text_atomically(out / "app_load.md", text)
    print(f"-> {out / 'app_load.json'}, {out / 'app_load.md'}")
    if args.docs:
        print(f"-> {put_table('app-load', text)}")


if __name__ == "__main__":
    main()
