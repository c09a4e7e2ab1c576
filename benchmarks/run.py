"""Benchmarks, not tests: run the project's models on one machine and write what they scored, how
long they took and what they needed. Each suite writes ``<suite>.json`` (its figures, the machine,
the versions of the processes that trained, the date) and ``<suite>.md`` (its table) into ``--out``
(default ``benchmarks/results/``); ``--docs`` also writes the table between the suite's markers in
README.md or docs/*.md. Run from the project's root with ``.venv/bin/python benchmarks/run.py SUITE``:

``claimed``   the article's claim beside what ``make run`` measured: reads ``output/01_article.json``
              and ``output/02_port.json`` (the notebooks write them), writes ``claimed.json`` and
              README's table (``--table-only``: the table from the committed ``claimed.json``).
``split``     the article's split (fastai v1's ``valid_pct=0.1, seed=42``), training seeds ``--seeds``
              (default 0-4): the notebooks themselves through papermill, so it measures exactly what a
              reader runs: 01_article (fastai v1), 02_port (fastai 2.8), 03_under_the_hood (the
              plain PyTorch loop, the article's recipe and the fast configuration) and
              05_fast_fastai (the fast path through fastai's Learner and its plain twin, each with the
              port's recipe and the fast configuration).
``folds``     the canonical u1-u5 folds (``--folds``): every method of the rating registry's default
              run (``movielens_fastai.models.rating.RUN_ORDER``: the global mean and biases, Surprise's
              BaselineOnly, SVD and SVD++, myFM's vanilla, extended and ordered-probit FMs, the
              project's fastai factorization machines and their blend, fastai v1 and plain PyTorch;
              ``--methods`` names others, such as ``fastai2`` and ``tuned``), each in its own
              environment; also ``rmse_vs_time.png``. ``--folds 1 --methods plain_torch,bias
              --epochs 2`` is a quick run.
``ranking``   notebooks/06_recommending.ipynb (every ranker on both top-N protocols, settings chosen
              on validation slices) through papermill. ``--folds 1 --no-tune`` is a quick run.
``memory``    01_article and 02_port with the article's settings, the peak memory of each kernel and
              its workers (proportional set size) against Binder's 2 GB.
``binder``    01_article and 02_port with the article's settings on one CPU core, as mybinder.org
              gives: each notebook's time and its MSE.
``routes``    each PyTorch build (``--routes``: ``make setup TORCH=cpu``, ``make setup TORCH=cuda``)
              from scratch in a copy of the project: install time and disk.
``scale``     1M, 10M and 25M synthetic MovieLens-shaped ratings (``--sizes``): seconds per epoch and
              peak memory of the fast fastai path and of plain PyTorch (``benchmarks/scale.py``, each
              configuration in its own fastai 2 process); also ``scale.png``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from movielens_fastai.core import environment, write_json_atomically, write_text_atomically  # noqa: E402
from movielens_fastai.reporting.markers import put_between_markers  # noqa: E402

os.environ.setdefault("JUPYTER_PATH", os.pathsep.join(
    str(ROOT / venv / "share" / "jupyter") for venv in (".venv", ".venv-fastai2")))

# The split suite's rows: label -> (notebook, kernel, extra parameters, how to read (MSE, fit seconds)
# from the notebook's results). Each notebook runs once per seed; rows of one notebook share that run.
FAST_FASTAI_SPLIT = {"compare_port": False, "profile_batches": 0, "scale_ratings": 0}
SPLIT_METHODS = {
    "fastai 1.0.61, the article's code (01_article)": (
        "01_article", "movielens-fastai", {},
        lambda r: (r["valid_mse"], r["fit_seconds"])),
    "fastai 2.8.12, the port (02_port)": (
        "02_port", "movielens-fastai2", {},
        lambda r: (r["valid_mse"], r["fit_seconds"])),
    "plain PyTorch loop, fastai v1's recipe (03_under_the_hood)": (
        "03_under_the_hood", "movielens-fastai", {"compare_fastai": False},
        lambda r: (r["plain"]["valid_mse"], r["plain"]["fit_seconds"])),
    "plain PyTorch loop, fast configuration (03_under_the_hood)": (
        "03_under_the_hood", "movielens-fastai", {"compare_fastai": False},
        lambda r: (r["fast"]["per_seed"][0]["valid_mse"], r["fast"]["per_seed"][0]["fit_seconds"])),
    "fastai 2.8.12, fast path, the port's recipe (05_fast_fastai)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["fast_path"]["valid_mse"], r["runs"]["fast_path"]["fit_seconds"])),
    "plain PyTorch loop, the port's recipe (05_fast_fastai)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["plain_pytorch"]["valid_mse"], r["runs"]["plain_pytorch"]["fit_seconds"])),
    "fastai 2.8.12, fast path, fast configuration (05_fast_fastai)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["fast_config"]["valid_mse"], r["runs"]["fast_config"]["fit_seconds"])),
    "plain PyTorch loop, fast configuration (05_fast_fastai)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["fast_config_plain_pytorch"]["valid_mse"],
                   r["runs"]["fast_config_plain_pytorch"]["fit_seconds"])),
}


def run_folds(args) -> None:
    """The u1-u5 benchmark; its files are written after every method, so a run cut short still
    leaves the methods it finished."""
    from movielens_fastai.data.movielens import resolve_data_dir
    from movielens_fastai.evaluation.folds import RUN_ORDER, run_benchmark
    from movielens_fastai.reporting.folds import write_results

    methods = args.methods.split(",") if args.methods else RUN_ORDER
    seed = args.seeds[0]
    started = time.perf_counter()

    def checkpoint(rows):
        write_results(rows, args.out, seed=seed, epochs=args.epochs,
                      total_seconds=time.perf_counter() - started)

    rows = run_benchmark(resolve_data_dir(args.data_dir), methods, args.folds, seed=seed, epochs=args.epochs,
                         checkpoint=checkpoint)
    total = time.perf_counter() - started
    write_results(rows, args.out, seed=seed, epochs=args.epochs, total_seconds=total)
    table = (args.out / "folds.md").read_text()
    print(f"{total:.0f} s in all; results in {args.out}\n\n{table}")
    if args.docs:
        put_between_markers("folds", table, ROOT)


def machine() -> str:
    env = environment()   # the same description the notebooks record
    return f"{env['device']}, {env['platform']}"


def run_split(seeds: list[int], data_dir: str | None, methods: dict | None = None) -> dict:
    import papermill

    methods = SPLIT_METHODS if methods is None else methods
    runs: dict[str, list[dict]] = {name: [] for name in methods}
    cache: dict[tuple[str, int], dict] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for name, (notebook, kernel, extra, read) in methods.items():
                if (notebook, seed) not in cache:
                    out = Path(tmp) / f"{notebook}-{seed}"
                    out.mkdir()
                    params = {"train_seed": seed, "output_dir": str(out), **extra}
                    if notebook == "03_under_the_hood":
                        params["fast_seeds"] = [seed]
                    if data_dir:
                        params["data_dir"] = data_dir
                    print(f"[{time.perf_counter() - started:5.0f} s] seed {seed} ({seeds.index(seed) + 1}/"
                          f"{len(seeds)}): {notebook} ...", flush=True)
                    papermill.execute_notebook(
                        str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out / "run.ipynb"),
                        parameters=params, kernel_name=kernel, cwd=str(ROOT / "notebooks"),
                        execution_timeout=1800, progress_bar=False)
                    cache[notebook, seed] = json.loads((out / f"{notebook}.json").read_text())
                mse, seconds = read(cache[notebook, seed])
                runs[name].append({"seed": seed, "valid_mse": mse, "fit_seconds": seconds})
    summary = {
        name: {"mean_valid_mse": statistics.mean(r["valid_mse"] for r in rs),
               "sd_valid_mse": statistics.stdev(r["valid_mse"] for r in rs) if len(rs) > 1 else 0.0,
               "mean_fit_seconds": statistics.mean(r["fit_seconds"] for r in rs),
               "runs": rs}
        for name, rs in runs.items()
    }
    return {"suite": "split", "seeds": seeds, "split": "fastai v1's valid_pct=0.1, seed=42",
            "machine": machine(), "date": datetime.date.today().isoformat(), "methods": summary}


def split_table(results: dict) -> str:
    lines = [
        f"Validation MSE on the article's split (10,000 ratings), training seeds "
        f"{', '.join(map(str, results['seeds']))}; {results['machine']}, {results['date']}.",
        "",
        "| method | mean MSE | sd | per seed | mean fit s |",
        "|---|---|---|---|---|",
    ]
    for name, m in results["methods"].items():
        per_seed = ", ".join(f"{r['valid_mse']:.4f}" for r in m["runs"])
        lines.append(f"| {name} | {m['mean_valid_mse']:.4f} | {m['sd_valid_mse']:.4f} | {per_seed} "
                     f"| {m['mean_fit_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


# The article's claim (the 2019 post: fastai v1 on a GTX 1080Ti), kept beside every rerun.
ARTICLE_CLAIM = {"label": "the article (fastai v1)", "valid_mse": 0.82, "approximate": True,
                 "fit_seconds": 15, "epochs": 5, "device": "GTX 1080Ti", "date": "2019",
                 "source": "the 2019 article"}
# (name, notebook) for the two rows `make run` measures: its results file is output/<notebook>.json.
CLAIMED_RUNS = (("original", "01_article"), ("port", "02_port"))
CLAIMED_PROTOCOL = (
    "`make run`: each notebook with its parameters cell as committed (the article's settings: valid_pct 0.1 "
    "with seed 42, i.e. 10,000 validation ratings; train_seed 42; 40 factors; y_range (0, 5.5); wd 0.1; "
    "fit_one_cycle(5, 0.01); batches of 64), the full MovieLens 100K")


def claimed_results(output: Path = ROOT / "output") -> dict:
    """claimed.json: the article's claim and what the two notebooks of `make run` recorded."""
    rows = []
    for name, notebook in CLAIMED_RUNS:
        path = output / f"{notebook}.json"
        if not path.exists():
            raise SystemExit(f"{path} not found: run `make run` first (it writes output/{notebook}.json)")
        r = json.loads(path.read_text())
        date = r.get("date") or datetime.datetime.fromtimestamp(
            path.stat().st_mtime, datetime.UTC).date().isoformat()
        rows.append({"name": name, "notebook": notebook, "valid_mse": r["valid_mse"],
                     "fit_seconds": r["fit_seconds"], "epochs": r.get("parameters", {}).get("epochs"),
                     "versions": r["versions"], "device": r["device"], "date": date,
                     "command": "make run", "source": f"output/{notebook}.json"})
    return {"suite": "claimed", "protocol": CLAIMED_PROTOCOL, "article": ARTICLE_CLAIM, "rows": rows}


