"""What a benchmark run on the canonical folds reports: the summary per method, its markdown
table, the RMSE-against-time plot and the result files (folds.json, folds.md, rmse_vs_time.png)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import machine, write_json_atomically

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


# Where a label may go, relative to its point, in points: beside it first, then further up
# or down (with a thin line back to the point) until it overlaps nothing.
LABEL_OFFSETS = [(6, 3), (6, -10), (-6, 3), (-6, -10)] + [
    (dx, dy) for step in range(1, 8) for dy in (3 + 11 * step, -10 - 11 * step) for dx in (6, -6)]


def _overlaps(box, boxes) -> bool:
    return any(box.overlaps(other) for other in boxes)


def _place_labels(ax, xs, ys, names, fontsize=8) -> None:
    """Annotate each point with its name at the first place in ``LABEL_OFFSETS`` where the label
    stays inside the axes, overlaps no other label and keeps clear of every other point (so it
    cannot be read as that point's label). Points drawn on top of each other share a place."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    px_per_pt = fig.dpi / 72
    points = ax.transData.transform(np.column_stack([xs, ys]))

    def around(i, pts):
        r = pts * px_per_pt
        return Bbox.from_extents(points[i, 0] - r, points[i, 1] - r, points[i, 0] + r, points[i, 1] + r)

    labels = []
    # Crowded points first (most neighbours nearby), so they get the places next to them.
    order = sorted(range(len(names)), key=lambda i: -np.sum(np.hypot(*(points - points[i]).T) < 60))
    for i in order:
        same = np.hypot(*(points - points[i]).T) < 3 * px_per_pt
        clear_of = [around(j, 12) for j in range(len(names)) if not same[j]] + [around(i, 4)]
        for dx, dy in LABEL_OFFSETS:
            ann = ax.annotate(names[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                              ha="left" if dx > 0 else "right", va="bottom", fontsize=fontsize,
                              arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6,
                                          "shrinkA": 0, "shrinkB": 3})
            ann.update_positions(renderer)   # otherwise done only when drawn
            box = Text.get_window_extent(ann, renderer)
            fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                    and box.y1 <= inside.y1)
            if fits and not _overlaps(box, clear_of) and not _overlaps(box.padded(2), labels):
                labels.append(box)
                break
            ann.remove()
        else:   # nowhere free: the first place, so the label is at least shown
            dx, dy = LABEL_OFFSETS[0]
            ax.annotate(names[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                        fontsize=fontsize)


def plot_rmse_vs_time(summary: pd.DataFrame, path=None):
    """Mean RMSE against mean fit time (log axis), one labelled point per method; labels are
    placed so that none overlaps another or a point (see ``_place_labels``)."""
    import matplotlib

    if path is not None and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs, ys = summary["fit_seconds"].to_numpy(float), summary["rmse"].to_numpy(float)
    ax.scatter(xs, ys, zorder=3)
    ax.set_xscale("log")
    # Room around the points for their labels.
    ax.set_xlim(xs.min() / 3, xs.max() * 12)
    span = ys.max() - ys.min()
    ax.set_ylim(ys.min() - 0.08 * span, ys.max() + 0.06 * span)
    ax.set_xlabel("mean fit + predict time per fold, seconds (log scale)")
    ax.set_ylabel("mean test RMSE, ratings clipped to [1, 5]")
    ax.set_title("MovieLens 100K, canonical folds " + ", ".join(f"u{f}" for f in sorted(
        summary.attrs.get("folds", []))) if summary.attrs.get("folds") else "MovieLens 100K, canonical folds")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _place_labels(ax, xs, ys, list(summary["method"]))
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def write_results(rows: list[dict], out_dir, seed: int, epochs: int | None, total_seconds: float) -> dict:
    """folds.json, folds.md and rmse_vs_time.png in ``out_dir``; returns the JSON record."""
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
