"""What a benchmark run on the canonical folds reports: the summary per method, its markdown
table, the RMSE-against-time plot and the result files (folds.json, folds.md, rmse_vs_time.png)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

# Surprise's own benchmark table for ML-100K (random 5-fold cross-validation, so comparable
# in protocol but not in folds); the notebook lists the other published numbers, with sources.
PUBLISHED = {
    "surprise_svdpp": (0.919, "Surprise's table, random 5-fold CV"),
    "surprise_svd": (0.934, "Surprise's table, random 5-fold CV"),
    "surprise_baselineonly": (0.944, "Surprise's table, random 5-fold CV"),
    "myfm_vanilla": (0.8944, "myFM's docs, u3 only"),
    "myfm_extended": (0.8833, "myFM's docs, u1 only"),
    "myfm_probit": (0.8808, "myFM's docs, u1 only"),
}



def summarise(rows: list[dict]) -> pd.DataFrame:
    """Per method: mean RMSE/MAE/fit seconds over its folds, RMSE per fold, published number."""
    df = pd.DataFrame(rows)
    order = list(dict.fromkeys(df["method"]))
    summary = df.groupby("method", sort=False).agg(
        folds=("fold", "count"), rmse=("rmse", "mean"), mae=("mae", "mean"),
        fit_seconds=("fit_seconds", "mean")).reindex(order)
    per_fold = df.pivot(index="method", columns="fold", values="rmse").reindex(order)
    for fold in per_fold.columns:
        summary[f"rmse_u{fold}"] = per_fold[fold]
    summary["published_rmse"] = [PUBLISHED.get(m, (None, ""))[0] for m in order]
    summary["published_source"] = [PUBLISHED.get(m, (None, ""))[1] for m in order]
    return summary.reset_index()


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def markdown_table(summary: pd.DataFrame) -> str:
    lines = ["| method | folds | mean RMSE | mean MAE | mean fit s | RMSE u1 | published RMSE |",
             "|---|---|---|---|---|---|---|"]
    for row in summary.itertuples(index=False):
        u1 = f"{row.rmse_u1:.4f}" if "rmse_u1" in summary and pd.notna(row.rmse_u1) else ""
        published = (f"{row.published_rmse:.4f} ({row.published_source})"
                     if pd.notna(row.published_rmse) else "")
        lines.append(f"| {row.method} | {row.folds} | {row.rmse:.4f} | {row.mae:.4f} | "
                     f"{row.fit_seconds:.1f} | {u1} | {published} |")
    return "\n".join(lines) + "\n"


def plot_rmse_vs_time(summary: pd.DataFrame, path=None):
    """Mean RMSE against mean fit time (log axis), one labelled point per method."""
    import matplotlib

    if path is not None and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(summary["fit_seconds"], summary["rmse"])
    for row in summary.itertuples(index=False):
        ax.annotate(row.method, (row.fit_seconds, row.rmse), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("mean fit + predict time per fold, seconds (log scale)")
    ax.set_ylabel("mean test RMSE, ratings clipped to [1, 5]")
    ax.set_title("MovieLens 100K, canonical folds " + ", ".join(f"u{f}" for f in sorted(
        summary.attrs.get("folds", []))) if summary.attrs.get("folds") else "MovieLens 100K, canonical folds")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def write_results(rows: list[dict], out_dir, seed: int, epochs: int | None, total_seconds: float) -> dict:
    """folds.json, folds.md and rmse_vs_time.png in ``out_dir``; returns the JSON record."""
    from .run import write_json_atomically

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    summary.attrs["folds"] = sorted({r["fold"] for r in rows})
    record = {
        "protocol": "train on u{k}.base, predict u{k}.test, predictions clipped to [1, 5]",
        "seed": seed, "epochs": epochs, "folds": summary.attrs["folds"],
        "machine": machine(), "total_seconds": total_seconds,
        "summary": json.loads(summary.to_json(orient="records")), "per_fold": rows,
    }
    write_json_atomically(out_dir / "folds.json", record)
    (out_dir / "folds.md").write_text(
        f"Mean over folds {', '.join(f'u{f}' for f in record['folds'])} (train on .base, test on .test; "
        f"predictions clipped to [1, 5]); seed {seed}; {record['machine']['cpu_count']} CPUs, "
        f"{record['machine']['platform']}, {record['machine']['date']}.\n\n" + markdown_table(summary))
    fig = plot_rmse_vs_time(summary, out_dir / "rmse_vs_time.png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return record
