"""Confusion-matrix metrics: Precision, Recall, AUC (weighted counts at thresholds)."""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from .. import backend
from ..tensor import as_array_like
from .base import (  # noqa: F401
    EPSILON, NEG_INF, Metric, _broadcast, _dev, _np, _on_device, _same_rank,
)

# ---------------------------------------------------------------------------------------
# confusion-matrix metrics
# ---------------------------------------------------------------------------------------

def _evenly_spaced(thresholds: np.ndarray) -> bool:
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=EPSILON))


def _confusion(y_true, y_pred, thresholds: np.ndarray, sample_weight, who: str, top_k=None, class_id=None,
               multi_label: bool = False, label_weights=None, clip: bool = False):
    """Weighted (tp, fp, tn, fn) at each threshold, shape (T,) or (T, labels) with
    ``multi_label``; Keras' update_confusion_matrix_variables."""
    yt = _np(y_true).astype(np.float64, copy=False)
    yp = _np(y_pred).astype(np.float64, copy=False)
    yp, yt = _same_rank(yp, yt)
    if yt.shape != yp.shape:
        raise ValueError(f"{who}: y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={_np(y_true).shape}, y_pred.shape={_np(y_pred).shape}")
    w = None
    if sample_weight is not None:
        w = _np(sample_weight).astype(np.float64, copy=False)[..., None]
        _, w = _same_rank(yt, w, expand_rank_1=False)
        w = _broadcast(w, yp.shape, who)
    if top_k is not None:
        if yp.ndim == 0:
            raise ValueError(f"{who}: top_k needs predictions with a class axis")
        idx = np.argsort(-yp, axis=-1, kind="stable")[..., :int(top_k)]
        keep = np.zeros(yp.shape, dtype=bool)
        np.put_along_axis(keep, idx, True, axis=-1)
        yp = np.where(keep, yp, NEG_INF)
    if class_id is not None:
        if yp.ndim < 2:
            raise ValueError(f"{who}: class_id needs y_pred of shape (num_samples, num_classes). "
                             f"Received: {yp.shape}")
        c = int(class_id)
        if not -yp.shape[-1] <= c < yp.shape[-1]:
            raise ValueError(f"{who}: class_id={class_id} is out of range for {yp.shape[-1]} classes")
        yt, yp = yt[..., c, None], yp[..., c, None]
        w = None if w is None else w[..., c, None]
    if clip:
        yp = np.clip(yp, 0.0, 1.0)
    yp = np.where(np.isnan(yp), -np.inf, yp)  # NaN is never > a threshold
    pos = yt != 0
    if label_weights is not None and not multi_label:
        lw = _broadcast(np.asarray(label_weights, np.float64), yp.shape, who, "label_weights")
        w = lw if w is None else w * lw
    if multi_label:
        if yp.ndim != 2:
            raise ValueError(f"{who}: y_pred must have rank 2 (samples, labels) with multi_label=True. "
                             f"Received: {yp.shape}")
        cols = [_confusion_1d(pos[:, j], yp[:, j], None if w is None else w[:, j], thresholds)
                for j in range(yp.shape[1])]
        return tuple(np.stack([c[i] for c in cols], axis=1) for i in range(4))
    return _confusion_1d(pos.reshape(-1), yp.reshape(-1), None if w is None else w.reshape(-1), thresholds)


def _confusion_1d(pos: np.ndarray, p: np.ndarray, w: Optional[np.ndarray], thresholds: np.ndarray):
    T = len(thresholds)
    order = np.argsort(thresholds, kind="stable")
    above = np.searchsorted(thresholds[order], p, side="left")  # how many thresholds are < p
    w = np.ones(p.shape) if w is None else w
    wp, wn = np.where(pos, w, 0.0), np.where(pos, 0.0, w)

    def counts(weights):
        b = np.bincount(above, weights=weights, minlength=T + 1)
        tail = np.cumsum(b[::-1])[::-1]  # tail[j] = weight of predictions above > j - 1 thresholds
        out = np.empty(T)
        out[order] = tail[1:]
        return out

    tp, fp = counts(wp), counts(wn)
    return tp, fp, wn.sum() - fp, wp.sum() - tp


