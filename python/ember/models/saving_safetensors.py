"""Weights as a safetensors file (``model.save_weights("w.safetensors")``), through the
``safetensors`` package's NumPy API (``pip install ember[safetensors]``).

Each weight is stored under its ember name (``"<layer>/<variable>"``, made unique with
``":<i>"`` when two weights share one) in ``model.weights`` order, which the file's
metadata records; loading assigns by that order and checks names' count and shapes, so a
file goes back into the same architecture bit for bit."""
from __future__ import annotations

import json

import numpy as np

from .formats import write_bytes_atomic


def _st():
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise ImportError("safetensors weights need the safetensors package: pip install 'ember[safetensors]' "
                          "(or pip install safetensors)") from None
    return stn


def _keys(model) -> list:
    keys, seen = [], set()
    for i, w in enumerate(model.weights):
        k = w.name or f"weight_{i}"
        if k in seen:
            k = f"{k}:{i}"
        seen.add(k)
        keys.append(k)
    return keys


def save_weights(model, path) -> None:
    stn = _st()
    keys = _keys(model)
    arrays = {k: np.ascontiguousarray(w.numpy()) for k, w in zip(keys, model.weights)}
    meta = {"format": "ember-weights", "order": json.dumps(keys)}
    write_bytes_atomic(path, stn.save(arrays, metadata=meta))


def load_weights(model, path) -> None:
    stn = _st()
    with open(path, "rb") as f:
        data = f.read()
    arrays = stn.load(data)
    from safetensors import safe_open  # only the header: the order ember wrote
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    order = json.loads(meta["order"]) if "order" in meta else sorted(arrays)
    ws = model.weights
    if len(order) != len(ws) or set(order) != set(arrays):
        raise ValueError(f"load_weights: {path!r} holds {len(arrays)} arrays; the model has {len(ws)} weights")
    for k, w in zip(order, ws):
        a = arrays[k]
        if a.shape != tuple(w.shape):
            raise ValueError(f"load_weights: weight {w.name} has shape {tuple(w.shape)}; the file's {k!r} has {a.shape}")
    for k, w in zip(order, ws):
        w.assign(arrays[k].astype(w.dtype, copy=False))
