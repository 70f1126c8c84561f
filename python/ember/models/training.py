"""compile / fit / evaluate / predict, shared by every model (Sequential, functional, subclassed)."""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import backend
from ..backend import checks
from .. import callbacks as cbks
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from ..tensor import Tensor, no_grad
from . import data as D
from .data_adapters import (ArrayDataAdapter, class_weighted, num_rows, pack_x_y_sample_weight, tree_take,
                            unpack_x_y_sample_weight)
from .epoch_iterator import (Bar, EpochIterator, callback_list, data_iterator, is_dataset, split_validation,
                             standardize_arrays, verbosity)
from .compile_utils import _as_list, _by_name, _flat_tensors, _Head, _layout_of, make_heads
from .device_feed import to_current_device
from .logs import StepLogs, pythonify_logs, stop_on_loss
from .step import TrainerSteps


class Trainer(TrainerSteps):
    """The training API mixed into :class:`ember.Model`."""

    compiled = False
    optimizer = None
    loss = None
    stop_training = False
    history = None
    _heads: Optional[List[_Head]] = None
    _metrics_spec = None
    _loss_weights_spec = None

    # -- compile -----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics: Optional[Sequence] = None,
                weighted_metrics=None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile="auto", auto_scale_loss: bool = True) -> None:
        """Configure training: ``optimizer`` and ``loss`` by object or Keras name (e.g.
        optimizer="nadam", loss="kld"), ``metrics`` a list of names ("accuracy" / "acc", "mae",
        "precision", "auc", ...; each name is its log key), Metric objects or functions
        ``fn(y_true, y_pred) -> per-sample values``. ``loss`` may be left out when the
        model's own ``train_step`` computes its loss (Keras 3).

        For a model with several outputs, ``loss`` is one loss (for every output), a list
        (one per output) or a dict keyed by output name (an output left out has no loss and
        needs no target); ``loss_weights`` a list or dict (default 1 each): the training loss
        is the weighted sum of the output losses plus the regularization penalties.
        ``metrics`` is a flat list (for every output), a list of lists (one per output) or a
        dict by output name. Output names are those of the layers that produce the outputs
        (the keys for dict outputs; "output_1", "output_2", ... for a subclassed model).

        ember's metrics are always weighted by ``sample_weight``, so ``weighted_metrics``
        are added to ``metrics``. ``run_eagerly``, ``jit_compile``, ``steps_per_execution``
        and ``auto_scale_loss`` are Keras' and do nothing here (ember runs eagerly, in
        float32 without loss scaling); a misspelled keyword is a TypeError."""
        if weighted_metrics:
            metrics = _as_list(metrics) + _as_list(weighted_metrics) if not isinstance(metrics, dict) else metrics
        self.optimizer = optimizers_mod.get(optimizer)
        if isinstance(loss, dict):
            self.loss = {k: losses_mod.get(v) for k, v in loss.items()}
        elif isinstance(loss, (list, tuple)):
            self.loss = [losses_mod.get(v) for v in loss]
        else:
            self.loss = losses_mod.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        self._metrics_spec = metrics
        self._loss_weights_spec = loss_weights
        self._heads = None
        self.compiled = True
        self._build_trackers()
        layout = self._output_layout() if getattr(self, "_graph", None) else None
        if layout is not None and self.loss is not None:
            self._set_heads(layout[1], "compile")  # functional model: check the specs now

    def _output_layout(self):
        """(kind, output names) when known without running the model, else None."""
        return None

    def _set_heads(self, names: List[str], who: str) -> None:
        self._heads = make_heads(names, self.loss, self._loss_weights_spec, self._metrics_spec, who)
        self._build_trackers()

    @property
    def _multi(self) -> bool:
        return len(self._heads) > 1

    def _make_metrics(self, reset: bool = False) -> List[List[metrics_mod.Metric]]:
        """Metric objects per output. A model with several outputs gets fresh copies of
        Metric objects (one per output); ``reset``: start from zero (evaluate, *_on_batch)."""
        out = []
        for h in self._heads:
            ms = []
            for spec in h.metric_specs:
                m = metrics_mod.get(spec, h.loss)
                if self._multi and m is spec:
                    m = copy.deepcopy(m)
                    m.reset_state()
                elif reset:
                    m.reset_state()
                ms.append(m)
            out.append(ms)
        return out

    def _overrides(self, step: str) -> bool:
        """Whether the model's class defines its own ``train_step`` / ``test_step``."""
        return getattr(type(self), step) is not getattr(TrainerSteps, step)

    def _require_compiled(self, who: str, step: str = "train_step") -> None:
        if not self.compiled or (self.loss is None and not self._overrides(step)):
            raise RuntimeError(f"{who}: the model must be compiled with a loss first: "
                               "model.compile(optimizer='adam', loss='mse')")

    # -- targets -----------------------------------------------------------------------
    def _targets(self, y, who: str, what: str = "y") -> list:
        """``y`` as a list of arrays, one per output (None for an output without loss and
        without target): from one array (single output), a list / tuple or a dict by name."""
        heads = self._heads
        names = [h.name for h in heads]
        n = len(heads)
        if isinstance(y, dict):
            items = _by_name(y, names, who, what)
        elif n == 1:
            one = isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape")
            items = [y[0] if one else y]
        elif not isinstance(y, (list, tuple)):
            raise ValueError(f"{who}: the model has {n} outputs {names}; pass {what} as a list of {n} arrays "
                             f"or a dict keyed by output name. Received: {type(y).__name__}"
                             + (f" of shape {tuple(y.shape)}" if hasattr(y, "shape") else ""))
        elif len(y) != n:
            raise ValueError(f"{who}: the model has {n} outputs {names}, but {what} is a list of {len(y)} "
                             f"(pass one array per output, or a dict keyed by output name)")
        else:
            items = list(y)
        out = []
        for h, v in zip(heads, items):
            if v is None:
                if h.loss is not None:
                    raise ValueError(f"{who}: {what} has no target for output {h.name!r}, which has a loss. "
                                     f"Output names: {names}")
                out.append(None)
            else:
                out.append(D.to_array(v, who, what if n == 1 else f"{what}[{h.name!r}]", self.dtype))
        return out

    def _sample_weights(self, sw, who: str, what: str = "sample_weight") -> Optional[list]:
        """``sample_weight`` as a list, one array (or None) per output; one array given for
        a model with several outputs weights every output."""
        if sw is None:
            return None
        heads = self._heads
        names = [h.name for h in heads]
        n = len(heads)
        if isinstance(sw, dict):
            items = _by_name(sw, names, who, what)
        elif n > 1 and isinstance(sw, (list, tuple)) and any(v is None or np.ndim(v) >= 1 for v in sw):
            if len(sw) != n:
                raise ValueError(f"{who}: the model has {n} outputs {names}, but {what} is a list of {len(sw)} "
                                 "(pass one array per output, a dict keyed by output name, or one array for all)")
            items = list(sw)
        else:
            a = D.to_array(sw, who, what, self.dtype)
            items = [a] * n
        out = [None if v is None else D.to_array(v, who, what if n == 1 else f"{what}[{h.name!r}]", self.dtype)
               for h, v in zip(heads, items)]
        return None if all(v is None for v in out) else out

    # -- steps -------------------------------------------------------------------------
    def _all_layers(self):
        out, seen, stack = [], set(), list(self._sublayers())
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(layer._sublayers())
        return out

    def _prepare_steps(self, x=None) -> None:
        out = None
        if x is not None and (not self.built or not all(l.built for l in self._all_layers())):
            with no_grad():  # build lazily-shaped layers before collecting the variables
                out = self(D.take(x, slice(0, 1)), training=False)
        self._tv = self.trainable_variables
        if self._heads is None and self.loss is not None:
            layout = self._output_layout()
            if layout is None and x is not None:
                if out is None:
                    with no_grad():  # a subclassed model: its outputs are known once it runs
                        out = self(D.take(x, slice(0, 1)), training=False)
                layout = _layout_of(out)
            if layout is not None:
                self._set_heads(layout[1], "compile")

    def _flat_outputs(self, out, who: str) -> list:
        heads = self._heads
        if isinstance(out, Tensor) and len(heads) == 1:
            return [out]
        if isinstance(out, dict):
            missing = [h.name for h in heads if h.name not in out]
            if missing or len(out) != len(heads):
                raise ValueError(f"{who}: the model returned outputs {list(out)}; compile expected {len(heads)} "
                                 f"output(s) {[h.name for h in heads]}")
            return [out[h.name] for h in heads]
        flat = _flat_tensors(out)
        if len(flat) != len(heads):
            raise ValueError(f"{who}: the model returned {len(flat)} output(s); compile expected {len(heads)} "
                             f"{[h.name for h in heads]}")
        return flat

    # -- fit ---------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: Optional[int] = None, epochs: int = 1, verbose="auto",
            callbacks: Optional[List[cbks.Callback]] = None, validation_split: float = 0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size: Optional[int] = None, validation_freq: int = 1, distribute=None,
            max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False) -> cbks.History:
        """Train for ``epochs`` passes over the data, calling ``self.train_step(batch)`` for
        each batch; returns a History whose ``history`` dict maps "loss", each metric and
        "val_*" to per-epoch values (the logs ``train_step`` returns, as Keras).

        ``x``: arrays (with ``y`` and ``sample_weight``), or a dataset yielding ``(x,)``,
        ``(x, y)`` or ``(x, y, sample_weight)`` batches: a generator or any iterable, an
        ``ember.utils.PyDataset``, a torch DataLoader or a tf.data.Dataset (then
        ``steps_per_epoch`` bounds an epoch, else it ends when the data runs out);
        ``validation_data`` likewise (with ``validation_steps``). ``shuffle``: True, False
        or "batch" (rows shuffled within each batch, as Keras).

        For a model with several outputs, ``y`` (and ``sample_weight``) is a list (one
        array per output) or a dict keyed by output name (one ``sample_weight`` array
        weights every output); the logs add "<output>_loss" and "<output>_<metric>".

        A NaN or infinite loss stops training with a warning (the epoch's logs, with the
        NaN, are still recorded). ``distribute``: a ``ember.distributed.DataParallel`` (or
        True) trains on every rank of an MPI job, ``batch_size`` being the global batch;
        None: ``set_distribution``'s. ``max_queue_size`` / ``workers`` /
        ``use_multiprocessing`` are Keras 2's and do nothing here (a PyDataset takes them)."""
        self._check_device("fit")
        self._require_compiled("fit", "train_step")
        bs = int(batch_size or 32)
        it, val_it, n = self._fit_data(x, y, sample_weight, bs, shuffle, steps_per_epoch, class_weight,
                                       validation_split, validation_data, validation_steps, validation_batch_size)
        vb = verbosity(verbose)
        dist = self._fit_distribution(distribute, n)
        if dist is not None:  # rank 0's weights everywhere; only rank 0 prints and writes files
            vb, callbacks = dist.begin_fit(self, vb, callbacks, n)
        self.history = history = cbks.History()
        cb_list = cbks.CallbackList(list(callbacks or []) + [history], self,
                                    {"epochs": epochs, "steps": it.steps, "verbose": vb})
        self.stop_training = False
        epoch_logs: Dict[str, float] = {}
        try:
            if dist is not None:  # the built-in train_step takes this step (one Allreduce)
                self._dist_step = dist.step_fn(self, self._compile_metrics.per_head)
            cb_list.call("on_train_begin", None)
            with checks.deferred():  # device input checks read with the logs (no read per step)
                for epoch in range(initial_epoch, epochs):
                    logs, stop, bar = self._fit_epoch(it, cb_list, epoch, epochs, vb, dist)
                    if it.ran_out and not logs:
                        break
                    if val_it is not None and (epoch + 1 - initial_epoch) % validation_freq == 0 and not stop:
                        vals = self._evaluate_loop(val_it, cb_list, 0, dist)
                        logs.update({"val_" + k: v for k, v in vals.items()})
                    epoch_logs = self._end_epoch(cb_list, epoch, logs, stop, dist, bar)
                    if self.stop_training:
                        break
        finally:
            self._dist_step = None
        cb_list.call("on_train_end", epoch_logs)
        return history

    def _fit_data(self, x, y, sw, bs, shuffle, steps, class_weight, split, val_data, val_steps, val_bs):
        """fit's EpochIterators (training, validation or None) and its number of samples."""
        self._tv = None  # the trainable variables are collected again
        if is_dataset(x):
            if split:
                raise ValueError("fit: validation_split is only supported for array inputs; pass "
                                 "validation_data for a dataset or generator")
            it = data_iterator(self, x, y, sw, "fit", bs, shuffle, steps, class_weight)
            n = None
        else:
            data = standardize_arrays(self, x, y, sw, "fit")
            if split and val_data is None:
                data, val_data = split_validation(data, split, "fit")
                val_data = _Prepared(val_data)
            it = data_iterator(self, *data, "fit", bs, shuffle, steps, class_weight, prepared=True)
            n = it.adapter.n
        if val_data is None:
            return it, None, n
        vbs = val_bs or bs
        if isinstance(val_data, _Prepared):
            val_it = data_iterator(self, *val_data, "fit", vbs, prepared=True)
        elif isinstance(val_data, (list, tuple)):
            if len(val_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 "sample_weight), or a dataset")
            vx, vy, vsw = unpack_x_y_sample_weight(tuple(val_data))
            val_it = data_iterator(self, vx, vy, vsw, "fit", vbs, steps=val_steps, prefix="validation ", step="test_step")
        elif is_dataset(val_data):
            val_it = data_iterator(self, val_data, None, None, "fit (validation_data)", vbs, steps=val_steps)
        else:
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                             f"or a dataset. Received: {type(val_data).__name__}")
        return it, val_it, n

    def _fit_distribution(self, distribute, n):
        dist = _distribution(distribute)
        if dist is not None and (n is None or self._overrides("train_step")):
            raise ValueError("fit: distribute needs array inputs and the built-in train_step")
        return dist

    def _fit_epoch(self, it, cb_list, epoch: int, epochs: int, vb: int, dist):
        """One epoch of train steps: (its logs, whether it stopped on a non-finite loss,
        (its progress bar, steps done))."""
        self.reset_metrics()
        cb_list.call("on_epoch_begin", epoch, None)
        if vb:
            print(f"Epoch {epoch + 1}/{epochs}")
        bar = Bar(it.steps, vb)
        logs = StepLogs({})
        done = step = 0
        for step, batch in it.enumerate_epoch():
            cb_list.batch("on_train_batch_begin", step, None)
            logs = StepLogs(self.train_step(batch))
            done = step + 1
            bar.update(done, logs.get)  # read only when the bar is redrawn
            if cb_list.has("on_train_batch_end"):
                cb_list.batch("on_train_batch_end", step, dict(logs.get()))
            if dist is not None:
                dist.agree_stop(self, batch=True)
            if logs.is_read() and stop_on_loss(logs.get(), epoch, step):
                return logs.get(), True, (bar, done)
            if self.stop_training:
                break
        it.end_epoch()
        if it.ran_out:
            self.stop_training = True
        # device logs not read during the epoch are read here, and the loss checked then
        if not logs.is_read() and stop_on_loss(logs.get(), epoch, step):
            return logs.get(), True, (bar, done)
        return logs.get(), False, (bar, done)

    def _end_epoch(self, cb_list, epoch: int, logs, stop: bool, dist, bar_done) -> Dict[str, float]:
        epoch_logs = dict(logs)
        cb_list.call("on_epoch_end", epoch, epoch_logs)  # callbacks may add keys (learning_rate)
        bar, done = bar_done
        bar.finish(done, epoch_logs)
        if stop:
            self.stop_training = True
        if dist is not None:
            dist.agree_stop(self)
        return epoch_logs

    # -- evaluate / predict ------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict: bool = False, distribute=None,
                 max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False):
        """Loss and metrics on (x, y) or a dataset (as in fit; ``steps`` bounds it), through
        ``self.test_step(batch)``: ``[loss, metric...]``, a scalar loss when there are no
        metrics, or a dict with ``return_dict=True``. With several outputs:
        ``[loss, <output>_loss..., <output>_<metric>...]`` (y and sample_weight as in fit).
        ``distribute`` as in fit: each batch is split over the ranks, the sums gathered."""
        self._check_device("evaluate")
        self._require_compiled("evaluate", "test_step")
        it = data_iterator(self, x, y, sample_weight, "evaluate", batch_size, steps=steps, step="test_step")
        vb = verbosity(verbose)
        dist = _distribution(distribute)
        if dist is not None and (not isinstance(it.adapter, ArrayDataAdapter) or self._overrides("test_step")):
            raise ValueError("evaluate: distribute needs array inputs and the built-in test_step")
        cb_list = callback_list(self, callbacks, 1, it.steps, vb)
        with checks.deferred():
            logs = self._evaluate_loop(it, cb_list, vb if dist is None or dist.is_root() else 0, dist)
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def _evaluate_loop(self, it, cb_list, vb: int, dist) -> Dict[str, float]:
        """One pass of test steps (evaluate, and fit's validation)."""
        self.reset_metrics()
        bar = Bar(it.steps, vb)
        logs = StepLogs({})
        done = 0
        cb_list.call("on_test_begin", None)
        for step, batch in it.enumerate_epoch():
            if dist is not None:  # this rank's part of the global batch
                sl = dist.local_slice(0, num_rows(batch[0], "evaluate"))
                if sl.start == sl.stop:
                    continue
                batch = tuple(tree_take(v, sl) for v in batch)
            cb_list.batch("on_test_batch_begin", step, None)
            logs = StepLogs(self.test_step(batch))
            done = step + 1
            if cb_list.has("on_test_batch_end"):
                cb_list.batch("on_test_batch_end", step, dict(logs.get()))
            bar.update(done, logs.get)
        it.end_epoch()
        logs = logs.get()
        if dist is not None:
            logs = self._reduce_eval(dist, it.adapter.n)
        cb_list.call("on_test_end", dict(logs))
        bar.finish(done, logs)
        return logs

    def _reduce_eval(self, dist, n: int) -> Dict[str, float]:
        """The trackers' and metrics' states summed over the ranks (data-parallel evaluate)."""
        trackers = [self._loss_tracker] + list(self._part_trackers)
        per_head = self._compile_metrics.per_head if self._compile_metrics else []
        total, parts = dist.reduce_eval(trackers[0]._total, [t._total for t in trackers[1:]], per_head)
        for t, v in zip(trackers, [total] + parts):
            t._total, t._count = v, float(max(n, 1))
        return self.get_metrics_result()

    def predict(self, x, batch_size: Optional[int] = None, verbose=0, steps=None, callbacks=None, distribute=None,
                max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False):
        """The model's outputs for ``x`` (arrays or a dataset, as in fit) through
        ``self.predict_step(batch)``, gradients off, as a NumPy array; a list of arrays (a
        dict for dict outputs) for a model with several outputs. ``distribute`` as in
        fit: each rank predicts a part, every rank gets all."""
        self._check_device("predict")
        if not is_dataset(x):
            x = D.to_data(x, self._n_inputs(), "predict", "x", self.dtype, self._input_names())
            dist = _distribution(distribute)
            if dist is not None:
                return dist.predict(self, x, batch_size, verbose, callbacks)
            it = EpochIterator(ArrayDataAdapter(x, None, None, int(batch_size or 32), False, steps, "predict"))
        else:
            it = data_iterator(self, x, None, None, "predict", batch_size, steps=steps)
        vb = verbosity(verbose)
        cb_list = callback_list(self, callbacks, 1, it.steps, vb)
        bar = Bar(it.steps, vb)
        outs, done = [], 0
        cb_list.call("on_predict_begin", None)
        with no_grad():
            for step, batch in it.enumerate_epoch():
                cb_list.batch("on_predict_batch_begin", step, None)
                out = _to_numpy(self.predict_step(batch))
                outs.append(out)
                cb_list.batch("on_predict_batch_end", step, {"outputs": out})
                done = step + 1
                bar.update(done)
        it.end_epoch()
        cb_list.call("on_predict_end", None)
        bar.finish(done)
        if not outs:
            raise ValueError("predict: the data yielded no batches")
        return _concat(outs)

    # -- one batch ----------------------------------------------------------------------
    def to(self, device: str):
        """Move the model's weights and its optimizer's state to ``device``; returns the model."""
        super().to(device)
        opt = getattr(self, "optimizer", None)
        if opt is not None and hasattr(opt, "_to_device"):
            opt._to_device(backend.check_device(device))
        return self

    def _check_device(self, op: str) -> None:
        """A clear error when the weights are not on the current device (the batches go there)."""
        cur = backend.get_device()
        devs = {backend.device_of(w.data) for w in self.weights}
        if devs and devs != {cur}:
            where = " and ".join(f"'{d}'" for d in sorted(devs))
            raise ValueError(f"{self.name}.{op}: the model's weights are on {where} but the current device is "
                             f"'{cur}' (ember.set_device), where the batches go. Move the model with "
                             f"model.to('{cur}'), or run it under ember.set_device('{sorted(devs)[0]}').")

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One ``train_step`` on one batch; returns the loss (and metrics) of that batch."""
        self._check_device("train_on_batch")
        self._require_compiled("train_on_batch", "train_step")
        x, y, sw = standardize_arrays(self, x, y, sample_weight, "train_on_batch")
        batch = pack_x_y_sample_weight(x, y, sw)
        if class_weight is not None:
            batch = class_weighted(batch, class_weight)
        batch = to_current_device(batch)
        self.reset_metrics()
        with checks.deferred():  # a device label check read with the results (one read)
            return _as_results(pythonify_logs(self.train_step(batch)), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._check_device("test_on_batch")
        self._require_compiled("test_on_batch", "test_step")
        x, y, sw = standardize_arrays(self, x, y, sample_weight, "test_on_batch", step="test_step")
        self.reset_metrics()
        with checks.deferred():
            return _as_results(pythonify_logs(self.test_step(to_current_device(pack_x_y_sample_weight(x, y, sw)))),
                               return_dict)

    def predict_on_batch(self, x):
        self._check_device("predict_on_batch")
        x = D.to_data(x, self._n_inputs(), "predict_on_batch", "x", self.dtype, self._input_names())
        with no_grad():
            return _to_numpy(self.predict_step(to_current_device(pack_x_y_sample_weight(x))))


class _Prepared(tuple):
    """Validation arrays already checked and converted (from validation_split)."""


def _as_results(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    vals = list(logs.values())
    return vals[0] if len(vals) == 1 else vals


def _distribution(distribute):
    """The DataParallel ``distribute`` asks for, or None (ember.distributed sits above)."""
    from .. import distributed
    dist = distributed.resolve(distribute)
    if dist is not None and backend.get_device() != "cpu":
        raise NotImplementedError("distribute: data-parallel training (MPI) has no CUDA implementation; it runs "
                                  f"on the CPU only. Received: the current device {backend.get_device()!r} "
                                  "(ember.set_device('cpu') first)")
    return dist


def _to_numpy(out):
    if isinstance(out, Tensor):
        return out.numpy()
    if isinstance(out, (list, tuple)):
        return [_to_numpy(o) for o in out]
    if isinstance(out, dict):
        return {k: _to_numpy(o) for k, o in out.items()}
    return np.asarray(out)


def _concat(outs: list):
    """Per-batch outputs (arrays, or lists / dicts of them) joined along the batch."""
    first = outs[0]
    if isinstance(first, dict):
        return {k: _concat([o[k] for o in outs]) for k in first}
    if isinstance(first, list):
        return [_concat([o[i] for o in outs]) for i in range(len(first))]
    return first if len(outs) == 1 else np.concatenate(outs)
