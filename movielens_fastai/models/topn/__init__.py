"""Rankers for top-N lists, one module per family (see ``base``). Where a new ranker goes: a
subclass of ``base.Ranker`` in a module of its own here. ``fastai_rankers`` and ``ials`` need the
fastai 2 environment (fastai, ``implicit``); the others need numpy and scipy alone."""
