"""compile's specs per model output (Keras keeps these in trainers/compile_utils): each
output's loss, loss weight and metrics, from one spec, a list or a dict by output name."""
from __future__ import annotations

from typing import List

from .. import metrics as metrics_mod


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


def make_heads(names: List[str], loss, loss_weights, metrics, who: str) -> List[_Head]:
    """compile's loss / loss_weights / metrics specs resolved per output ``names``."""
    n = len(names)
    plural = f"{n} output{'s' if n != 1 else ''} {names}"

    def check_keys(d, what):
        _by_name(d, names, who, what)

    def check_len(v, what):
        if len(v) != n:
            raise ValueError(f"{who}: the model has {plural}, but {what} is a list of {len(v)}; "
                             f"pass one entry per output (or a dict keyed by output name)")

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

    lw = loss_weights
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

    ms = metrics
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
    return [_Head(name, l, w, m if l is not None else [])
            for name, l, w, m in zip(names, per_loss, weights, per_metrics)]


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
