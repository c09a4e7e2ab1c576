"""What the new-user measurement (``evaluation.new_users``) reports: the goals of issue #17, each met
or its distance, and the markdown table (benchmarks/results/new_users.md, docs/serving.md)."""

from __future__ import annotations

#: Issue #17's goals for a new user.
GOALS = {"min_ratio": 1.0, "ratio_at_5": 1.3, "rmse_from_k": 5, "retrain_gap_at_20": 0.02, "model_ms": 10.0}
ORDER_NAMES = {"random": "k ratings drawn at random", "time": "the first k ratings by time"}


def goals(results: dict) -> dict[str, list[dict]]:
    """Per order: each goal, whether it is met, and what was measured against it."""
    report = {}
    for order, rows in results["results"].items():
        by_k = {row["k"]: row for row in rows}
        ratios = {k: row["ndcg_ratio"] for k, row in by_k.items()}
        worst_k = min(ratios, key=ratios.get)
        from_k = [k for k in by_k if k >= GOALS["rmse_from_k"]]
        margins = {k: by_k[k]["folded_in"] - by_k[k]["movie_bias"] for k in from_k}
        worst_margin_k = max(margins, key=margins.get) if margins else None
        items = [
            {"goal": "lists at least as good as most popular at every k",
             "met": ratios[worst_k] >= GOALS["min_ratio"],
             "measured": f"lowest NDCG@10 ratio {ratios[worst_k]:.2f}x (k = {worst_k})",
             "distance": f"{GOALS['min_ratio'] - ratios[worst_k]:.2f}x short"},
        ]
        if 5 in ratios:
            items.append({"goal": ">= 1.3x most popular's NDCG@10 at k = 5",
                          "met": ratios[5] >= GOALS["ratio_at_5"], "measured": f"{ratios[5]:.2f}x",
                          "distance": f"{GOALS['ratio_at_5'] - ratios[5]:.2f}x short"})
        if worst_margin_k is not None:
            items.append({"goal": "folded-in RMSE below the movie-bias baseline from k = 5",
                          "met": margins[worst_margin_k] < 0,
                          "measured": f"folded-in minus movie bias at worst {margins[worst_margin_k]:+.4f} "
                                      f"(k = {worst_margin_k})",
                          "distance": f"{margins[worst_margin_k]:.4f} above"})
        if 20 in by_k and "retrained" in by_k[20]:
            gap = by_k[20]["folded_in"] - by_k[20]["retrained"]
            items.append({"goal": "folded-in RMSE within 0.02 of retraining at k = 20",
                          "met": gap <= GOALS["retrain_gap_at_20"],
                          "measured": f"folded-in minus retrained {gap:+.4f}",
                          "distance": f"{gap - GOALS['retrain_gap_at_20']:.4f} beyond"})
        slowest = max(row["model_ms_p95"] for row in rows)
        items.append({"goal": "<= 10 ms of model time per new user (fold-in + top-10, p95)",
                      "met": slowest <= GOALS["model_ms"], "measured": f"p95 at most {slowest:.2f} ms",
                      "distance": f"{slowest - GOALS['model_ms']:.2f} ms over"})
        report[order] = items
    return report


def _cell(row: dict, key: str, digits: int = 4) -> str:
    return f"{row[key]:.{digits}f}" if key in row else ""


def markdown(results: dict) -> str:
    """The table per order, the goals, and where the numbers came from."""
    env, chosen, users = results["environment"], results["chosen"], results["users"]
    settings = (f"fold-in penalty {chosen['fold_in_penalty']:g}, co-occurrence weight "
                f"{chosen['cond_weight']:g}, popularity prior {chosen['popularity_prior']:g}")
    where = f"{env['device']}, {env['platform']}, {env['date'][:10]}"
    lines = [
        f"New users on MovieLens 100K: {users['held_out']} held-out users (seed {results['seed']}), settings "
        f"chosen on {users['validation']} other users ({results['orders'][0]} order): {settings}; "
        f"{where}.",
        "",
    ]
    goal_report = goals(results)
    for order, rows in results["results"].items():
        lines += [f"**{ORDER_NAMES.get(order, order)}**" + (" (settings chosen this way)"
                                                             if order == results["orders"][0] else ""), "",
                  "| k | RMSE global mean | movie bias | user + movie bias | folded-in | retrained "
                  "| NDCG@10 most popular | new-user lists | ratio (90% interval) | ms p50 | ms p95 |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            low, high = row["ndcg_ratio_90"]
            lines.append(
                f"| {row['k']} | {_cell(row, 'global_mean')} | {_cell(row, 'movie_bias')} | "
                f"{_cell(row, 'user_and_movie_bias')} | {_cell(row, 'folded_in')} | "
                f"{_cell(row, 'retrained')} | "
                f"{row['ndcg_most_popular']:.3f} | {row['ndcg_ours']:.3f} | {row['ndcg_ratio']:.2f}x "
                f"({low:.2f}-{high:.2f}) | {row['model_ms_p50']:.2f} | {row['model_ms_p95']:.2f} |")
        lines += [""]
        for item in goal_report[order]:
            verdict = "met" if item["met"] else f"NOT met ({item['distance']})"
            lines.append(f"- {verdict}: {item['goal']} ({item['measured']})")
        lines.append("")
    facts = results.get("time_order")
    if facts:
        within = facts["share_within_an_hour_of_first"]
        later = facts["share_of_users_later_is_less_popular"]
        lines.append(f"By time, a user's ratings follow MovieLens's sign-up pages: {within:.0%} of all "
                     f"ratings come within an hour of the user's first, and for {later:.0%} of the "
                     f"{facts['users']} users with {facts['min_ratings']} or more ratings the later a "
                     "rating, the less popular the movie (rank correlation below 0).")
        lines.append("")
    api = results.get("api_ms")
    if api:
        lines.append("Through the app's API (`bundle.new_user(ratings).recommend(10)`: input checks, "
                     f"fold-in, top-10 and its table): p50 {api['p50']:.2f} ms, p95 {api['p95']:.2f} ms "
                     "per new user.")
        lines.append("")
    return "\n".join(lines)
