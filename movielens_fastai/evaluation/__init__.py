"""The protocols that score models: metrics (``metrics``), the canonical u1-u5 folds (``folds``),
top-N lists (``topn``), training cost as the data grows (``scale``), the harness the notebooks use
to time and profile training (``timing``), and the one bridge that runs a rating method in the
environment it needs (``bridge``). Nothing here imports a report (``reporting``)."""
