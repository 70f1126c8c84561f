"""DataParallel: the strategy behind ``fit / evaluate / predict(distribute=...)``.

One training step on N ranks, for a global batch of B rows (every rank holds the data
and draws the same shuffle, its random state having come from rank 0):

- rank k takes the contiguous rows [B*k//N, B*(k+1)//N) (a rank with none runs one
  "phantom" row that counts for nothing, so that it joins the same collectives and
  draws the same random numbers);
- its loss is its share of the global one: each output's loss times (local rows / B)
  (a data-dependent divisor, as ``ignore_class``, is summed over the ranks first); the
  regularisation penalties are added on rank 0 only;
- the gradients of that loss, the loss terms and the changes of every metric's state
  are packed into one buffer and summed with one ``Allreduce``; every rank then clips
  and steps with the same gradients (the optimizer clips after the reduction) and sets
  the same metric state, so logs, callbacks, early stopping and NaN stops agree.

The sum over ranks of the local gradients is the gradient of the global mean loss, so N
ranks train as one process does, to rounding (an uneven last batch and empty shards
included). Dropout draws the global batch's mask and keeps its rows (ember.random.
batch_draw); ``BatchNormalization(synchronized=True)`` reduces its statistics.
"""
from __future__ import annotations

import time
from typing import List

import numpy as np

from .. import _shard
from .. import callbacks as cbks
from .. import losses as losses_mod
from .. import random as erandom
from ..autograd import grad as _grad
from ..models import data as D
from ..tensor import _set_grad_enabled, as_tensor
from . import _comm
from ._optimizer import inner, pack, unpack

# Metric state that adds up over ranks (totals, counts, confusion counts); a metric may
# name its own in ``_state_names``.
_STATE = ("_total", "_count", "true_positives", "false_positives", "true_negatives", "false_negatives")


def _split(rows: int, k: int, n: int):
    return rows * k // n, rows * (k + 1) // n


