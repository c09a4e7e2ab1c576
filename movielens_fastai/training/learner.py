"""A fastai 2 ``Learner`` that does less per batch, for the tensor-slice loaders.

fastai's own ``Learner`` spends most of a small model's step in plumbing: a loss that wraps its
tensors, an optimizer stepped by five Python callbacks per parameter, every callback called on
every event. ``fast_collab_learner`` keeps fastai's training loop, schedules, ``lr_find``,
``Recorder`` and ``get_preds``, and makes those three pieces cheap.
"""

from __future__ import annotations

import torch
from fastai.callback.core import Callback, event
from fastai.callback.progress import ProgressCallback
from fastai.collab import EmbeddingDotBias
from fastai.learner import CastToTensor, Learner
from fastai.optimizer import Optimizer


def mse_flat(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """``MSELossFlat`` on plain tensors: fastai's ``BaseLoss`` wraps both sides in ``TensorBase``,
    whose ``__torch_function__`` then runs in Python for every operation on the loss."""
    return torch.nn.functional.mse_loss(pred.view(-1), targ.view(-1))


class ForeachAdam(Optimizer):
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


def foreach_adam(params, lr, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5, wd: float = 0.01):
    """A :class:`ForeachAdam` with fastai ``Adam``'s defaults: an ``opt_func`` for a ``Learner``."""
    return ForeachAdam(params, cbs=[], lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)


def _handles(cb, event_name: str) -> bool:
    """Whether ``cb`` does anything on ``event_name`` (fastai calls every callback on every event)."""
    if event_name in vars(cb):
        return True
    for klass in type(cb).__mro__:
        if klass is Callback:
            return False
        if event_name in vars(klass):
            return True
    return False


class LeanLearner(Learner):
    """fastai's ``Learner`` with two pieces of per-batch plumbing made cheap.

    * fastai calls every callback on every event (about 8 per batch), each call going through
      ``Callback.__call__`` and a failed attribute lookup forwarded to the learner for events the
      callback does not handle; here each event goes only to the callbacks that define it
      (worked out once per set of callbacks). ``after_fit`` still reaches all of them.
    * ``Learner.one_batch`` moves every batch to the model's device with ``to_device``; here a
      batch already there is left alone.

    Callbacks, ``fit_one_cycle``, ``lr_find``, ``Recorder`` and ``get_preds`` are fastai's own.
    """

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


def fast_collab_learner(dls, n_factors: int = 50, y_range=None, progress: bool = True,
                        lean: bool = True, **kwargs):
    """``collab_learner(dls, n_factors, y_range=...)``'s model (``EmbeddingDotBias`` built from
    ``dls.classes``) in a learner that does less per batch: a plain-tensor MSE, fastai's Adam
    stepped with foreach operations (``foreach_adam``), no ``CastToTensor`` (the loaders serve
    plain tensors), ``LeanLearner``'s dispatch when ``lean``, and no progress bar unless
    ``progress``. Other ``kwargs`` go to the ``Learner``."""
    model = EmbeddingDotBias.from_classes(n_factors, dls.classes, y_range=y_range)
    kwargs.setdefault("loss_func", mse_flat)
    kwargs.setdefault("opt_func", foreach_adam)
    learn = (LeanLearner if lean else Learner)(dls, model, **kwargs)
    learn.remove_cb(CastToTensor)
    if not progress:
        learn.remove_cb(ProgressCallback)
    return learn
