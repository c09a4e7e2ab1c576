"""The ``scale`` suite of ``benchmarks/run.py``: training cost against the number of ratings.

For each size (1M, 10M, 25M synthetic MovieLens-shaped ratings, ``movielens_fastai.data.synthetic``) it
writes the data once, then trains each configuration in its own ``.venv-fastai2`` process
(``python -m movielens_fastai.evaluation.scale train``), so each peak memory is that configuration's alone:

* fastai's ``Learner`` on the fast path, sparse gradients stepped by ``LazyAdam`` (the remedy),
* the same model, batches and schedule as a plain PyTorch loop (the peer),
* plain PyTorch with PyTorch's own ``SparseAdam`` (no weight decay),
* fastai with dense Adam over the whole tables (what the remedy replaces).

The last two run one epoch beyond 1M ratings (their cost per epoch is what is compared).
Results: ``scale.json``, ``scale.md`` and ``scale.png`` (log-log: seconds per epoch and peak memory
against ratings).
"""

from __future__ import annotations

import datetime
import json
import math
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON2 = ROOT / ".venv-fastai2" / "bin" / "python"
SIZES = (1_000_000, 10_000_000, 25_000_000)
# (engine, optimizer, epochs beyond 1M ratings: None = the recipe's 5)
CONFIGS = (
    ("fastai", "lazy", None),
    ("plain", "lazy", None),
    ("plain", "sparse_adam", 1),
    ("fastai", "dense", 1),
)
GOAL = {"ratings": 25_000_000, "epochs": 5, "seconds": 180, "peak_mib": 4096}
LABELS = {
    ("fastai", "lazy"): "fastai Learner, fast path, LazyAdam (sparse)",
    ("plain", "lazy"): "plain PyTorch, LazyAdam (sparse)",
    ("plain", "sparse_adam"): "plain PyTorch, torch.optim.SparseAdam (no weight decay)",
    ("fastai", "dense"): "fastai Learner, fast path, dense Adam",
}


