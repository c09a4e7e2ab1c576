"""Benchmarks, not tests: run the project's models several times on one machine and
write what they scored and how long they took.

    .venv/bin/python benchmarks/run.py split     # the article's 10% split, several seeds
    .venv/bin/python benchmarks/run.py folds     # the canonical u1-u5 folds, peers included
    .venv/bin/python benchmarks/run.py claimed   # claimed.json and README's table, from `make run`'s output/

``folds`` runs every method of ``movielens_fastai.folds`` (the article's model, the port,
plain PyTorch, baselines and Surprise's SVD, SVD++ and BaselineOnly) on u1-u5, one at a
time, each in its own environment, and writes ``folds.json``, ``folds.md`` and
``rmse_vs_time.png``; ``--folds 1 --methods plain_torch,bias --epochs 2`` is a quick run.

``memory`` runs the original and the port with the article's settings and samples the
memory of each notebook's kernel and its worker processes (proportional set size, so pages
they share count once), against Binder's 2 GB; ``routes`` builds each way of installing
(``make setup`` and ``make setup TORCH=cpu``) from scratch in a temporary copy of the
project and records its install time and disk use.

``split`` runs the notebooks themselves through papermill (so it measures exactly what
a reader runs) with the validation split fixed (seed 42) and the training seed varied,
and writes ``benchmarks/results/split.json`` and ``split.md``; ``--readme`` also puts
the table between its ``benchmark:split`` markers, in whichever page has them (README.md or
docs/*.md: see ``put_between_markers``).

``claimed`` reads what ``make run`` left in output/ (``01_article.json`` and ``02_port.json``, which
the notebooks write themselves), writes ``benchmarks/results/claimed.json`` (the article's claim
beside both runs: validation MSE, fit seconds, versions, device, date, command) and renders
README's ``benchmark:claimed`` table from that file; ``--table-only`` renders it from the
committed claimed.json without reading output/.

``ranking`` runs notebooks/06_recommending.ipynb (every ranker, both top-N protocols, settings
chosen on validation slices) through papermill into ``output/06_recommending.ipynb`` and writes
``benchmarks/results/ranking.json`` (one row per method and protocol: each metric, fit
seconds) and ``ranking.md``; ``--readme`` puts the tables between the ``benchmark:ranking``
markers. ``--folds 1 --no-tune`` is a quick run.

``scale`` (``benchmarks/scale.py``) trains on 1M, 10M and 25M synthetic MovieLens-shaped ratings:
seconds per epoch and peak memory of the fast fastai path and of plain PyTorch, into ``scale.json``,
``scale.md`` and ``scale.png``; ``--sizes 200000`` is a quick run.
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

from movielens_fastai.core import environment, write_json_atomically  # noqa: E402

os.environ.setdefault("JUPYTER_PATH", os.pathsep.join(
    str(ROOT / venv / "share" / "jupyter") for venv in (".venv", ".venv-fastai2")))

# method -> (notebook, kernel, extra parameters, how to read (MSE, fit seconds) from its results)
SPLIT_METHODS = {
    "fastai 1.0.61 (the article's code)": (
        "01_article", "movielens-fastai", {},
        lambda r: (r["valid_mse"], r["fit_seconds"])),
    "fastai 2.8.12 (the port)": (
        "02_port", "movielens-fastai2", {},
        lambda r: (r["valid_mse"], r["fit_seconds"])),
    "plain PyTorch, the same recipe": (
        "03_under_the_hood", "movielens-fastai", {"compare_fastai": False},
        lambda r: (r["plain"]["valid_mse"], r["plain"]["fit_seconds"])),
    "plain PyTorch, fast configuration": (
        "03_under_the_hood", "movielens-fastai", {"compare_fastai": False},
        lambda r: (r["fast"]["per_seed"][0]["valid_mse"], r["fast"]["per_seed"][0]["fit_seconds"])),
}

# 05_fast_fastai.ipynb: fastai 2.8's Learner fed by tensor-slice loaders (movielens_fastai.training), the
# same recipe as a plain PyTorch loop in the same kernel, and the fast configuration through fastai.
FAST_FASTAI_SPLIT = {"compare_port": False, "profile_batches": 0, "scale_ratings": 0}
SPLIT_METHODS.update({
    "fastai 2.8.12, fast path (tensor slices, lean learner)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["fast_path"]["valid_mse"], r["runs"]["fast_path"]["fit_seconds"])),
    "plain PyTorch, fastai 2's recipe (fast-fastai notebook)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["plain_pytorch"]["valid_mse"], r["runs"]["plain_pytorch"]["fit_seconds"])),
    "fastai 2.8.12, fast path, fast configuration": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["fast_config"]["valid_mse"], r["runs"]["fast_config"]["fit_seconds"])),
    "plain PyTorch, fast configuration (fast-fastai notebook)": (
        "05_fast_fastai", "movielens-fastai2", FAST_FASTAI_SPLIT,
        lambda r: (r["runs"]["fast_config_plain_pytorch"]["valid_mse"],
                   r["runs"]["fast_config_plain_pytorch"]["fit_seconds"])),
})
# `split-fast`: only the fast-fastai rows (one notebook run per seed), written to split-fast.json /
# split-fast.md and README's benchmark:split-fast table; a much shorter run than `split`.
FAST_SPLIT_ROWS = list(SPLIT_METHODS)[-4:]


def run_folds(args) -> None:
    from movielens_fastai.data.movielens import resolve_data_dir
    from movielens_fastai.evaluation.folds import RUN_ORDER, run_benchmark
    from movielens_fastai.reporting.folds import write_results

    methods = args.methods.split(",") if args.methods else RUN_ORDER
    seed = int(args.seeds.split(",")[0])
    started = time.perf_counter()

    def checkpoint(rows):   # the methods done so far, so a run cut short still leaves its results
        write_results(rows, args.out, seed=seed, epochs=args.epochs,
                            total_seconds=time.perf_counter() - started)

    rows = run_benchmark(resolve_data_dir(args.data_dir), methods,
                               [int(f) for f in args.folds.split(",")], seed=seed, epochs=args.epochs,
                               checkpoint=checkpoint)
    total = time.perf_counter() - started
    write_results(rows, args.out, seed=seed, epochs=args.epochs, total_seconds=total)
    table = (Path(args.out) / "folds.md").read_text()
    print(f"{total:.0f} s in all; results in {args.out}\n\n{table}")
    if args.readme:
        put_between_markers("folds", table)


def machine() -> str:
    env = environment()   # the same description the notebooks record
    return f"{env['device']}, {env['platform']}"


def run_split(seeds: list[int], data_dir: str | None, methods: dict | None = None) -> dict:
    import papermill

    methods = SPLIT_METHODS if methods is None else methods
    runs: dict[str, list[dict]] = {name: [] for name in methods}
    cache: dict[tuple[str, int], dict] = {}
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
                    print(f"{notebook} seed {seed} ...", flush=True)
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
            path.stat().st_mtime, datetime.timezone.utc).date().isoformat()
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


def run_claimed(table_only: bool, out: Path = RESULTS) -> None:
    path = Path(out) / "claimed.json"
    if not table_only:
        write_json_atomically(path, claimed_results())
    table = claimed_table(json.loads(path.read_text()))
    print(table)
    put_between_markers("claimed", table)


METRICS = [("precision_at_k", "P@10"), ("recall_at_k", "R@10"), ("ndcg_at_k", "NDCG@10"),
           ("map_at_k", "MAP@10"), ("coverage", "coverage"), ("fit_seconds", "fit s")]


def run_ranking(args) -> dict:
    import papermill

    params = {"folds": [int(f) for f in args.folds.split(",")], "tune": not args.no_tune}
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


def marked_pages(root: Path = ROOT) -> list[Path]:
    """The pages that hold generated tables: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def put_between_markers(marker: str, table: str, root: Path = ROOT) -> Path:
    """Write table between <!-- benchmark:MARKER --> and <!-- /benchmark:MARKER --> in the one page
    of README.md and docs/*.md that has them; return that page. The page is replaced whole (a
    temporary file renamed over it), so a reader never sees half of it."""
    start, end = f"<!-- benchmark:{marker} -->", f"<!-- /benchmark:{marker} -->"
    texts = {page: page.read_text() for page in marked_pages(root) if page.exists()}
    found = {page: text for page, text in texts.items() if start in text or end in text}
    where = "README.md or docs/*.md"
    if not found:
        raise SystemExit(f"benchmark:{marker}: markers {start} ... {end} not found in {where}")
    places = sum(text.count(start) + text.count(end) for text in found.values())
    if len(found) > 1 or places > 2:
        names = ", ".join(str(page.relative_to(root)) for page in found)
        raise SystemExit(f"benchmark:{marker}: markers found in several places ({names}); "
                         f"keep exactly one {start} ... {end} pair in {where}")
    (page, text), = found.items()
    if start not in text or end not in text or text.index(end) < text.index(start):
        raise SystemExit(f"benchmark:{marker}: {page.relative_to(root)} needs {start} followed by {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    fd, tmp = tempfile.mkstemp(prefix=f".{page.name}.", dir=page.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{head}{start}\n{table}{end}{tail}")
        os.chmod(tmp, page.stat().st_mode & 0o777)
        os.replace(tmp, page)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return page


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


