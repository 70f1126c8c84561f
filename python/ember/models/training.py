"""compile / fit / evaluate / predict, shared by every model (Sequential, functional, subclassed)."""
from __future__ import annotations

import copy
import math
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import callbacks as cbks
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from .. import random as erandom
from ..autograd import grad as _grad
from ..tensor import Tensor, _set_grad_enabled, no_grad
from . import data as D


def _verbosity(verbose) -> int:
    if verbose == "auto":
        return 1
    return int(verbose)


class _Head:
    """One model output as compile sees it: its name, its loss (None: the output is not
    trained and needs no target), the loss weight and the metric specs."""
    __slots__ = ("name", "loss", "weight", "metric_specs")

    def __init__(self, name: str, loss, weight: float, metric_specs: list):
        self.name, self.loss, self.weight, self.metric_specs = name, loss, weight, metric_specs

    def __repr__(self) -> str:
        return f"<output {self.name!r} loss={self.loss!r} weight={self.weight}>"


def _is_metric_spec(m) -> bool:
    return isinstance(m, (str, metrics_mod.Metric)) or (isinstance(m, type) and issubclass(m, metrics_mod.Metric)) \
        or (callable(m) and not isinstance(m, type))


def _by_name(d: dict, names: List[str], who: str, what: str) -> list:
    """The values of ``d`` in output order (None where missing); an unknown key is an error."""
    unknown = [k for k in d if k not in names]
    if unknown:
        raise ValueError(f"{who}: {what} has key(s) {unknown} that name no output of the model. "
                         f"Output names: {names}")
    return [d.get(k) for k in names]