def claimed_table(claimed: dict) -> str:
    """README's claimed-vs-reproduced table, from claimed.json."""
    a = claimed["article"]
    lines = ["| | validation MSE | fit (5 epochs) | hardware | date | command |",
             "|---|---|---|---|---|---|",
             f"| {a['label']} | {'about ' if a.get('approximate') else ''}{a['valid_mse']} "
             f"| {a['fit_seconds']} s | {a['device']} | {a['date']} | |"]
    for r in claimed["rows"]:
        lines.append(f"| {r['name']}, fastai {r['versions']['fastai']} | {r['valid_mse']:.4f} "
                     f"| {r['fit_seconds']:.0f} s | {r['device']} | {r['date']} | `{r['command']}` |")
    lines += ["", "Generated by `benchmarks/run.py claimed` from `benchmarks/results/claimed.json`."]
    if claimed.get("carried_over"):
        lines[-1] += f" Its measured rows are carried over {claimed['carried_over']}, not rerun yet."
    return "\n".join(lines) + "\n"


def run_claimed(table_only: bool, out: Path = RESULTS, docs: bool = True) -> None:
    """claimed.json in ``out`` from `make run`'s output/, then its table (in README when ``docs``)."""
    path = Path(out) / "claimed.json"
    if not table_only:
        write_json_atomically(path, claimed_results())
    elif not path.exists():
        raise SystemExit(f"{path} not found: --table-only renders the table from an existing claimed.json")
    table = claimed_table(json.loads(path.read_text()))
    write_text_atomically(Path(out) / "claimed.md", table)
    print(table)
    if docs:
        put_between_markers("claimed", table, ROOT)


