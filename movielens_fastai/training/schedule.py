"""The one-cycle schedule, for training loops written without fastai (torch and numpy only)."""

from __future__ import annotations

import numpy as np

#: fastai v1's ``fit_one_cycle``: 30% warm-up from lr/25, down to lr/25e4, momentum 0.95 -> 0.85 -> 0.95.
FASTAI1_ONE_CYCLE = {"pct_start": 0.3, "div": 25.0, "final_div": 25e4, "moms": (0.95, 0.85)}
#: fastai 2's ``fit_one_cycle``: 25% warm-up from lr/25, down to lr/1e5, the same momentum.
FASTAI2_ONE_CYCLE = {"pct_start": 0.25, "div": 25.0, "final_div": 1e5, "moms": (0.95, 0.85)}


def one_cycle(step: int, total: int, lr_max: float, pct_start: float = 0.3, div: float = 25.0,
              final_div: float = 25e4, moms=(0.95, 0.85)) -> tuple[float, float]:
    """(learning rate, momentum) at batch ``step`` of ``total``: cosine from ``lr_max / div`` up to
    ``lr_max`` over the first ``pct_start`` of the batches, then down to ``lr_max / final_div``;
    momentum the other way round. The defaults are fastai v1's."""
    a1 = int(total * pct_start)
    a2 = total - a1

    def cos(start, end, pct):
        return end + (start - end) / 2 * (np.cos(np.pi * pct) + 1)

    if step < a1:
        pct = step / a1
        return cos(lr_max / div, lr_max, pct), cos(moms[0], moms[1], pct)
    pct = (step - a1) / a2
    return cos(lr_max, lr_max / final_div, pct), cos(moms[1], moms[0], pct)
