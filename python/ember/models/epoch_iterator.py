"""The epoch loop's plumbing, as Keras 3's ``EpochIterator``: which adapter serves the data,
how many steps an epoch has, and the callbacks and progress bar around the steps."""
from __future__ import annotations

import time
import warnings
from typing import Optional

from .. import backend
from .. import callbacks as cbks
from . import data as D
from . import data_adapters as A
from .device_feed import DeviceFeeder, prefetched


def verbosity(verbose) -> int:
    return 1 if verbose == "auto" else int(verbose)


def _regroup(items, given, model):
    """Per-output arrays (``_targets`` / ``_sample_weights``) back in the structure the
    user gave: one array for one output, a dict when a dict was given, else a list."""
    if items is None:
        return None
    heads = model._heads
    if len(heads) == 1:
        return items[0]
    if isinstance(given, dict):
        return {h.name: v for h, v in zip(heads, items) if v is not None}
    return list(items)


def standardize_arrays(model, x, y, sw, who: str, prefix: str = "", step: str = "train_step"):
    """Arrays checked and converted once (ember's fast path): x as the model's inputs, y
    and sample_weight per output when compile named the outputs, else as given. The
    model runs (to build it and name its outputs) only for the built-in ``step``: an
    overridden one gets the arrays as they are (the GAN of Keras' guides has no call)."""
    x = D.to_data(x, model._n_inputs(), who, prefix + "x", model.dtype, model._input_names())
    if D.num_samples(x, who) == 0:
        raise ValueError(f"{who}: x has no samples")
    custom = model._overrides(step)
    if not custom:
        model._prepare_steps(x)
    if model._heads is not None and y is not None and not custom:
        yl = model._targets(y, who, prefix + "y")
        swl = model._sample_weights(sw, who, prefix + "sample_weight")
        D.check_pair(x, yl, who, [h.name for h in model._heads], swl)
        return x, _regroup(yl, y, model), _regroup(swl, sw, model)
    y, sw = A.to_tree(y, who, "y", model.dtype), A.to_tree(sw, who, "sample_weight", model.dtype)
    for what, v in (("y", y), ("sample_weight", sw)):
        if v is not None and A.num_rows(v, who) != D.num_samples(x, who):
            raise ValueError(f"{who}: x and {what} must have the same number of samples. Received: x has "
                             f"{D.num_samples(x, who)}, {what} has {A.num_rows(v, who)}")
    return x, y, sw


def split_validation(data, split: float, who: str):
    """Keras' validation_split: the last ``split`` fraction, taken before shuffling."""
    x, y, sw = data
    if not 0.0 <= split < 1.0:
        raise ValueError(f"{who}: validation_split must be in [0, 1). Received: {split}")
    n = D.num_samples(x, who)
    n_val = int(n * split)
    if n_val == 0 or n_val == n:
        raise ValueError(f"{who}: validation_split={split} leaves no training or no validation samples (of {n})")
    tr, va = slice(0, n - n_val), slice(n - n_val, n)
    return tuple(A.tree_take(v, tr) for v in data), tuple(A.tree_take(v, va) for v in data)


def is_dataset(x) -> bool:
    return x is not None and not A.is_array_like(x)


class EpochIterator:
    """The batches of one epoch after another: ``steps`` per epoch (None: a whole pass
    over the data), class weights folded into the sample weights. Given ``steps``, an
    epoch continues where the previous one stopped (a new pass when the data runs out),
    as Keras; a stream that yields nothing more ends training with Keras' warning."""

    def __init__(self, adapter: A.DataAdapter, steps: Optional[int] = None, class_weight=None):
        self.adapter, self.class_weight = adapter, class_weight
        self.user_steps = steps if not isinstance(adapter, A.ArrayDataAdapter) else None
        self.steps = steps if steps is not None else adapter.num_batches
        self._stream, self._yielded = None, 0
        self.ran_out = False

    def _next(self):
        if self._stream is None:
            self._stream, self._yielded = self.adapter.batches(), 0
        batch = next(self._stream, None)
        if batch is None:
            empty = self._yielded == 0
            self._stream = None
            return None, empty
        self._yielded += 1
        return batch, False

    def enumerate_epoch(self):
        """(step, batch) pairs of the next epoch, the batches on the current device
        (ember.set_device; on a GPU each copy overlaps the previous step)."""
        pairs = self._enumerate_host()
        if backend.get_device() == "cpu":
            return pairs
        if getattr(self, "_feeder", None) is None:
            self._feeder = DeviceFeeder()  # keeps its pinned buffers from epoch to epoch
        return prefetched(pairs, self._feeder)

    def _enumerate_host(self):
        count = 0
        while self.steps is None or count < self.steps:
            batch, empty = self._next()
            if batch is None:
                if empty:
                    self.ran_out = True
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset "
                                  "or generator can generate at least `steps_per_epoch * epochs` batches.",
                                  UserWarning, stacklevel=4)
                    break
                if self.user_steps is None:
                    break
                continue  # the next pass fills this epoch's remaining steps
            if self.class_weight is not None:
                batch = A.class_weighted(batch, self.class_weight)
            yield count, batch
            count += 1
        if self.user_steps is None:
            self._stream = None  # the next epoch is a new pass (a new shuffle)

    def end_epoch(self) -> None:
        self.adapter.on_epoch_end()


def data_iterator(model, x, y, sw, who: str, batch_size, shuffle=False, steps=None, class_weight=None,
                  prepared=False, prefix: str = "", step: str = "train_step") -> EpochIterator:
    """The EpochIterator over arrays (converted and checked here) or a dataset."""
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"{who}: batch_size must be >= 1. Received: {batch_size}")
    if is_dataset(x):
        if y is not None or sw is not None:
            raise ValueError(f"{who}: when x is a dataset or generator, pass y and sample_weight inside it "
                             f"(batches (x, y, sample_weight)), not as arguments. Received: y={type(y).__name__}")
        return EpochIterator(A.get_data_adapter(x, who, model.dtype, shuffle), steps, class_weight)
    if not prepared:
        x, y, sw = standardize_arrays(model, x, y, sw, who, prefix, step)
    adapter = A.ArrayDataAdapter(x, y, sw, int(batch_size or 32), shuffle, steps, who)
    return EpochIterator(adapter, adapter.num_batches, class_weight)


def callback_list(model, callbacks, epochs: int, steps, verbose: int) -> cbks.CallbackList:
    """``callbacks`` (a list, or fit's CallbackList during validation) as a CallbackList."""
    if isinstance(callbacks, cbks.CallbackList):
        return callbacks
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    return cbks.CallbackList(list(callbacks or []), model, {"epochs": epochs, "steps": steps, "verbose": verbose})


class Bar:
    """fit's / evaluate's progress bar; with an unknown number of steps it is drawn once
    the epoch has ended (its length is known then)."""

    def __init__(self, steps, verbose: int):
        self.verbose, self.bar = verbose, None
        self.start = time.perf_counter()
        if verbose and steps is not None:
            self.bar = cbks.Progbar(steps, verbose)

    def update(self, step: int, logs=None) -> None:
        if self.bar is not None:
            self.bar.update(step, logs)

    def finish(self, steps_done: int, logs=None) -> None:
        if self.verbose and self.bar is None and steps_done:
            self.bar = cbks.Progbar(steps_done, self.verbose)
            self.bar.start = self.start  # the time per step over the whole epoch
            self.bar.update(steps_done, logs)
        if self.bar is not None:
            self.bar.finish(logs) if logs is not None else self.bar.finish()
