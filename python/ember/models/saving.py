"""Saving and loading: one .npz file holding the weights and a JSON config (no pickle),
written to a temporary file and moved into place with ``os.replace`` (atomic)."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Dict

import numpy as np

FORMAT = "ember-model-v1"


def _atomic_savez(path: str, arrays: Dict[str, np.ndarray]) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_weights(model, path: str) -> None:
    """All weights of ``model`` (in ``model.weights`` order) into an .npz file."""
    _atomic_savez(path, {f"w{i:04d}": w for i, w in enumerate(model.get_weights())})


def _read_weights(f) -> list:
    keys = sorted(k for k in f.files if k.startswith("w") and k[1:].isdigit())
    return [f[k] for k in keys]


def load_weights(model, path: str) -> None:
    with np.load(path, allow_pickle=False) as f:
        model.set_weights(_read_weights(f))


def save_model(model, path: str) -> None:
    """Architecture + weights. Sequential models only: other models save their weights
    with ``save_weights`` and are rebuilt in code."""
    from .sequential import Sequential
    if not isinstance(model, Sequential):
        raise NotImplementedError(f"save: saving the architecture of a {type(model).__name__} is not supported yet; "
                                  "use model.save_weights(path) and rebuild the model in code")
    if not model.built:
        raise ValueError("save: the model is not built yet (give it an input_shape or call it once)")
    config = {"format": FORMAT, "class_name": "Sequential", "config": model.get_config()}
    arrays = {f"w{i:04d}": w for i, w in enumerate(model.get_weights())}
    arrays["config"] = np.array(json.dumps(config))
    _atomic_savez(path, arrays)


def load_model(path: str, compile: bool = False):
    """Rebuild a model saved with ``model.save(path)`` and load its weights."""
    from .. import layers as L
    from .sequential import Sequential
    with np.load(path, allow_pickle=False) as f:
        if "config" not in f.files:
            raise ValueError(f"load_model: {path!r} holds no model config (was it written by save_weights?)")
        config = json.loads(str(f["config"]))
        weights = _read_weights(f)
    if config.get("format") != FORMAT or config.get("class_name") != "Sequential":
        raise ValueError(f"load_model: {path!r} is not an ember model file (format {config.get('format')!r})")
    cfg = config["config"]
    model = Sequential(name=cfg.get("name"))
    if cfg.get("input_shape") is not None:
        model.add(L.InputLayer(batch_shape=tuple(cfg["input_shape"]), dtype=cfg.get("input_dtype")))
    for lc in cfg["layers"]:
        cls = getattr(L, lc["class_name"], None)
        if cls is None:
            raise ValueError(f"load_model: unknown layer class {lc['class_name']!r}")
        try:
            model.add(cls(**lc["config"]))
        except TypeError as e:
            raise ValueError(f"load_model: cannot rebuild layer {lc['class_name']} from {lc['config']}: {e}") from None
    model.set_weights(weights)
    return model