def run_memory(data_dir: str | None) -> dict:
    """Each notebook with the article's settings; peak memory of everything it started."""
    import papermill

    notebooks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for notebook, kernel in MEMORY_NOTEBOOKS.items():
            out = Path(tmp) / notebook
            out.mkdir()
            params = {"output_dir": str(out), **({"data_dir": data_dir} if data_dir else {})}
            print(f"{notebook} ...", flush=True)
            pss, rss = _peak_memory_while(lambda nb=notebook, k=kernel, o=out, p=params: (
                papermill.execute_notebook(str(ROOT / "notebooks" / f"{nb}.ipynb"), str(o / "run.ipynb"),
                                           parameters=p, kernel_name=k, cwd=str(ROOT / "notebooks"),
                                           execution_timeout=1800, progress_bar=False)))
            run = json.loads((out / f"{notebook}.json").read_text())
            notebooks[notebook] = {"peak_pss_mib": round(pss), "peak_rss_mib": round(rss),
                                   "torch": run["versions"]["torch"], "fastai": run["versions"]["fastai"],
                                   "valid_mse": run["valid_mse"], "fits_binder": pss < BINDER_MEMORY_MIB}
    return {"suite": "memory", "settings": "the article's (full data, 5 epochs)",
            "limit_mib": BINDER_MEMORY_MIB, "machine": machine(), "date": datetime.date.today().isoformat(),
            "notebooks": notebooks}


