"""Input checking and batching for fit / evaluate / predict."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np

from .. import backend
from ..tensor import Tensor

Data = Union[np.ndarray, List[np.ndarray]]


def to_array(x, who: str, what: str, float_dtype=np.float32) -> np.ndarray:
    """``x`` as a C-contiguous numeric array (floating data in ``float_dtype``)."""
    if isinstance(x, Tensor):
        x = x.data
    if backend.is_device_array(x):
        a = x  # a batch already on the GPU stays there
    else:
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{who}: {what} must be a numeric array (or a list of them). Could not convert "
                            f"{type(x).__name__}: {e}") from None
    if a.dtype.kind in "US" and what.startswith("x"):
        return a  # text for a model that starts with TextVectorization (Input(dtype="string"))
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: {what} must be numeric (bool, int or float). "
                        f"Received: dtype={a.dtype}, shape={a.shape}")
    if a.ndim == 0:
        raise ValueError(f"{who}: {what} must have a batch dimension. Received: a scalar")
    if a.dtype.kind == "f" and a.dtype != float_dtype:
        a = a.astype(float_dtype)
    return backend.xp(a).ascontiguousarray(a)


def by_input_name(x: dict, names: Sequence[str], who: str, what: str = "x") -> list:
    """The values of a dict of inputs in the model's input order, matched by ``Input`` name."""
    missing = [k for k in names if k not in x]
    unknown = [k for k in x if k not in names]
    if missing or unknown:
        raise ValueError(f"{who}: {what} is a dict whose keys must be the model's input names {list(names)}. "
                         f"Received keys: {list(x)}" + (f" (missing: {missing})" if missing else "")
                         + (f" (unknown: {unknown})" if unknown else ""))
    return [x[k] for k in names]


def to_data(x, n_inputs: int, who: str, what: str = "x", float_dtype=np.float32,
            names: Optional[Sequence[str]] = None) -> Data:
    """One array, or a list of ``n_inputs`` arrays for a multi-input model (a dict is
    matched by input ``names`` when the model has them)."""
    if isinstance(x, dict):
        x = by_input_name(x, names, who, what) if names else list(x.values())
    if n_inputs > 1:
        if not isinstance(x, (list, tuple)) or len(x) != n_inputs:
            raise ValueError(f"{who}: the model has {n_inputs} inputs; pass {what} as a list of {n_inputs} arrays. "
                             f"Received: {type(x).__name__}" + (f" of length {len(x)}" if isinstance(x, (list, tuple)) else ""))
        return [to_array(a, who, f"{what}[{i}]", float_dtype) for i, a in enumerate(x)]
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        x = x[0]
    return to_array(x, who, what, float_dtype)


def num_samples(x: Data, who: str) -> int:
    if isinstance(x, list):
        ns = {a.shape[0] for a in x}
        if len(ns) != 1:
            raise ValueError(f"{who}: all inputs must have the same number of samples. Received: "
                             f"{[a.shape[0] for a in x]}")
        return ns.pop()
    return x.shape[0]


def take(x: Optional[Data], idx) -> Optional[Data]:
    """Rows ``idx`` (a slice or an index array) of ``x``."""
    if x is None:
        return None
    if isinstance(x, list):
        return [None if a is None else a[idx] for a in x]
    return x[idx]


def check_pair(x: Data, y, who: str, names: Optional[Sequence[str]] = None, sw=None) -> int:
    """The number of samples of ``x``; ``y`` (one array, or a list of arrays / None, one per
    output named in ``names``) and ``sw`` (likewise) must have as many."""
    n = num_samples(x, who)
    for what, v in (("y", y), ("sample_weight", sw)):
        if v is None:
            continue
        items = v if isinstance(v, list) else [v]
        for i, a in enumerate(items):
            if a is not None and a.shape[0] != n:
                label = f"{what}[{names[i]!r}]" if isinstance(v, list) and names and len(names) > 1 else what
                raise ValueError(f"{who}: x and {what} must have the same number of samples. "
                                 f"Received: x has {n}, {label} has {a.shape[0]}")
    return n


def split_validation(x: Data, y, sw, split: float, who: str):
    """Keras' validation_split: the last ``split`` fraction, taken before shuffling."""
    if not 0.0 <= split < 1.0:
        raise ValueError(f"{who}: validation_split must be in [0, 1). Received: {split}")
    n = num_samples(x, who)
    n_val = int(n * split)
    if n_val == 0 or n_val == n:
        raise ValueError(f"{who}: validation_split={split} leaves no training or no validation samples "
                         f"(of {n})")
    tr, va = slice(0, n - n_val), slice(n - n_val, n)
    return (take(x, tr), take(y, tr), take(sw, tr)), (take(x, va), take(y, va), take(sw, va))