def _as_list(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


class Trainer:
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
    def compile(self, optimizer="rmsprop", loss=None, metrics: Optional[Sequence] = None, loss_weights=None,
                **kwargs) -> None:
        """Configure training: ``optimizer`` and ``loss`` by object or Keras name (e.g.
        optimizer="nadam", loss="kld"), ``metrics`` a list of names ("accuracy" / "acc", "mae",
        "precision", "auc", ...; each name is its log key), Metric objects or functions
        ``fn(y_true, y_pred) -> per-sample values``.

        For a model with several outputs, ``loss`` is one loss (for every output), a list
        (one per output) or a dict keyed by output name (an output left out has no loss and
        needs no target); ``loss_weights`` a list or dict (default 1 each): the training loss
        is the weighted sum of the output losses plus the regularization penalties.
        ``metrics`` is a flat list (for every output), a list of lists (one per output) or a
        dict by output name. Output names are those of the layers that produce the outputs
        (the keys for dict outputs; "output_1", "output_2", ... for a subclassed model).

        Extra Keras arguments (run_eagerly, jit_compile, steps_per_execution) are accepted
        and ignored."""
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
        layout = self._output_layout() if getattr(self, "_graph", None) else None
        if layout is not None and self.loss is not None:
            self._set_heads(layout[1], "compile")  # functional model: check the specs now

    def _output_layout(self):
        """(kind, output names) when known without running the model, else None."""
        return None

    def _set_heads(self, names: List[str], who: str) -> None:
        n = len(names)
        plural = f"{n} output{'s' if n != 1 else ''} {names}"

        def check_keys(d, what):
            _by_name(d, names, who, what)

        def check_len(v, what):
            if len(v) != n:
                raise ValueError(f"{who}: the model has {plural}, but {what} is a list of {len(v)}; "
                                 f"pass one entry per output (or a dict keyed by output name)")

        loss = self.loss
        if isinstance(loss, dict):
            check_keys(loss, "loss")
            per_loss = [loss.get(k) for k in names]
        elif isinstance(loss, list):
            check_len(loss, "loss")
            per_loss = list(loss)
        else:
            per_loss = [loss] * n
        if all(l is None for l in per_loss):
            raise ValueError(f"{who}: no output has a loss (the model has {plural})")

        lw = self._loss_weights_spec
        if lw is None:
            weights = [1.0] * n
        elif isinstance(lw, dict):
            check_keys(lw, "loss_weights")
            weights = [float(lw.get(k, 1.0)) for k in names]
        elif isinstance(lw, (list, tuple)):
            check_len(lw, "loss_weights")
            weights = [float(w) for w in lw]
        elif n == 1:
            weights = [float(lw)]
        else:
            raise ValueError(f"{who}: loss_weights must be a list or a dict for a model with {plural}. "
                             f"Received: {lw!r}")

        ms = self._metrics_spec
        explicit = True
        if ms is None:
            per_metrics, explicit = [[] for _ in names], False
        elif isinstance(ms, dict):
            check_keys(ms, "metrics")
            per_metrics = [_as_list(ms.get(k)) for k in names]
        elif any(m is None or isinstance(m, (list, tuple)) for m in ms):
            check_len(ms, "metrics (a list of lists)")
            per_metrics = [_as_list(m) for m in ms]
        else:
            per_metrics, explicit = [list(ms) for _ in names], False
        for name, l, m in zip(names, per_loss, per_metrics):
            if l is None and m and explicit:
                raise ValueError(f"{who}: metrics are given for output {name!r}, which has no loss")
            for spec in m:
                if not _is_metric_spec(spec):
                    raise TypeError(f"{who}: metrics for output {name!r} must be names, Metric objects or "
                                    "functions fn(y_true, y_pred). "
                                    f"Received: {spec!r}")
                metrics_mod.get(spec, l)  # unknown names fail here, not in the first epoch
        self._heads = [_Head(name, l, w, m if l is not None else [])
                       for name, l, w, m in zip(names, per_loss, weights, per_metrics)]

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

    def _require_compiled(self, who: str) -> None:
        if not self.compiled or self.loss is None:
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

    def _regularization_layers(self):
        return [l for l in self._all_layers() if not isinstance(l, Trainer) and hasattr(type(l), "losses")
                and l.losses]

    @property
    def losses(self) -> List[Tensor]:
        """Regularization penalties of all layers (Tensors), like Keras' ``model.losses``."""
        return [p for l in self._regularization_layers() for p in l.losses]

    def _prepare_steps(self, x=None) -> None:
        out = None
        if x is not None and (not self.built or not all(l.built for l in self._all_layers())):
            with no_grad():  # build lazily-shaped layers before collecting the variables
                out = self(D.take(x, slice(0, 1)), training=False)
        self._tv = self.trainable_variables
        self._reg = self._regularization_layers()
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

    def _loss_of(self, out, yb, swb, who: str):
        """(total loss Tensor, per-output loss Tensors (None without loss), output Tensors)."""
        outs = self._flat_outputs(out, who)
        total, parts = None, []
        for i, h in enumerate(self._heads):
            if h.loss is None:
                parts.append(None)
                continue
            part = h.loss(yb[i], outs[i], None if swb is None else swb[i])
            parts.append(part)
            term = part if h.weight == 1.0 else part * h.weight
            total = term if total is None else total + term
        for layer in self._reg:
            for p in layer.losses:
                total = total + p
        return total, parts, outs

    def _train_step(self, xb, yb, swb):
        prev = _set_grad_enabled(True)
        try:
            loss, parts, outs = self._loss_of(self(xb, training=True), yb, swb, "fit")
        finally:
            _set_grad_enabled(prev)
        tv = self._tv
        if not tv:
            raise RuntimeError("fit: the model has no trainable variables")
        if not loss.requires_grad:
            raise RuntimeError("fit: the loss does not depend on any trainable variable")
        grads = _grad(loss, tv)
        self.optimizer.apply_gradients(zip(grads, tv))
        return float(loss.data), self._part_floats(parts), [_data(o) for o in outs]

    def _test_step(self, xb, yb, swb):
        with no_grad():
            loss, parts, outs = self._loss_of(self(xb, training=False), yb, swb, "evaluate")
        return float(loss.data), self._part_floats(parts), [_data(o) for o in outs]

    def _part_floats(self, parts) -> List[Optional[float]]:
        """The per-output losses as floats (only logged for several outputs)."""
        if len(parts) == 1:
            return [None]
        return [None if p is None else float(p.data) for p in parts]

    def _update_metrics(self, metrics, yb, outs, swb) -> None:
        for i, ms in enumerate(metrics):
            for m in ms:
                m.update_state(yb[i], outs[i], None if swb is None else swb[i])

    def _logs(self, loss: float, parts: List[Optional[float]], metrics) -> Dict[str, float]:
        """Keras' log keys: "loss"; with several outputs "<output>_loss" and
        "<output>_<metric>", else the metric names."""
        logs = {"loss": loss}
        multi = self._multi
        if multi:
            for h, p in zip(self._heads, parts):
                if h.loss is not None:
                    logs[f"{h.name}_loss"] = p
        for h, ms in zip(self._heads, metrics):
            for m in ms:
                logs[f"{h.name}_{m.name}" if multi else m.name] = m.result()
        return logs

    # -- fit ---------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: Optional[int] = None, epochs: int = 1, verbose="auto",
            callbacks: Optional[List[cbks.Callback]] = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None, sample_weight=None,
            initial_epoch: int = 0, steps_per_epoch=None, validation_batch_size: Optional[int] = None,
            validation_freq: int = 1, distribute=None) -> cbks.History:
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a History whose
        ``history`` dict maps "loss", each metric and "val_*" to per-epoch values.

        For a model with several outputs, ``y`` (and ``sample_weight``) is a list (one
        array per output) or a dict keyed by output name (one ``sample_weight`` array
        weights every output); the logs add "<output>_loss" and "<output>_<metric>".

        A NaN or infinite batch loss stops training with a warning (the epoch's logs, with
        the NaN, are still recorded).

        ``distribute``: a ``ember.distributed.DataParallel`` (or True) trains on every rank of
        an MPI job, ``batch_size`` being the global batch; None: ``set_distribution``'s."""
        self._require_compiled("fit")
        if y is None:
            raise ValueError("fit: y is required (x, y arrays; datasets/generators are not supported)")
        bs = int(batch_size or 32)
        if bs < 1:
            raise ValueError(f"fit: batch_size must be >= 1. Received: {batch_size}")
        x = D.to_data(x, self._n_inputs(), "fit", "x", self.dtype)
        if D.num_samples(x, "fit") == 0:
            raise ValueError("fit: x has no samples")
        self._prepare_steps(x)
        names = [h.name for h in self._heads]
        y = self._targets(y, "fit", "y")
        sw = self._sample_weights(sample_weight, "fit", "sample_weight")
        if class_weight is not None:
            if self._multi:
                raise ValueError("fit: class_weight is only supported for models with a single output; "
                                 "pass sample_weight per output instead")
            cw = np.vectorize(lambda c: float(class_weight.get(int(c), 1.0)))
            y0 = y[0]
            lab = y0.argmax(-1) if (y0.ndim > 1 and y0.shape[-1] > 1) else y0.reshape(y0.shape[0], -1)[:, 0]
            w = cw(lab).astype(self.dtype)
            sw = [w if sw is None else sw[0] * w]
        D.check_pair(x, y, "fit", names, sw)
        if validation_data is None and validation_split:
            (x, y, sw), validation_data = D.split_validation(x, y, sw, validation_split, "fit")
        elif validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            vx = D.to_data(validation_data[0], self._n_inputs(), "fit", "validation x", self.dtype)
            vy = self._targets(validation_data[1], "fit", "validation y")
            vsw = (self._sample_weights(validation_data[2], "fit", "validation sample_weight")
                   if len(validation_data) == 3 else None)
            D.check_pair(vx, vy, "fit (validation_data)", names, vsw)
            validation_data = (vx, vy, vsw)
        n = D.num_samples(x, "fit")
        steps = steps_per_epoch or math.ceil(n / bs)
        vb = _verbosity(verbose)
        dist = _distribution(distribute)
        if dist is not None:  # rank 0's weights everywhere; only rank 0 prints and writes files
            vb, callbacks = dist.begin_fit(self, vb, callbacks, n)
        history = cbks.History()
        cb_list = cbks.CallbackList(list(callbacks or []) + [history], self,
                                    {"epochs": epochs, "steps": steps, "verbose": vb})
        self.history = history
        self.stop_training = False
        metrics = self._make_metrics()
        step_fn = self._train_step if dist is None else dist.step_fn(self, metrics)
        n_out = len(self._heads)
        cb_list.call("on_train_begin", None)
        logs: Dict[str, float] = {}
        epoch_logs: Dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            cb_list.call("on_epoch_begin", epoch, None)
            for ms in metrics:
                for m in ms:
                    m.reset_state()
            if vb:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = cbks.Progbar(steps, vb) if vb else None
            order = erandom.generator().permutation(n) if shuffle else None
            loss_sum, seen, nan_batch = 0.0, 0, None
            part_sums = [0.0] * n_out
            for step in range(steps):
                lo = (step * bs) % n
                hi = min(lo + bs, n)
                idx = order[lo:hi] if order is not None else slice(lo, hi)
                xb, yb, swb = D.take(x, idx), D.take(y, idx), D.take(sw, idx)
                cb_list.batch("on_train_batch_begin", step, None)
                loss_val, parts, outs = step_fn(xb, yb, swb)
                nb = hi - lo
                loss_sum += loss_val * nb
                for i, p in enumerate(parts):
                    if p is not None:
                        part_sums[i] += p * nb
                seen += nb
                if outs is not None:  # a data-parallel step has updated the metrics
                    self._update_metrics(metrics, yb, outs, swb)
                logs = self._logs(loss_sum / seen, [p / seen for p in part_sums], metrics)
                if bar is not None:
                    bar.update(step + 1, logs)
                if cb_list.has("on_train_batch_end"):
                    cb_list.batch("on_train_batch_end", step, dict(logs))
                if dist is not None:
                    dist.agree_stop(self, batch=True)
                if not math.isfinite(loss_val):
                    nan_batch = step
                    break
                if self.stop_training:
                    break
            if validation_data is not None and (epoch + 1 - initial_epoch) % validation_freq == 0 and nan_batch is None:
                vals = self.evaluate(*validation_data[:2], sample_weight=validation_data[2],
                                     batch_size=validation_batch_size or bs, verbose=0, return_dict=True,
                                     callbacks=cb_list, _prepared=True, distribute=dist or False)
                logs.update({"val_" + k: v for k, v in vals.items()})
            epoch_logs = dict(logs)
            cb_list.call("on_epoch_end", epoch, epoch_logs)  # callbacks may add keys (learning_rate)
            if bar is not None:
                bar.finish(epoch_logs)
            if nan_batch is not None:
                warnings.warn(f"fit: epoch {epoch + 1}, batch {nan_batch}: the loss is {loss_val} (not finite); "
                              "training stopped. The learning rate may be too high, or the data may hold "
                              "NaN/inf values.", RuntimeWarning, stacklevel=2)
                self.stop_training = True
            if dist is not None:
                dist.agree_stop(self)
            if self.stop_training:
                break
        cb_list.call("on_train_end", epoch_logs)
        return history

    # -- evaluate / predict ------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None, verbose="auto", sample_weight=None,
                 return_dict: bool = False, callbacks=None, _prepared: bool = False, distribute=None, **kwargs):
        """Loss and metrics on (x, y): ``[loss, metric...]``, a scalar loss when there are no
        metrics, or a dict with ``return_dict=True``. With several outputs:
        ``[loss, <output>_loss..., <output>_<metric>...]`` (y and sample_weight as in fit).
        ``distribute`` as in fit: each batch is split over the ranks, the sums gathered."""
        self._require_compiled("evaluate")
        if y is None:
            raise ValueError("evaluate: y is required")
        if not _prepared:
            x = D.to_data(x, self._n_inputs(), "evaluate", "x", self.dtype)
            self._prepare_steps(x)
            y = self._targets(y, "evaluate", "y")
            sample_weight = self._sample_weights(sample_weight, "evaluate", "sample_weight")
        n = D.check_pair(x, y, "evaluate", [h.name for h in self._heads], sample_weight)
        bs = int(batch_size or 32)
        cb_list = self._callback_list(callbacks, math.ceil(n / bs), _verbosity(verbose))
        dist = _distribution(distribute)
        show = _verbosity(verbose) and not _prepared and (dist is None or dist.is_root())
        bar = cbks.Progbar(math.ceil(n / bs), _verbosity(verbose)) if show else None
        metrics = self._make_metrics(reset=True)
        loss_sum = 0.0
        part_sums = [0.0] * len(self._heads)
        cb_list.call("on_test_begin", None)
        for step, lo in enumerate(range(0, n, bs)):
            hi = min(lo + bs, n)
            sl = slice(lo, hi) if dist is None else dist.local_slice(lo, hi)
            if sl.start == sl.stop:
                continue
            yb, swb = D.take(y, sl), D.take(sample_weight, sl)
            cb_list.batch("on_test_batch_begin", step, None)
            loss_val, parts, outs = self._test_step(D.take(x, sl), yb, swb)
            loss_sum += loss_val * (sl.stop - sl.start)
            for i, p in enumerate(parts):
                if p is not None:
                    part_sums[i] += p * (sl.stop - sl.start)
            self._update_metrics(metrics, yb, outs, swb)
            if cb_list.has("on_test_batch_end"):
                cb_list.batch("on_test_batch_end", step, self._logs(loss_sum / hi, [p / hi for p in part_sums], metrics))
            if bar is not None:  # logs computed only when the bar is redrawn
                bar.update(step + 1, lambda: self._logs(loss_sum / hi, [p / hi for p in part_sums], metrics))
        if dist is not None:
            loss_sum, part_sums = dist.reduce_eval(loss_sum, part_sums, metrics)
        logs = self._logs(loss_sum / max(n, 1), [p / max(n, 1) for p in part_sums], metrics)
        cb_list.call("on_test_end", dict(logs))
        if bar is not None:
            bar.finish(logs)
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def predict(self, x, batch_size: Optional[int] = None, verbose=0, callbacks=None, distribute=None, **kwargs):
        """The model's outputs for ``x`` (gradients off, ``training=False``) as a NumPy array;
        a list of arrays (a dict for dict outputs) for a model with several outputs.
        ``distribute`` as in fit: each rank predicts a part, every rank gets all."""
        x = D.to_data(x, self._n_inputs(), "predict", "x", self.dtype)
        dist = _distribution(distribute)
        if dist is not None:
            return dist.predict(self, x, batch_size, verbose, callbacks)
        n = D.num_samples(x, "predict")
        bs = int(batch_size or 32)
        if n == 0:
            raise ValueError("predict: x has no samples")
        cb_list = self._callback_list(callbacks, math.ceil(n / bs), _verbosity(verbose))
        bar = cbks.Progbar(math.ceil(n / bs), _verbosity(verbose)) if _verbosity(verbose) else None
        outs = []
        cb_list.call("on_predict_begin", None)
        with no_grad():
            for step, lo in enumerate(range(0, n, bs)):
                cb_list.batch("on_predict_batch_begin", step, None)
                out = _to_numpy(self(D.take(x, slice(lo, min(lo + bs, n))), training=False))
                outs.append(out)
                cb_list.batch("on_predict_batch_end", step, {"outputs": out})
                if bar is not None:
                    bar.update(step + 1)
        cb_list.call("on_predict_end", None)
        if bar is not None:
            bar.finish()
        return _concat(outs)

    def _callback_list(self, callbacks, steps: int, verbose: int) -> cbks.CallbackList:
        """``callbacks`` (a list, or fit's CallbackList during validation) as a CallbackList."""
        if isinstance(callbacks, cbks.CallbackList):
            return callbacks
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        return cbks.CallbackList(list(callbacks or []), self, {"epochs": 1, "steps": steps, "verbose": verbose})

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        x = D.to_data(x, self._n_inputs(), "train_on_batch", "x", self.dtype)
        if getattr(self, "_tv", None) is None or not self.built or self._heads is None:
            self._prepare_steps(x)
        y = self._targets(y, "train_on_batch", "y")
        sw = self._sample_weights(sample_weight, "train_on_batch", "sample_weight")
        D.check_pair(x, y, "train_on_batch", [h.name for h in self._heads], sw)
        loss_val, parts, out = self._train_step(x, y, sw)
        return self._batch_logs(loss_val, parts, y, out, sw, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        x = D.to_data(x, self._n_inputs(), "test_on_batch", "x", self.dtype)
        self._prepare_steps(x)
        y = self._targets(y, "test_on_batch", "y")
        sw = self._sample_weights(sample_weight, "test_on_batch", "sample_weight")
        D.check_pair(x, y, "test_on_batch", [h.name for h in self._heads], sw)
        loss_val, parts, out = self._test_step(x, y, sw)
        return self._batch_logs(loss_val, parts, y, out, sw, return_dict)

    def predict_on_batch(self, x):
        with no_grad():
            return _to_numpy(self(D.to_data(x, self._n_inputs(), "predict_on_batch", "x", self.dtype), training=False))

    def _batch_logs(self, loss_val, parts, y, outs, sw, return_dict):
        metrics = self._make_metrics(reset=True)
        self._update_metrics(metrics, y, outs, sw)
        logs = self._logs(loss_val, parts, metrics)
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals


def _distribution(distribute):
    """The DataParallel ``distribute`` asks for, or None (ember.distributed sits above)."""
    from .. import distributed
    return distributed.resolve(distribute)


def _layout_of(out):
    """(kind, output names) of a concrete model output (a subclassed model's)."""
    if isinstance(out, dict):
        return "dict", [str(k) for k in out]
    if isinstance(out, (list, tuple)):
        return "list", [f"output_{i + 1}" for i in range(len(_flat_tensors(out)))]
    return "tensor", ["output_1"]


def _flat_tensors(out) -> list:
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat_tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat_tensors(o)]
    return [out]


def _data(t):
    return t.data if isinstance(t, Tensor) else np.asarray(t)


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