def memory_table(results: dict) -> str:
    lines = [f"Peak memory of each notebook's kernel and workers, the article's settings; "
             f"{results['machine']}, {results['date']}.", "",
             "| notebook | torch | peak PSS | peak RSS (shared pages counted twice) | fits Binder's 2 GB |",
             "|---|---|---|---|---|"]
    for name, m in results["notebooks"].items():
        lines.append(f"| {name} (fastai {m['fastai']}) | {m['torch']} | {m['peak_pss_mib']:,} MiB "
                     f"| {m['peak_rss_mib']:,} MiB | {'yes' if m['fits_binder'] else 'no'} |")
    return "\n".join(lines) + "\n"


ROUTES = {"default": ["make", "setup"], "cpu": ["make", "setup", "TORCH=cpu"]}


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


ROUTE_NEEDS = {
    "default": "Python 3.11, make; uses an NVIDIA GPU when there is one",
    "cpu": "Python 3.11, make; CPU only",
}


def routes_table(results: dict) -> str:
    lines = [f"Measured by `benchmarks/run.py routes --readme`: each route built from scratch in a copy "
             f"of the project, packages from a local mirror of PyPI; {results['machine']}, "
             f"{results['date']}.", "",
             "| route | command | disk (`.venv` + `.venv-fastai2`) | install time | needs |",
             "|---|---|---|---|---|"]
    for route, r in results["routes"].items():
        disk = " + ".join(f"{mib / 1024:.1f}" for mib in r["disk_mib"].values())
        minutes, seconds = divmod(r["install_seconds"], 60)
        lines.append(f"| {route} | `{r['command']}` | {r['total_disk_mib'] / 1024:.1f} GB ({disk}) "
                     f"| {minutes} min {seconds} s (load {r['load_average_5min']}) | {ROUTE_NEEDS[route]} |")
    if "cpu" in results["routes"]:
        lines.append("| conda / Binder | `conda env create -f environment.yml` / the Binder badge | conda's "
                     "Python, plus the default / CPU route's packages | not measured: conda-forge is out of "
                     "reach here | conda; Binder: a browser |")
    return "\n".join(lines) + "\n"