METRICS = [("precision_at_k", "P@10"), ("recall_at_k", "R@10"), ("ndcg_at_k", "NDCG@10"),
           ("map_at_k", "MAP@10"), ("coverage", "coverage"), ("fit_seconds", "fit s")]


def run_ranking(args) -> dict:
    import papermill

    params = {"folds": args.folds, "tune": not args.no_tune}
    if args.data_dir:
        params["data_dir"] = args.data_dir
    out = ROOT / "output"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        params["output_dir"] = tmp
        started = time.perf_counter()
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "06_recommending.ipynb"), str(out / "06_recommending.ipynb"),
            parameters=params, kernel_name="movielens-fastai2", cwd=str(ROOT / "notebooks"),
            execution_timeout=3600, progress_bar=False)
        total = time.perf_counter() - started
        nb = json.loads((Path(tmp) / "06_recommending.json").read_text())
    write_json_atomically(out / "06_recommending.json", nb)
    return ranking_results(nb, total)


def ranking_results(nb: dict, total_seconds: float | None = None) -> dict:
    """benchmarks/results/ranking.json from the notebook's recommending.json."""
    rows = [{"method": r["method"], "protocol": r["protocol"],
             **{key: r[key] for key, _ in METRICS}} for r in nb["summary"]]
    return {"suite": "ranking", "k": nb["k"], "folds": nb["parameters"]["folds"],
            "split_seed": nb["parameters"]["split_seed"], "tuned": nb["parameters"]["tune"],
            "chosen": nb["chosen"], "goals": nb["goals"],
            "published_recommenders_ndcg_at_k": nb["published_recommenders_ndcg_at_k"],
            "machine": f"{nb['environment']['device']}, {nb['environment']['platform']}",
            "date": datetime.date.today().isoformat(), "total_seconds": total_seconds, "rows": rows}