def _python(args: list[str]) -> dict:
    done = subprocess.run(
        [str(PYTHON2), "-m", "movielens_fastai.evaluation.scale", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"movielens_fastai.evaluation.scale {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_scale(sizes=SIZES, configs=CONFIGS, log=print) -> dict:
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"ratings-{n}.npz"
            data[n] = _python(["generate", "--ratings", str(n), "--out", str(path)])
            log(
                f"{n:,} ratings: {data[n]['users']:,} users, {data[n]['movies']:,} movies "
                f"({data[n]['seconds']:.0f} s to make)"
            )
            for engine, optimizer, short in configs:
                # the recipe's epochs (the trainer's default) unless the configuration is cut short
                epochs = short if (short and n > SIZES[0]) else None
                args = ["train", str(path), "--engine", engine, "--optimizer", optimizer]
                if epochs is not None:
                    args += ["--epochs", str(epochs)]
                if optimizer == "sparse_adam":
                    args += ["--wd", "0"]
                row = _python(args)
                rows.append(row)
                log(
                    f"  {LABELS[engine, optimizer]}: {row['seconds_per_epoch']:.1f} s/epoch x "
                    f"{row['recipe']['epochs']}, "
                    f"MSE {row['valid_mse']:.4f}, peak {row['peak_rss_mib']:,.0f} MiB"
                )
            path.unlink()
    # the versions, device and recipe of the processes that trained (the fastai 2 environment)
    env = rows[0]["environment"]
    recipe = {**rows[0]["recipe"], "epochs": max(r["recipe"]["epochs"] for r in rows)}
    return {
        "suite": "scale",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{env['device']}, {env['platform']}",
        "versions": env["versions"],
        "recipe": recipe,
        "data": {str(n): d for n, d in data.items()},
        "rows": rows,
        "goal": goal_check(rows),
        "growth": growth(rows),
    }


def goal_check(rows: list[dict]) -> dict:
    """25M ratings x 5 epochs through fastai in <= 3 min and <= 4 GB, from the run's own row."""
    row = next(
        (
            r
            for r in rows
            if (r["engine"], r["optimizer"]) == ("fastai", "lazy")
            and r["ratings"] >= GOAL["ratings"]
            and r["recipe"]["epochs"] == GOAL["epochs"]
        ),
        None,
    )
    if row is None:
        return {"measured": False}
    return {
        "measured": True,
        "fit_seconds": row["fit_seconds"],
        "peak_rss_mib": row["peak_rss_mib"],
        "seconds_goal": GOAL["seconds"],
        "peak_mib_goal": GOAL["peak_mib"],
        "met": row["fit_seconds"] <= GOAL["seconds"] and row["peak_rss_mib"] <= GOAL["peak_mib"],
    }


def growth(rows: list[dict]) -> dict:
    """Per configuration, the log-log slope of seconds per epoch against ratings (1 = linear)."""
    slopes = {}
    for engine, optimizer in {(r["engine"], r["optimizer"]) for r in rows}:
        points = sorted(
            (r["ratings"], r["seconds_per_epoch"])
            for r in rows
            if (r["engine"], r["optimizer"]) == (engine, optimizer)
        )
        if len(points) >= 2:
            (n0, s0), (n1, s1) = points[0], points[-1]
            slopes[f"{engine}/{optimizer}"] = math.log(s1 / s0) / math.log(n1 / n0)
    return slopes


def scale_table(results: dict) -> str:
    lines = [
        f"`benchmarks/run.py scale`, {results['date']}, {results['machine']}; synthetic MovieLens-shaped "
        f"ratings (`movielens_fastai.data.synthetic`), 2% held out; recipe: {results['recipe']['n_factors']} "
        f"factors, batches of {results['recipe']['bs']:,}, `fit_one_cycle` lr {results['recipe']['lr']}, "
        f"wd {results['recipe']['wd']}.",
        "",
        "| ratings | users | movies | training | epochs | s / epoch | fit s | valid MSE (floor) | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['ratings']:,} | {r['users']:,} | {r['movies']:,} | "
            f"{LABELS[r['engine'], r['optimizer']]} | {r['recipe']['epochs']} | "
            f"{r['seconds_per_epoch']:.1f} | {r['fit_seconds']:.0f} | "
            f"{r['valid_mse']:.4f} ({r['noise_floor_mse']:.3f}) | {r['peak_rss_mib']:,.0f} |"
        )
    goal = results["goal"]
    if goal.get("measured"):
        verdict = "met" if goal["met"] else "not met"
        lines += [
            "",
            f"Goal, 25M ratings x 5 epochs through fastai in <= {goal['seconds_goal']} s and "
            f"<= {goal['peak_mib_goal']:,} MiB: {goal['fit_seconds']:.0f} s, "
            f"{goal['peak_rss_mib']:,.0f} MiB peak, **{verdict}**.",
        ]
    if results["growth"]:
        lines += [
            "",
            "Growth of seconds per epoch, log-log slope from the smallest to the largest size "
            "(1 = linear): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(results["growth"].items())) + ".",
        ]
    return "\n".join(lines) + "\n"


def plot_scale(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cost, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in LABELS.items():
        points = sorted(
            (r["ratings"], r["seconds_per_epoch"], r["peak_rss_mib"])
            for r in results["rows"]
            if (r["engine"], r["optimizer"]) == key
        )
        if not points:
            continue
        n, seconds, peak = zip(*points, strict=True)
        cost.plot(n, seconds, "o-", label=label)
        memory.plot(n, peak, "o-", label=label)
    first = min(r["ratings"] for r in results["rows"])
    ref = [
        r
        for r in results["rows"]
        if (r["engine"], r["optimizer"]) == ("fastai", "lazy") and r["ratings"] == first
    ]
    if ref:  # a line through the first fastai point with slope 1: linear growth
        xs = [first, max(r["ratings"] for r in results["rows"])]
        cost.plot(xs, [ref[0]["seconds_per_epoch"] * x / first for x in xs], "k:", label="linear in ratings")
    cost.axhline(GOAL["seconds"] / GOAL["epochs"], color="grey", lw=0.8, ls="--")
    cost.annotate(
        "goal at 25M: 36 s / epoch",
        (first, GOAL["seconds"] / GOAL["epochs"]),
        fontsize=8,
        xytext=(0, 3),
        textcoords="offset points",
    )
    memory.axhline(GOAL["peak_mib"], color="grey", lw=0.8, ls="--")
    for ax, ylabel in ((cost, "seconds per epoch"), (memory, "peak memory of the process (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ratings")
        ax.set_ylabel(ylabel)
    cost.legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Training cost against ratings ({results['date'][:10]}, {results['machine'].split(',')[0]})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