def _allreduce64(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    _comm.comm().Allreduce(_comm.in_place(), out, op=_comm.op("sum"))
    return out


def _state_names(m) -> List[str]:
    names = getattr(m, "_state_names", None)
    return list(names) if names is not None else [k for k in _STATE if k in vars(m)]


def _get_state(m) -> List[np.ndarray]:
    return [np.array(getattr(m, k), dtype=np.float64) for k in _state_names(m)]


def _set_state(m, values) -> None:
    for k, v in zip(_state_names(m), values):
        old = getattr(m, k)
        setattr(m, k, float(v) if not isinstance(old, np.ndarray) else v.astype(old.dtype, copy=False))


def sync_model(model, root: int = 0, random_state: bool = True) -> None:
    """Rank ``root``'s weights and optimizer state (and random state: ember's generator
    and the layers' own) on every rank."""
    from . import broadcast_variables
    c = _comm.comm()
    if c.Get_size() == 1:
        return
    arrays = [w.data for w in model.weights]
    opt = inner(model.optimizer) if getattr(model, "optimizer", None) is not None else None
    if opt is not None:
        tv = model.trainable_variables
        opt.build(tv)  # the same slots on every rank, in the same order
        arrays += [opt._slots(v)[n] for v in tv for n in opt._slot_names(v)]
        scalars = {k: getattr(opt, k) for k in ("iterations", "_u_product") if hasattr(opt, k)}
        for k, v in c.bcast(scalars, root=root).items():
            setattr(opt, k, v)
    broadcast_variables(arrays, root)
    if not random_state:
        return
    layers = [l for l in model._all_layers() if isinstance(getattr(l, "_rng", None), np.random.Generator)]
    gens = [erandom.generator()] + [l._rng for l in layers]
    states = c.bcast([g.bit_generator.state for g in gens], root=root)
    for g, s in zip(gens, states):
        g.bit_generator.state = s


# Callbacks that write files: they run on rank 0 only (they never stop training).
_RANK0_ONLY = (cbks.ModelCheckpoint, cbks.CSVLogger)


class _Quiet(cbks.Callback):
    """Silences callbacks (their ``verbose``) on ranks other than 0 during one fit."""

    def __init__(self, quiet):
        super().__init__()
        self._saved = [(cb, cb.verbose) for cb in quiet]
        for cb in quiet:
            cb.verbose = 0

    def on_train_end(self, logs=None):
        for cb, v in self._saved:
            cb.verbose = v


class DataParallel:
    """Data parallelism over every rank of the MPI job (Keras' ``DataParallel``): pass it
    as ``fit(..., distribute=DataParallel())`` (or ``distribute=True``), or make it the
    default with ``ember.distributed.set_distribution(DataParallel())``.

    ``fit``: ``batch_size`` is the global batch; weights, optimizer and random state come
    from rank 0 at the start; one ``Allreduce`` per step (see the module docstring); only
    rank 0 prints and runs ModelCheckpoint / CSVLogger. ``evaluate``: each global batch
    split over the ranks, losses and metric states summed at the end. ``predict``: x split
    into N contiguous parts, the outputs gathered on every rank.
    """

    def __init__(self):
        _comm.init()  # now, so that an exception from here on aborts the whole job
        self._buf = None
        self._batch_stop = False
        # what the steps cost in communication (bench/bench_distributed.py reads them)
        self.stats = {"steps": 0, "allreduce_seconds": 0.0, "bytes_per_step": 0}

    def __repr__(self) -> str:
        return "DataParallel()"

    @staticmethod
    def is_root() -> bool:
        """Whether this is rank 0 (the rank that prints and writes files)."""
        return _comm.comm().Get_rank() == 0

    # -- fit -------------------------------------------------------------------------
    def begin_fit(self, model, verbose: int, callbacks, samples: int):
        """Start of fit: rank 0's state everywhere; (verbose, callbacks) for this rank."""
        _comm.init()
        c = _comm.comm()
        if c.Get_size() > 1:
            span = np.array([samples, -samples], dtype=np.float64)
            c.Allreduce(_comm.in_place(), span, op=_comm.op("max"))
            if span[0] != -span[1]:
                raise ValueError(f"fit: the ranks hold different numbers of samples (from {int(-span[1])} to "
                                 f"{int(span[0])}); with distribute, every rank passes the whole dataset and "
                                 "batch_size is the global batch. Received on this rank: " + str(samples))
        sync_model(model)
        callbacks = list(callbacks or [])
        keep = [cb for cb in callbacks if not isinstance(cb, _RANK0_ONLY)]
        # A batch-end callback may stop training: then every batch ends with agreeing on
        # it. Decided from the callbacks every rank was given, so all ranks agree.
        self._batch_stop = any(cbks._overrides(cb, "on_train_batch_end") for cb in keep)
        if _comm.comm().Get_rank() == 0:
            return verbose, callbacks
        quiet = [cb for cb in keep if getattr(cb, "verbose", 0)]
        return 0, keep + ([_Quiet(quiet)] if quiet else [])

    def step_fn(self, model, metrics):
        """fit's step on a global batch: (mean loss, per-output losses, None: metrics done)."""
        return lambda xb, yb, swb: self._train_step(model, metrics, xb, yb, swb)

    def agree_stop(self, model, batch: bool = False) -> None:
        """stop_training is true on every rank when it is on any (a callback may decide
        on one rank only). At a batch end only when a callback could have set it."""
        c = _comm.comm()
        if c.Get_size() > 1 and (self._batch_stop or not batch):
            flag = np.array([1.0 if model.stop_training else 0.0])
            c.Allreduce(_comm.in_place(), flag, op=_comm.op("max"))
            model.stop_training = bool(flag[0])

    def _shard_of(self, rows: int) -> _shard.Shard:
        c = _comm.comm()
        a, b = _split(rows, c.Get_rank(), c.Get_size())
        if a == b:
            p = min(a, rows - 1)
            return _shard.Shard(rows, p, p + 1, True, _allreduce64)
        return _shard.Shard(rows, a, b, False, _allreduce64)

    def _train_step(self, model, metrics, xb, yb, swb):
        tv = model._tv
        if not tv:
            raise RuntimeError("fit: the model has no trainable variables")
        rows = D.num_samples(xb, "fit")
        shard = self._shard_of(rows)
        n_local = 0 if shard.phantom else shard.hi - shard.lo
        sl = slice(shard.lo, shard.hi)
        xl, yl, swl = D.take(xb, sl), D.take(yb, sl), D.take(swb, sl)
        prev = _shard.set_current(shard)
        try:
            total, terms, outs, reg_val = self._local_loss(model, xl, yl, swl, shard.phantom, n_local, rows)
            grads = [None if g is None else np.asarray(g.data if hasattr(g, "data") else g)
                     for g in _grad(total, tv)]
        finally:
            _shard.set_current(prev)
        before, deltas = self._metric_deltas(metrics, yl, outs, swl, shard.phantom)
        live = [g for g in grads if g is not None]
        dtype = np.result_type(*live) if live else np.float64
        extra = len(terms) + 1 + sum(d.size for d in deltas)
        buf = self._buf = pack(grads, extra, dtype, self._buf)
        tail = buf[buf.size - extra:]
        tail[0] = sum(h.weight * t for h, t in zip(model._heads, terms))
        tail[1:1 + len(terms)] = terms
        off = 1 + len(terms)
        for d in deltas:
            tail[off:off + d.size] = d.reshape(-1)
            off += d.size
        t0 = time.perf_counter()
        _comm.comm().Allreduce(_comm.in_place(), buf, op=_comm.op("sum"))
        st = self.stats
        st["allreduce_seconds"] += time.perf_counter() - t0
        st["steps"] += 1
        st["bytes_per_step"] = buf.nbytes
        inner(model.optimizer).apply_gradients(zip(unpack(buf, grads), tv))
        tail = tail.astype(np.float64)
        self._set_metrics(metrics, before, tail[1 + len(terms):])
        parts = [None] if len(terms) == 1 else [None if h.loss is None else float(t)
                                                  for h, t in zip(model._heads, tail[1:1 + len(terms)])]
        return float(tail[0]) + reg_val, parts, None

    def _local_loss(self, model, xl, yl, swl, phantom: bool, n_local: int, rows: int):
        """(this rank's share of the loss, per-output shares as floats, outputs, penalty)."""
        prev = _set_grad_enabled(True)
        try:
            outs = model._flat_outputs(model(xl, training=True), "fit")
            parts = _local_parts(model._heads, yl, outs, swl, phantom, n_local, rows)
            total = None
            for h, p in zip(model._heads, parts):
                if p is not None:
                    term = p if h.weight == 1.0 else p * h.weight
                    total = term if total is None else total + term
            penalties = list(model.losses)
            reg_val = float(sum(float(p.data) for p in penalties))
            if _comm.comm().Get_rank() == 0:  # counted once
                for p in penalties:
                    total = total + p
        finally:
            _set_grad_enabled(prev)
        if not total.requires_grad:
            raise RuntimeError("fit: the loss does not depend on any trainable variable")
        return total, [0.0 if p is None else float(p.data) for p in parts], outs, reg_val

    @staticmethod
    def _metric_deltas(metrics, yl, outs, swl, phantom: bool):
        """Update the metrics with this rank's rows (none for a phantom row); return the
        states before and the changes."""
        before, deltas = [], []
        for i, ms in enumerate(metrics):
            for m in ms:
                old = _get_state(m)
                y, o = yl[i], outs[i].data
                sw = None if swl is None else swl[i]
                if phantom:
                    y, o, sw = y[:0], o[:0], None if sw is None else sw[:0]
                m.update_state(y, o, sw)
                new = _get_state(m)
                # a state may take its shape on the first update (AUC's labels): it was zero
                old = [b if b.shape == a.shape else np.zeros_like(a) for b, a in zip(old, new)]
                before.append(old)
                deltas.extend(a - b for a, b in zip(new, old))
        return before, deltas

    @staticmethod
    def _set_metrics(metrics, before, summed: np.ndarray) -> None:
        off, j = 0, 0
        for ms in metrics:
            for m in ms:
                vals = []
                for b in before[j]:
                    vals.append(b + summed[off:off + b.size].reshape(b.shape))
                    off += b.size
                _set_state(m, vals)
                j += 1

    # -- evaluate ----------------------------------------------------------------------
    def local_slice(self, lo: int, hi: int) -> slice:
        """This rank's contiguous part of the rows lo:hi."""
        c = _comm.comm()
        a, b = _split(hi - lo, c.Get_rank(), c.Get_size())
        return slice(lo + a, lo + b)

    def reduce_eval(self, loss_sum: float, part_sums: List[float], metrics):
        """Loss sums and metric states summed over the ranks (one Allreduce, float64);
        returns (loss_sum, part_sums) and sets the metrics' states."""
        states = [_get_state(m) for ms in metrics for m in ms]
        flat = [np.array([loss_sum] + list(part_sums), dtype=np.float64)] + [s.reshape(-1) for st in states for s in st]
        summed = _allreduce64(np.concatenate(flat))
        k = 1 + len(part_sums)
        zeros = [[np.zeros_like(s) for s in st] for st in states]
        self._set_metrics(metrics, zeros, summed[k:])
        return float(summed[0]), [float(v) for v in summed[1:k]]

    # -- predict -----------------------------------------------------------------------
    def predict(self, model, x, batch_size, verbose, callbacks):
        c = _comm.comm()
        n = D.num_samples(x, "predict")
        if n == 0:
            raise ValueError("predict: x has no samples")
        a, b = _split(n, c.Get_rank(), c.Get_size())
        local = None
        if b > a:
            local = model.predict(D.take(x, slice(a, b)), batch_size=batch_size, verbose=verbose,
                                  callbacks=callbacks, distribute=False)
        kind, keys, flat = _flatten(local)
        metas = c.allgather(None if local is None else (kind, keys, [(f.shape, f.dtype.str) for f in flat]))
        kind, keys, specs = next(m for m in metas if m is not None)
        gathered = []
        for j, (shape, dt) in enumerate(specs):
            row = int(np.prod(shape[1:], dtype=np.int64))
            counts = [0 if m is None else m[2][j][0][0] * row for m in metas]
            out = np.empty((n,) + tuple(shape[1:]), dtype=np.dtype(dt))
            send = np.ascontiguousarray(flat[j]).reshape(-1) if local is not None else np.empty(0, dtype=out.dtype)
            c.Allgatherv(send, [out.reshape(-1), counts])
            gathered.append(out)
        if kind == "array":
            return gathered[0]
        return dict(zip(keys, gathered)) if kind == "dict" else gathered


def _flatten(out):
    if out is None:
        return None, None, []
    if isinstance(out, dict):
        return "dict", list(out), [np.asarray(v) for v in out.values()]
    if isinstance(out, list):
        return "list", None, [np.asarray(v) for v in out]
    return "array", None, [np.asarray(out)]


_PLAIN_CALLS = (losses_mod.Loss.__call__, losses_mod.SparseCategoricalCrossentropy.__call__)


def _local_parts(heads, yl, outs, swl, phantom: bool, n_local: int, rows: int) -> list:
    """Each output's share of the global loss from this rank's rows: the sum of its
    per-sample values divided by the global divisor (the global batch's value count, or a
    data-dependent count such as ignore_class's summed over the ranks), computed with the
    operations one process uses, so every sample's gradient has the same bits. A loss
    that overrides ``__call__`` gets its local mean times local rows / global rows."""
    pending = []
    for i, h in enumerate(heads):
        sw = None if swl is None else swl[i]
        if h.loss is None:
            pending.append(None)
        elif type(h.loss).__call__ in _PLAIN_CALLS:
            if isinstance(h.loss, losses_mod.SparseCategoricalCrossentropy):
                h.loss._count = None
            values = h.loss.call(yl[i], as_tensor(outs[i]))
            pending.append((values, sw, getattr(h.loss, "_count", None)))
        else:
            pending.append((h.loss(yl[i], outs[i], sw) * (0.0 if phantom else n_local / rows), None, None))
    counts = [None if e is None else e[2] for e in pending]
    glob = None
    if any(c is not None for c in counts):
        glob = _allreduce64(np.array([0.0 if c is None or phantom else float(c) for c in counts]))
    parts = []
    for i, (h, e) in enumerate(zip(heads, pending)):
        if e is None or type(h.loss).__call__ not in _PLAIN_CALLS:
            parts.append(None if e is None else e[0])
            continue
        values, sw, count = e
        red = h.loss.reduction
        if red in ("sum", "none", None):
            n = None
        elif count is not None:
            n = int(glob[i])
        else:
            n = values.size * rows // max(n_local, 1)  # a phantom shard holds one row
        part = losses_mod.reduce_values(values, sw, "sum" if n is None else red, n, h.loss.name)
        parts.append(part * 0.0 if phantom else part)
    return parts