def record(suite: str, results: dict, to_table, out: Path, readme: bool) -> None:
    """A suite's figures: <suite>.json and its table <suite>.md in out, printed, and between the suite's
    markers (README.md or docs/*.md) if asked."""
    write_json_atomically(out / f"{suite}.json", results)
    table = to_table(results)
    (out / f"{suite}.md").write_text(table)
    print(table)
    if readme:
        put_between_markers(suite, table)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", choices=["split", "split-fast", "folds", "claimed", "memory", "routes",
                                          "ranking", "scale"])
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (split suite)")
    parser.add_argument("--data-dir", default=None,
                        help="MovieLens folder (default: $MOVIELENS_DIR, else ml-100k/)")
    parser.add_argument("--readme", action="store_true",
                        help="also write the table between its markers (README.md or docs/*.md)")
    parser.add_argument("--table-only", action="store_true",
                        help="claimed suite: render README's table from claimed.json, without output/")
    parser.add_argument("--folds", default="1,2,3,4,5", help="folds and ranking suites: e.g. 1 or 1,2")
    parser.add_argument("--methods", default=None, help="folds suite: comma-separated (default: all)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="folds suite: epochs for the neural methods (quick runs)")
    parser.add_argument("--no-tune", action="store_true",
                        help="ranking suite: use each grid's first setting instead of tuning")
    parser.add_argument("--routes", default="default,cpu", help="routes suite: which builds")
    parser.add_argument("--sizes", default=None, help="scale suite: ratings, e.g. 1000000,10000000")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.suite == "folds":
        run_folds(args)
        return
    if args.suite == "ranking":
        record("ranking", run_ranking(args), ranking_table, Path(args.out), args.readme)
        return
    if args.suite == "claimed":
        run_claimed(args.table_only, Path(args.out))
        return
    if args.suite == "memory":
        record("memory", run_memory(args.data_dir), memory_table, RESULTS, args.readme)
        return
    if args.suite == "scale":
        import scale

        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else scale.SIZES
        results = scale.run_scale(sizes)
        record("scale", results, scale.scale_table, Path(args.out), args.readme)
        scale.plot_scale(results, Path(args.out) / "scale.png")
        return
    if args.suite == "routes":
        record("routes", run_routes(args.routes.split(",")), routes_table, RESULTS, args.readme)
        return
    if args.suite == "split-fast":
        results = run_split([int(s) for s in args.seeds.split(",")], args.data_dir,
                            {name: SPLIT_METHODS[name] for name in FAST_SPLIT_ROWS})
        results["suite"] = "split-fast"
        record("split-fast", results, split_table, RESULTS, args.readme)
        return
    results = run_split([int(s) for s in args.seeds.split(",")], args.data_dir)
    record("split", results, split_table, RESULTS, args.readme)


if __name__ == "__main__":
    main()
