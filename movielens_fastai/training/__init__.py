"""How the project trains with fastai 2: the one tensor-slice loader (``loaders``), a learner that
does less per batch (``learner``), sparse-row Adam (``sparse``), the one-cycle schedule for plain
loops (``schedule``) and data-parallel training (``distributed``).

``loaders``, ``learner`` and ``distributed`` import fastai 2 at the top and run in the fastai 2
environment (``.venv-fastai2``) only; ``schedule`` and ``sparse`` need torch alone.
"""