def _confusion_on_device(y_true, y_pred, thresholds, sample_weight, who: str, class_id=None, clip: bool = False):
    """``_confusion`` for device arrays (no top_k, one label set), staying on the device: the
    counts at threshold j are the weight sums over ``p > thresholds[j]`` (an (n, T) mask
    reduced over n), which is what the host's histogram and tail sums count, without
    atomics (a device bincount of weights adds with atomics, in no fixed order)."""
    yp = _dev(y_pred)
    xp = backend.xp(yp)
    yt = as_array_like(_dev(y_true), yp).astype(np.float64)
    yp, yt = _same_rank(yp.astype(np.float64), yt)
    if yt.shape != yp.shape:
        raise ValueError(f"{who}: y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={tuple(yt.shape)}, y_pred.shape={tuple(yp.shape)}")
    w = None
    if sample_weight is not None:
        w = as_array_like(_dev(sample_weight), yp).astype(np.float64)[..., None]
        _, w = _same_rank(yt, w, expand_rank_1=False)
        try:
            w = xp.broadcast_to(w, yp.shape)
        except ValueError:
            raise ValueError(f"{who}: sample_weight of shape {tuple(w.shape)} does not broadcast to the values "
                             f"of shape {tuple(yp.shape)}") from None
    if class_id is not None:
        c = int(class_id)
        if yp.ndim < 2 or not -yp.shape[-1] <= c < yp.shape[-1]:
            return None  # the host path raises its error
        yt, yp = yt[..., c, None], yp[..., c, None]
        w = None if w is None else w[..., c, None]
    if clip:
        yp = xp.clip(yp, 0.0, 1.0)
    p = xp.where(xp.isnan(yp), -np.inf, yp).reshape(-1)
    pos = (yt != 0).reshape(-1)
    w = xp.ones(p.shape, np.float64) if w is None else w.reshape(-1)
    wp, wn = xp.where(pos, w, 0.0), xp.where(pos, 0.0, w)
    above = p[:, None] > xp.asarray(thresholds)[None, :]
    tp, fp = (wp[:, None] * above).sum(axis=0), (wn[:, None] * above).sum(axis=0)
    return tp, fp, wn.sum() - fp, wp.sum() - tp


def _div(a, b):
    """divide_no_nan: a / b, 0 where b == 0."""
    if backend.is_device_array(a) or backend.is_device_array(b):
        xp = backend.xp(a, b)
        nz = b != 0
        return xp.where(nz, a, 0.0) / xp.where(nz, b, 1.0)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=b != 0)


def _thresholds(thresholds, default: float, who: str) -> np.ndarray:
    t = np.atleast_1d(np.asarray(default if thresholds is None else thresholds, dtype=np.float64))
    if thresholds is not None and (t.ndim != 1 or np.any(~((t >= 0) & (t <= 1)))):
        raise ValueError(f"{who}: threshold values must be in [0, 1]. Received: {thresholds}")
    return t


