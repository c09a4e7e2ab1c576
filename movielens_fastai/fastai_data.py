"""fastai 2 ``DataLoaders`` for collaborative filtering that serve batches as tensor slices.

fastai's own tabular loader builds every batch row by row: it indexes a ``TabularPandas``
with the batch's positions, turns the rows into tensors and collates them. For two integer
columns and a rating that costs more than the model's step. Here the ratings are numbered
once, kept in two tensors, and each epoch costs one permutation: the training loader
reorders the tensors with ``torch.randperm`` and then yields contiguous slices, so every
training rating is seen exactly once per epoch (as fastai v1 and the port do).

The numbering is the one ``Categorify`` gives inside ``CollabDataLoaders``/``TabularCollab``:
ids seen in **training** in sorted order from 1, ``#na#`` at 0, and any id training never
saw (a validation user or movie) mapped to 0. ``collab_learner`` builds the same
``EmbeddingDotBias`` from ``dls.classes``, so ``learn.model.bias``/``weight`` take raw ids,
and ``show_batch``, ``lr_find``, ``fit_one_cycle`` and ``get_preds`` work as in the port.

Only fastai 2 imports this module (the ``movielens-fastai2`` kernel).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.data.transforms import CategoryMap
from fastai.torch_core import default_device, display_df

from .data import MOVIE, RATING, USER

#: The validation loader's default batch size: the model's forward pass on a few thousand
#: ratings costs about as much as on 64, so validation takes few steps.
VALID_BS = 8192


def vocabularies(train: pd.DataFrame, cat_names=(USER, MOVIE)) -> dict[str, CategoryMap]:
    """``Categorify``'s classes: per column, ``#na#`` then the training ids, sorted."""
    return {name: CategoryMap(train[name], add_na=True) for name in cat_names}


def encode(frame: pd.DataFrame, classes: dict[str, CategoryMap]) -> torch.Tensor:
    """``(n, len(classes))`` int64 row numbers; ids missing from a vocabulary become 0 (``#na#``)."""
    columns = [pd.Categorical(frame[name], categories=list(vocab.items[1:])).codes.astype("int64") + 1
               for name, vocab in classes.items()]
    return torch.from_numpy(np.stack(columns, axis=1)) if columns else torch.empty(len(frame), 0)


class TensorSliceDL(DataLoader):
    """A fastai ``DataLoader`` over tensors already in memory: batch ``i`` is rows
    ``i*bs:(i+1)*bs`` of ``x`` and ``y``, after one ``torch.randperm`` per epoch when
    ``shuffle`` (drawn from its own generator, seeded from torch's global one when built).

    ``items`` is the frame the rows came from, in the order they are served unshuffled.
    """

    n_inp = 1

    def __init__(self, x: torch.Tensor, y: torch.Tensor, bs: int = 64, shuffle: bool = False,
                 drop_last: bool = False, device=None, classes=None, cat_names=(), y_names=(),
                 items: pd.DataFrame | None = None, seed: int | None = None):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        if not (isinstance(bs, int) and bs >= 1):
            raise ValueError(f"bs must be a positive integer, got {bs!r}")
        if device is None:
            device = default_device()
        super().__init__(dataset=None, bs=bs, n=len(y), shuffle=shuffle, drop_last=drop_last,
                         indexed=True, device=device)
        self.x, self.y = x, y
        self.classes, self.cat_names, self.y_names = classes, list(cat_names), list(y_names)
        self.items = items
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()))
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self._on_device = None   # (device, x, y) moved once, not per batch

    def _tensors(self):
        device = self.device if self.device is not None else self.x.device
        if self._on_device is None or self._on_device[0] != device:
            self._on_device = (device, self.x.to(device), self.y.to(device))
        return self._on_device[1:]

    def __iter__(self):
        x, y = self._tensors()
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator).to(x.device)
            x, y = x[order], y[order]
        bs = self.bs
        for start in range(0, len(self) * bs, bs):
            yield x[start:start + bs], y[start:start + bs]

    def get_idxs(self):
        """The dataset positions in the order served (``get_preds`` reorders by them)."""
        if self.shuffle:
            raise ValueError("a shuffled TensorSliceDL has no fixed order; use .new(shuffle=False)")
        return list(range(self.n))

    def new(self, dataset=None, cls=None, **kwargs):
        """A copy with other ``bs``, ``shuffle``, ``drop_last`` or ``device``; fastai's
        ``get_preds`` also passes ``get_idxs``, which an unshuffled copy already follows."""
        if dataset is not None or cls is not None:
            raise TypeError("TensorSliceDL.new takes no dataset or cls: its data are its tensors")
        kwargs.pop("get_idxs", None)
        settings = dict(bs=self.bs, shuffle=self.shuffle, drop_last=self.drop_last, device=self.device,
                        classes=self.classes, cat_names=self.cat_names, y_names=self.y_names,
                        items=self.items, seed=self.seed)
        unknown = set(kwargs) - set(settings)
        if unknown:
            raise TypeError(f"TensorSliceDL.new got unexpected arguments: {', '.join(sorted(unknown))}")
        return type(self)(self.x, self.y, **{**settings, **kwargs})

    def one_batch(self):
        if len(self) == 0:
            raise ValueError("This DataLoader does not contain any batches")
        return next(iter(self))

    def decode(self, b) -> pd.DataFrame:
        """A batch back as a frame of raw ids and ratings (``#na#`` for row 0)."""
        x, y = (t.detach().cpu() for t in b)
        frame = {name: np.asarray(self.classes[name].items, dtype=object)[x[:, i].numpy()]
                 for i, name in enumerate(self.cat_names)}
        for i, name in enumerate(self.y_names):
            frame[name] = y[:, i].numpy()
        return pd.DataFrame(frame)

    def show_batch(self, b=None, max_n: int = 10, show: bool = True, **kwargs):
        """Like fastai's tabular ``show_batch``: the first ``max_n`` rows, decoded."""
        x, y = self.one_batch() if b is None else b
        frame = self.decode((x[:max_n], y[:max_n]))
        if show:
            display_df(frame)
        else:
            return frame


