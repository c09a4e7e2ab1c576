"""The project's one tensor-slice loader: fastai 2 ``DataLoaders`` that serve batches as slices
of tensors already in memory. It feeds the fast path (``collab_dataloaders``), the fastai-trained
rankers and the factorization machine (``tensor_dataloaders``).

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

It imports fastai 2 at the top: only the fastai 2 environment imports it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.data.transforms import CategoryMap
from fastai.torch_core import default_device, display_df

from ..core import MOVIE, RATING, USER

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
    ``batch_fn(positions) -> batch``, when given, makes each batch from the positions it covers
    (in the permuted order) instead of slicing ``x`` and ``y``: a batch that draws something new
    every time, such as BPR's negative movies.
    """

    n_inp = 1

    def __init__(self, x: torch.Tensor, y: torch.Tensor, bs: int = 64, shuffle: bool = False,
                 drop_last: bool = False, device=None, classes=None, cat_names=(), y_names=(),
                 items: pd.DataFrame | None = None, seed: int | None = None, batch_fn=None):
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
        self.batch_fn = batch_fn
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
        bs = self.bs
        if self.batch_fn is not None:
            order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
            for start in range(0, len(self) * bs, bs):
                yield self.batch_fn(order[start:start + bs])
            return
        x, y = self._tensors()
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator).to(x.device)
            x, y = x[order], y[order]
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
        settings = self.settings()
        unknown = set(kwargs) - set(settings)
        if unknown:
            raise TypeError(f"TensorSliceDL.new got unexpected arguments: {', '.join(sorted(unknown))}")
        return type(self)(self.x, self.y, **{**settings, **kwargs})

    def settings(self) -> dict:
        """What ``new`` copies: every constructor argument but the tensors."""
        return dict(bs=self.bs, shuffle=self.shuffle, drop_last=self.drop_last, device=self.device,
                    classes=self.classes, cat_names=self.cat_names, y_names=self.y_names,
                    items=self.items, seed=self.seed, batch_fn=self.batch_fn)

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


def tensor_dataloaders(x: torch.Tensor, y: torch.Tensor, bs: int, seed: int, x_valid=None, y_valid=None,
                       batch_fn=None, drop_last: bool = True) -> DataLoaders:
    """fastai ``DataLoaders`` over model inputs ``x`` and targets ``y`` already encoded as tensors
    (or arrays): the training loader shuffles once per epoch from ``seed``; the validation loader
    serves ``x_valid``/``y_valid`` in order, or the first ``bs`` training rows when there are none
    (a model judged by something else than this loss still needs one). ``batch_fn``: see
    :class:`TensorSliceDL`."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    first = x_valid is None
    if first:
        x_valid, y_valid = x[:bs], y[:bs]
    train = TensorSliceDL(x, y, bs=bs, shuffle=True, drop_last=drop_last, device="cpu", seed=seed,
                          batch_fn=batch_fn)
    # with no validation data the first batch stands in, made as training batches are (positions
    # 0..bs-1 of x are its own positions 0..bs-1)
    valid = TensorSliceDL(torch.as_tensor(x_valid), torch.as_tensor(y_valid), bs=bs, device="cpu", seed=seed,
                          batch_fn=batch_fn if first else None)
    return DataLoaders(train, valid, device="cpu")


@torch.no_grad()
def loader_mse(model: torch.nn.Module, dl) -> float:
    """``model``'s mean squared error over every batch of ``dl`` (the model itself, not fastai's
    ``get_preds``, which gathers across processes when training is distributed)."""
    model.eval()
    total, n = 0.0, 0
    for xb, yb in dl:
        total += float(((model(xb).view(-1) - yb.view(-1)) ** 2).sum())
        n += len(yb)
    return total / n