class _ConfusionMetric(Metric):
    """Precision / Recall: counts at ``thresholds`` (default 0.5; with ``top_k``, only the
    k highest predictions of each row are positive); ``class_id`` restricts to one class."""

    _direction = "up"

    def __init__(self, thresholds=None, top_k: Optional[int] = None, class_id: Optional[int] = None,
                 name: Optional[str] = None, dtype=None):
        who = type(self).__name__
        if top_k is not None and (int(top_k) != top_k or top_k < 1):
            raise ValueError(f"{who}: top_k must be a positive integer. Received: {top_k}")
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF, who)
        self._clip = _evenly_spaced(self.thresholds)
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        who = type(self).__name__
        counts = None
        if self.top_k is None and _on_device(y_true, y_pred):  # counts kept on the device: no read per batch
            counts = _confusion_on_device(y_true, y_pred, self.thresholds, sample_weight, who, self.class_id,
                                          self._clip)
        if counts is None:
            counts = _confusion(y_true, y_pred, self.thresholds, sample_weight, who, self.top_k, self.class_id,
                                clip=self._clip)
        on_device = backend.is_device_array(counts[0])
        names = ("true_positives", "false_positives", "true_negatives", "false_negatives")
        for name, c in zip(names, counts):
            state = getattr(self, name)
            if on_device != backend.is_device_array(state):  # the state follows the data's device
                state = as_array_like(state, c) if on_device else backend.to_numpy(state).copy()
            state += c
            setattr(self, name, state)

    def _value(self) -> np.ndarray:
        raise NotImplementedError

    def result(self):
        """A float for one threshold, an array (one value per threshold) otherwise."""
        r = self._value()
        if backend.is_device_array(r):  # read where the logs are (see models/logs.py)
            return r[0] if len(self.thresholds) == 1 else r
        return float(r[0]) if len(self.thresholds) == 1 else r

    def get_config(self) -> dict:
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """tp / (tp + fp) at ``thresholds`` (0 when nothing is predicted positive)."""

    def _value(self):
        return _div(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """tp / (tp + fn) at ``thresholds`` (0 when there is no positive label)."""

    def _value(self):
        return _div(self.true_positives, self.true_positives + self.false_negatives)


class AUC(Metric):
    """Area under the ROC (``curve="ROC"``) or precision-recall (``"PR"``) curve, from
    confusion counts at ``num_thresholds`` evenly spaced thresholds in [0, 1] (Keras'
    approximation: the exact area is approached as ``num_thresholds`` grows; it is exact
    when no two distinct predictions fall between the same two thresholds).
    ``summation_method``: "interpolation" (trapezoids; for PR the Davis & Goadrich
    interpolation), "minoring" or "majoring". ``multi_label``: one curve per label column,
    averaged (weighted by ``label_weights``); otherwise all entries form one curve.
    ``from_logits``: apply a sigmoid to the predictions first."""

    _direction = "up"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: Optional[str] = None, dtype=None, thresholds=None, multi_label: bool = False,
                 num_labels: Optional[int] = None, label_weights=None, from_logits: bool = False):
        if curve not in ("ROC", "PR", "roc", "pr"):
            raise ValueError(f'AUC: invalid curve "{curve}". Expected "ROC" or "PR"')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'AUC: invalid summation_method "{summation_method}". '
                             'Expected "interpolation", "minoring" or "majoring"')
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, 0.5, "AUC").tolist())
            self.num_thresholds = len(inner) + 2
            self._init_from_thresholds = True
        else:
            if int(num_thresholds) != num_thresholds or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1. Received: {num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._init_from_thresholds = False
        self._evenly = thresholds is None or _evenly_spaced(np.array([0.0] + inner + [1.0]))
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        self.curve, self.summation_method = curve.upper(), summation_method
        if num_labels is not None and not multi_label:
            raise ValueError("AUC: num_labels is needed only when multi_label is True")
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float64)
        self.from_logits = bool(from_logits)
        super().__init__(name, dtype)
        self.reset_state()

    @property
    def thresholds(self) -> List[float]:
        return list(self._thresholds)

    def reset_state(self) -> None:
        shape = (self.num_thresholds,) if not self.multi_label or self.num_labels is None \
            else (self.num_thresholds, self.num_labels)
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        yp = _np(y_pred).astype(np.float64, copy=False)
        if self.from_logits:
            yp = 1.0 / (1.0 + np.exp(-yp))
        tp, fp, tn, fn = _confusion(y_true, yp, self._thresholds, sample_weight, "AUC",
                                    multi_label=self.multi_label,
                                    label_weights=None if self.multi_label else self.label_weights,
                                    clip=self._evenly)
        if self.multi_label and self.true_positives.shape != tp.shape:
            if self.true_positives.ndim == 2 or self.true_positives.any() or self.false_positives.any():
                raise ValueError(f"AUC: y_pred has {tp.shape[1]} labels, the metric was built for "
                                 f"{self.true_positives.shape[-1]}")
            self.true_positives, self.false_positives = np.zeros(tp.shape), np.zeros(tp.shape)
            self.true_negatives, self.false_negatives = np.zeros(tp.shape), np.zeros(tp.shape)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _average(self, by_label: np.ndarray) -> float:
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_div(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr_auc(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        inc = _div(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        return self._average(np.sum(inc, axis=0))

    def result(self) -> float:
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(np.sum((x[:-1] - x[1:]) * heights, axis=0))

    def get_config(self) -> dict:
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "from_logits": self.from_logits,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist()}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