def collab_dataloaders(ratings: pd.DataFrame, valid_idx, user_name: str = USER, item_name: str = MOVIE,
                       rating_name: str = RATING, bs: int = 64, val_bs: int | None = None,
                       device=None, seed: int | None = None, path=".") -> DataLoaders:
    """Training and validation loaders over ``ratings`` split at ``valid_idx`` (row positions).

    The training loader shuffles and drops the last incomplete batch, as fastai's does;
    the validation loader serves its rows in their order in ``ratings`` (``TabularCollab`` serves
    them in the order of ``valid_idx``; the MSE is the same), in batches of
    ``val_bs`` (default ``max(bs, VALID_BS)``). ``seed`` fixes the shuffling; by default
    it is drawn from torch's global generator (so ``set_seed`` first makes runs repeat).
    """
    valid_idx = np.asarray(valid_idx, dtype="int64")
    if len(ratings) == 0:
        raise ValueError("ratings is empty")
    if len(valid_idx) and (valid_idx.min() < 0 or valid_idx.max() >= len(ratings)):
        raise ValueError(f"valid_idx must be row positions in 0..{len(ratings) - 1}")
    is_valid = np.zeros(len(ratings), dtype=bool)
    is_valid[valid_idx] = True
    train, valid = ratings[~is_valid], ratings[is_valid]
    if len(train) < bs:
        raise ValueError(f"{len(train)} training ratings are fewer than one batch of {bs}")
    cat_names = [user_name, item_name]
    classes = vocabularies(train, cat_names)
    device = default_device() if device is None else device
    if seed is None:
        seed = int(torch.randint(0, 2**62, ()))

    def loader(frame, **kwargs):
        y = torch.from_numpy(frame[rating_name].to_numpy("float32").reshape(-1, 1))
        return TensorSliceDL(encode(frame, classes), y, device=device, classes=classes, cat_names=cat_names,
                             y_names=[rating_name], items=frame, seed=seed, **kwargs)

    return DataLoaders(loader(train, bs=bs, shuffle=True, drop_last=True),
                       loader(valid, bs=val_bs or max(bs, VALID_BS)),
                       path=path, device=device)


# ---------------------------------------------------------------------------------------------
# Less per-batch work inside fastai's own Learner