def ranking_table(results: dict) -> str:
    lines = []
    folds = ",".join(f"u{f}" for f in results["folds"])
    for protocol, title in (("ours", f"Ours: canonical folds {folds} (mean), relevant = a test rating >= 4"),
                            ("recommenders", "Recommenders' protocol: one 75/25 split per user (seed "
                             f"{results['split_seed']}), every test movie relevant")):
        rows = sorted((r for r in results["rows"] if r["protocol"] == protocol),
                      key=lambda r: -r["ndcg_at_k"])
        if not rows:
            continue
        lines += [f"{title}; {results['machine']}, {results['date']}.", "",
                  "| method | " + " | ".join(label for _, label in METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for r in rows:
            lines.append(f"| {r['method']} | " + " | ".join(
                f"{r[key]:.1f}" if key == "fit_seconds" else f"{r[key]:.3f}" for key, _ in METRICS) + " |")
        if protocol == "recommenders":
            for name, ndcg in results["published_recommenders_ndcg_at_k"].items():
                lines.append(f"| {name}, published by Recommenders | | | {ndcg:.3f} | | | |")
        lines.append("")
    return "\n".join(lines)


MEMORY_NOTEBOOKS = {"01_article": "movielens-fastai", "02_port": "movielens-fastai2"}
BINDER_MEMORY_MIB = 2048


def _tree_memory(root) -> tuple[float, float]:
    """(PSS, RSS) in MiB of root's descendants: the kernel and its data-loader workers."""
    import psutil

    pss = rss = 0
    for proc in root.children(recursive=True):
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss, rss = pss + info.pss, rss + info.rss
    return pss / 2**20, rss / 2**20


def _peak_memory_while(work) -> tuple[float, float]:
    """Run work(); return the peak (PSS, RSS) in MiB of the processes it started, sampled 5 times a second."""
    import psutil

    me, peak, done = psutil.Process(), [0.0, 0.0], threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[:] = map(max, peak, _tree_memory(me))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return peak[0], peak[1]


def article_runs(data_dir: str | None, measured, label: str = "", timeout: int = 1800) -> dict:
    """01_article and 02_port with the article's settings, each run inside ``measured(run)`` (which
    returns a dict of what it measured); {notebook: that dict with the run's MSE and versions}."""
    import papermill

    notebooks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for notebook, kernel in MEMORY_NOTEBOOKS.items():
            out = Path(tmp) / notebook
            out.mkdir()
            params = {"output_dir": str(out), **({"data_dir": data_dir} if data_dir else {})}
            print(f"{notebook}{label} ...", flush=True)
            figures = measured(lambda nb=notebook, k=kernel, o=out, p=params: papermill.execute_notebook(
                str(ROOT / "notebooks" / f"{nb}.ipynb"), str(o / "run.ipynb"), parameters=p, kernel_name=k,
                cwd=str(ROOT / "notebooks"), execution_timeout=timeout, progress_bar=False))
            run = json.loads((out / f"{notebook}.json").read_text())
            notebooks[notebook] = {**figures(run), "valid_mse": run["valid_mse"],
                                   "torch": run["versions"]["torch"], "fastai": run["versions"]["fastai"]}
    return notebooks


def run_memory(data_dir: str | None) -> dict:
    """Each notebook with the article's settings; peak memory of everything it started."""
    def measured(run_notebook):
        pss, rss = _peak_memory_while(run_notebook)
        return lambda run: {"peak_pss_mib": round(pss), "peak_rss_mib": round(rss),
                            "fits_binder": pss < BINDER_MEMORY_MIB}

    return {"suite": "memory", "settings": "the article's (full data, 5 epochs)",
            "limit_mib": BINDER_MEMORY_MIB, "machine": machine(), "date": datetime.date.today().isoformat(),
            "notebooks": article_runs(data_dir, measured)}


def memory_table(results: dict) -> str:
    lines = [f"Peak memory of each notebook's kernel and workers, the article's settings; "
             f"{results['machine']}, {results['date']}.", "",
             "| notebook | torch | peak PSS | peak RSS (shared pages counted twice) | fits Binder's 2 GB |",
             "|---|---|---|---|---|"]
    for name, m in results["notebooks"].items():
        lines.append(f"| {name} (fastai {m['fastai']}) | {m['torch']} | {m['peak_pss_mib']:,} MiB "
                     f"| {m['peak_rss_mib']:,} MiB | {'yes' if m['fits_binder'] else 'no'} |")
    return "\n".join(lines) + "\n"


def run_binder(data_dir: str | None) -> dict:
    """01_article and 02_port with the article's settings on one CPU core, what mybinder.org gives a
    session: each kernel inherits this process's CPU affinity."""
    def measured(run_notebook):
        started = time.perf_counter()
        run_notebook()
        wall, load = time.perf_counter() - started, os.getloadavg()[0]
        return lambda run: {"wall_seconds": round(wall, 1), "load_average_1min": round(load, 1),
                            "fit_seconds": round(run["fit_seconds"], 1)}

    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        notebooks = article_runs(data_dir, measured, " on one core", timeout=3600)
    finally:
        os.sched_setaffinity(0, before)
    return {"suite": "binder", "settings": "the article's (full data, 5 epochs), one CPU core",
            "machine": machine(), "date": datetime.date.today().isoformat(), "notebooks": notebooks}


def binder_table(results: dict) -> str:
    lines = [f"Measured by `benchmarks/run.py binder --docs`: {results['settings']} (CPU affinity), "
             f"the CPU-only route's packages; {results['machine']}, {results['date']}.", "",
             "| notebook | whole notebook | fit (5 epochs) | validation MSE |", "|---|---|---|---|"]
    for name, r in results["notebooks"].items():
        minutes, seconds = divmod(round(r["wall_seconds"]), 60)
        lines.append(f"| {name} (fastai {r['fastai']}) | {minutes} min {seconds} s "
                     f"| {r['fit_seconds']:.0f} s | {r['valid_mse']:.4f} |")
    return "\n".join(lines) + "\n"


ROUTES = {"cpu": ["make", "setup", "TORCH=cpu"], "cuda": ["make", "setup", "TORCH=cuda"]}


def _disk_mib(path: Path) -> int:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def run_routes(routes: list[str]) -> dict:
    """Build each route from scratch in a temporary copy of the committed project."""
    measured = {}
    for route in routes:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            print(f"{' '.join(ROUTES[route])} ...", flush=True)
            started = time.perf_counter()
            subprocess.run(ROUTES[route], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - started
            load = os.getloadavg()[1]   # other work on the machine slows the install down
            venvs = {v: _disk_mib(Path(tmp) / v) for v in (".venv", ".venv-fastai2")}
            measured[route] = {"command": " ".join(ROUTES[route]), "install_seconds": round(seconds),
                               "load_average_5min": round(load, 1),
                               "disk_mib": venvs, "total_disk_mib": sum(venvs.values())}
    return {"suite": "routes", "machine": machine(), "date": datetime.date.today().isoformat(),
            "routes": measured}


# When a plain `make` takes each build (the Makefile's TORCH).
ROUTE_TAKEN = {
    "cpu": "no NVIDIA GPU (or `TORCH=cpu`)",
    "cuda": "`nvidia-smi -L` lists an NVIDIA GPU (or `TORCH=cuda`)",
}


def routes_table(results: dict) -> str:
    lines = ["| PyTorch build | `make` takes it where | install, both environments "
             "| disk (`.venv` + `.venv-fastai2`) |",
             "|---|---|---|---|"]
    for route, r in results["routes"].items():
        disk = " + ".join(f"{mib / 1024:.1f}" for mib in r["disk_mib"].values())
        minutes, seconds = divmod(r["install_seconds"], 60)
        lines.append(f"| {route} | {ROUTE_TAKEN[route]} | {minutes} min {seconds} s "
                     f"| {r['total_disk_mib'] / 1024:.1f} GiB ({disk}) |")
    lines += ["", f"Measured by `benchmarks/run.py routes --docs`: each build from scratch in a copy of the "
              f"project, packages from a local mirror of PyPI; {results['machine']}, {results['date']}."]
    return "\n".join(lines) + "\n"


def record(suite: str, results: dict, to_table, out: Path, docs: bool) -> None:
    """A suite's figures: <suite>.json and its table <suite>.md in ``out``, printed, and between the
    suite's markers (README.md or docs/*.md) when ``docs``."""
    write_json_atomically(out / f"{suite}.json", results)
    table = to_table(results)
    write_text_atomically(out / f"{suite}.md", table)
    print(table)
    if docs:
        put_between_markers(suite, table, ROOT)


SUITES = ("claimed", "split", "folds", "ranking", "memory", "binder", "routes", "scale")
# Options that mean something to some suites only: passing one to another suite is an error, not a
# silent no-op.
ONLY_FOR = {"seeds": ("split", "folds"), "folds": ("folds", "ranking"), "methods": ("folds",),
            "epochs": ("folds",), "no_tune": ("ranking",), "routes": ("routes",), "sizes": ("scale",),
            "data_dir": ("split", "folds", "ranking", "memory")}


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("suite", choices=SUITES)
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for the suite's <suite>.json, <suite>.md (and plots); created if "
                             "missing (default: benchmarks/results)")
    parser.add_argument("--docs", action="store_true",
                        help="also write the table between the suite's markers in README.md or docs/*.md")
    parser.add_argument("--data-dir", default=None,
                        help="MovieLens 100K folder (default: $MOVIELENS_DIR, else ml-100k/, downloaded)")
    parser.add_argument("--seeds", type=_ints, default=None,
                        help="training seeds, e.g. 0,1,2 (split: default 0-4; folds: the first, default 0)")
    parser.add_argument("--folds", type=_ints, default=None,
                        help="canonical folds, e.g. 1 or 1,2 (default 1-5)")
    parser.add_argument("--methods", default=None,
                        help="folds: comma-separated methods of the rating registry (default: its "
                             "default run)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="folds: epochs of the neural methods (quick runs)")
    parser.add_argument("--no-tune", action="store_true",
                        help="ranking: each grid's first setting instead of choosing on validation slices")
    parser.add_argument("--routes", default="cpu,cuda", help="routes: which builds, comma-separated")
    parser.add_argument("--sizes", type=_ints, default=None,
                        help="scale: ratings per set, e.g. 1000000,10000000")
    parser.add_argument("--table-only", action="store_true",
                        help="run nothing: write the suite's table between its markers from <out>/<suite>.md "
                             "(claimed: from <out>/claimed.json)")
    args = parser.parse_args(argv)
    defaults = parser.parse_args([args.suite])
    for option, suites in ONLY_FOR.items():
        if args.suite not in suites and getattr(args, option) != getattr(defaults, option):
            parser.error(f"--{option.replace('_', '-')} applies to {', '.join(suites)}, not {args.suite}")
    args.seeds = args.seeds or ([0, 1, 2, 3, 4] if args.suite == "split" else [0])
    args.folds = args.folds or [1, 2, 3, 4, 5]
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.table_only and args.suite != "claimed":
        table = args.out / f"{args.suite}.md"
        if not table.exists():
            raise SystemExit(f"{table} not found: run the {args.suite} suite first")
        print(f"{args.suite}: table written into {put_between_markers(args.suite, table.read_text(), ROOT)}")
    elif args.suite == "folds":
        run_folds(args)
    elif args.suite == "ranking":
        record("ranking", run_ranking(args), ranking_table, args.out, args.docs)
    elif args.suite == "claimed":
        run_claimed(args.table_only, args.out, args.docs)
    elif args.suite == "memory":
        record("memory", run_memory(args.data_dir), memory_table, args.out, args.docs)
    elif args.suite == "binder":
        record("binder", run_binder(args.data_dir), binder_table, args.out, args.docs)
    elif args.suite == "scale":
        import scale

        results = scale.run_scale(args.sizes or scale.SIZES)
        record("scale", results, scale.scale_table, args.out, args.docs)
        scale.plot_scale(results, args.out / "scale.png")
    elif args.suite == "routes":
        record("routes", run_routes(args.routes.split(",")), routes_table, args.out, args.docs)
    else:
        record("split", run_split(args.seeds, args.data_dir), split_table, args.out, args.docs)


if __name__ == "__main__":
    main()