def mse_flat(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """``MSELossFlat`` on plain tensors: fastai's ``BaseLoss`` wraps both sides in ``TensorBase``,
    whose ``__torch_function__`` then runs in Python for every operation on the loss."""
    return torch.nn.functional.mse_loss(pred.view(-1), targ.view(-1))


def foreach_adam(params, lr, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5, wd: float = 0.01):
    """fastai's ``Adam`` (decoupled weight decay, the same hyper-parameters, defaults and state),
    stepped for all parameters at once with ``torch._foreach_*`` operations.

    fastai's own ``Adam`` runs five Python callbacks per parameter per step (weight decay, the
    two moving averages, the step count, the update), each merging dictionaries of state and
    hyper-parameters; PyTorch's AdamW behind ``OptimWrapper`` is quick to step, but the wrapper
    rebuilds its hyper-parameter list every time the one-cycle scheduler reads or sets it.
    This is a fastai ``Optimizer`` (so ``fit_one_cycle``'s schedule, ``lr_find`` and ``Recorder``
    see the usual ``hypers``) whose ``step`` is about ten tensor operations, whatever the
    number of parameters.
    """
    from fastai.optimizer import Optimizer

    class ForeachAdam(Optimizer):
        @torch.no_grad()
        def step(self, closure=None):
            if closure is not None:
                raise NotImplementedError("fastai optimizers do not support closure")
            for group, hyper in zip(self.param_lists, self.hypers, strict=False):
                ps = [p for p in group if p.grad is not None]
                if not ps:
                    continue
                states = [self.state[p] for p in ps]
                for p, state in zip(ps, states, strict=False):
                    if "grad_avg" not in state:
                        state.update(grad_avg=torch.zeros_like(p), sqr_avg=torch.zeros_like(p), step=0)
                    state["step"] += 1
                lr, mom, sqr_mom = hyper["lr"], hyper["mom"], hyper["sqr_mom"]
                grads = [p.grad for p in ps]
                avgs, sqrs = [s["grad_avg"] for s in states], [s["sqr_avg"] for s in states]
                decayed = [p for p, s in zip(ps, states, strict=False) if s.get("do_wd", True)]
                if hyper["wd"] and decayed:
                    torch._foreach_mul_(decayed, 1 - lr * hyper["wd"])
                torch._foreach_lerp_(avgs, grads, 1 - mom)                 # mom*avg + (1-mom)*grad
                torch._foreach_mul_(sqrs, sqr_mom)
                torch._foreach_addcmul_(sqrs, grads, grads, value=1 - sqr_mom)
                denom = torch._foreach_div(sqrs, [1 - sqr_mom ** s["step"] for s in states])
                torch._foreach_sqrt_(denom)
                torch._foreach_add_(denom, hyper["eps"])
                torch._foreach_addcdiv_(ps, avgs, denom, [-lr / (1 - mom ** s["step"]) for s in states])

        def zero_grad(self):
            for group in self.param_lists:
                for p in group:
                    p.grad = None

    return ForeachAdam(params, cbs=[], lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)


def _handles(cb, event_name: str) -> bool:
    """Whether ``cb`` does anything on ``event_name`` (fastai calls every callback on every event)."""
    from fastai.callback.core import Callback

    if event_name in vars(cb):
        return True
    for klass in type(cb).__mro__:
        if klass is Callback:
            return False
        if event_name in vars(klass):
            return True
    return False


def lean_learner_class():
    """``LeanLearner``: fastai's ``Learner`` with two pieces of per-batch plumbing made cheap.

    * fastai calls every callback on every event (about 8 per batch), each call going through
      ``Callback.__call__`` and a failed attribute lookup forwarded to the learner for events the
      callback does not handle; here each event goes only to the callbacks that define it
      (worked out once per set of callbacks). ``after_fit`` still reaches all of them.
    * ``Learner.one_batch`` moves every batch to the model's device with ``to_device``; here a
      batch already there is left alone.

    Callbacks, ``fit_one_cycle``, ``lr_find``, ``Recorder`` and ``get_preds`` are fastai's own.
    """
    from fastai.learner import Learner

    class LeanLearner(Learner):
        def __call__(self, event_name):
            if isinstance(event_name, str):
                self._call_one(event_name)
            else:
                for name in event_name:
                    self._call_one(name)

        def _call_one(self, event_name):
            cache = self.__dict__.setdefault("_handlers", {})
            key = (event_name, *map(id, self.cbs))
            handlers = cache.get(key)
            if handlers is None:
                from fastai.callback.core import event

                if not hasattr(event, event_name):
                    raise Exception(f"missing {event_name}")
                handlers = cache[key] = [cb for cb in self.cbs.sorted("order")
                                         if event_name == "after_fit" or _handles(cb, event_name)]
            for cb in handlers:
                cb(event_name)

        def _set_device(self, b):
            device = next(self.model.parameters()).device
            if all(isinstance(t, torch.Tensor) and t.device == device for t in b):
                return b
            return super()._set_device(b)

    return LeanLearner


def fast_collab_learner(dls, n_factors: int = 50, y_range=None, progress: bool = True,
                        lean: bool = True, **kwargs):
    """``collab_learner(dls, n_factors, y_range=...)``'s model (``EmbeddingDotBias`` built from
    ``dls.classes``) in a learner that does less per batch: a plain-tensor MSE, fastai's Adam
    stepped with foreach operations (``foreach_adam``), no ``CastToTensor`` (the loaders serve
    plain tensors), ``LeanLearner``'s dispatch when ``lean``, and no progress bar unless
    ``progress``. Other ``kwargs`` go to the ``Learner``."""
    from fastai.callback.progress import ProgressCallback
    from fastai.collab import EmbeddingDotBias
    from fastai.learner import CastToTensor, Learner

    model = EmbeddingDotBias.from_classes(n_factors, dls.classes, y_range=y_range)
    kwargs.setdefault("loss_func", mse_flat)
    kwargs.setdefault("opt_func", foreach_adam)
    learn = (lean_learner_class() if lean else Learner)(dls, model, **kwargs)
    learn.remove_cb(CastToTensor)
    if not progress:
        learn.remove_cb(ProgressCallback)
    return learn
