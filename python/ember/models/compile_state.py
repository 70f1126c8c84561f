"""The compile state a saved model keeps, as Keras' ``get_compile_config`` /
``compile_from_config`` and its optimizer variables: the optimizer (its config, iteration
count and slot variables), the loss, the metrics and the loss weights; and, beyond Keras,
the random state (ember's global generator and each layer's own generator or
``SeedGenerator``), so that a run resumed from a file continues bit for bit as the run that
wrote it would have (same shuffles, same dropout masks).

Everything here is JSON plus arrays: nothing in a file is ever run as code."""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

import numpy as np

from .. import backend
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from .. import random as erandom
from ..serialization import callable_config, from_object_config, object_config


# -- compile config -------------------------------------------------------------------------
def _metric_spec(m):
    if m is None or isinstance(m, str):
        return m
    if isinstance(m, (list, tuple)):
        return [_metric_spec(e) for e in m]
    if isinstance(m, dict):
        return {"__dict__": {k: _metric_spec(v) for k, v in m.items()}}
    if isinstance(m, type):
        return {"class_name": m.__name__, "config": {}}
    if isinstance(m, metrics_mod.Metric):
        return object_config(m)
    return callable_config(m)


def _loss_spec(loss):
    if loss is None:
        return None
    if isinstance(loss, (list, tuple)):
        return [_loss_spec(l) for l in loss]
    if isinstance(loss, dict):
        return {"__dict__": {k: _loss_spec(v) for k, v in loss.items()}}
    return object_config(loss)


def _stepping(opt):
    """The optimizer that holds the state: a wrapper's inner one (``DistributedOptimizer``
    keeps its Optimizer as ``.optimizer``); the file records that one."""
    while not isinstance(opt, optimizers_mod.Optimizer) and isinstance(getattr(opt, "optimizer", None),
                                                                         optimizers_mod.Optimizer):
        opt = opt.optimizer
    return opt


def _optimizer_spec(opt) -> dict:
    opt = _stepping(opt)
    entry = object_config(opt)
    lr = getattr(opt, "_learning_rate", None)
    if callable(lr):
        entry["config"]["learning_rate"] = callable_config(lr)
    return entry


def compile_config(model) -> Optional[dict]:
    """The JSON-able compile arguments of a compiled ``model`` (None when not compiled, or
    with a warning when a part cannot be written, as Keras does)."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    try:
        return {"optimizer": _optimizer_spec(model.optimizer), "loss": _loss_spec(model.loss),
                "metrics": _metric_spec(getattr(model, "_metrics_spec", None)),
                "loss_weights": getattr(model, "_loss_weights_spec", None)}
    except (TypeError, ValueError, AttributeError) as e:
        warnings.warn(f"save: the compile state of '{model.name}' cannot be written ({e}); the model is saved "
                      "uncompiled, compile it again after load_model", stacklevel=3)
        return None


def _decode(v, modules: list, what: str, lenient: bool):
    if isinstance(v, list):
        return [_decode(e, modules, what, lenient) for e in v]
    if isinstance(v, dict) and "__dict__" in v:
        return {k: _decode(e, modules, what, lenient) for k, e in v["__dict__"].items()}
    if isinstance(v, dict) and ("class_name" in v or "function" in v):
        return from_object_config(v, modules, what, lenient)
    if isinstance(v, dict):  # Keras writes a dict of losses / metrics by output name as a plain dict
        return {k: _decode(e, modules, what, lenient) for k, e in v.items()}
    return v


def compile_from_config(model, config: dict, lenient: bool = False) -> None:
    """``model.compile`` with the arguments ``compile_config`` wrote (custom losses and metrics
    come from the ``custom_objects`` in scope; ``lenient`` for a config Keras wrote)."""
    opt = config["optimizer"]
    if isinstance(opt, dict):
        opt = from_object_config(opt, [optimizers_mod, optimizers_mod.schedules], "optimizer", lenient)
    model.compile(optimizer=opt, loss=_decode(config.get("loss"), [losses_mod], "loss", lenient),
                  metrics=_decode(config.get("metrics"), [metrics_mod, losses_mod], "metric", lenient),
                  loss_weights=config.get("loss_weights"))


# -- optimizer variables --------------------------------------------------------------------
def _scalars(opt) -> dict:
    """Per-optimizer scalar state beyond the iteration count (Nadam's momentum product ...):
    the private float attributes other than the learning rate."""
    return {k: float(v) for k, v in vars(opt).items()
            if k.startswith("_") and k != "_learning_rate" and isinstance(v, float)}


def optimizer_state(model) -> Tuple[dict, List[np.ndarray]]:
    """({"iterations", "scalars", "built"}, slot arrays): each trainable variable's slots in
    ``model.trainable_variables`` order, each in the optimizer's slot-name order (Keras
    interleaves them per variable the same way). No arrays before the first step."""
    opt = _stepping(model.optimizer)
    tv = model.trainable_variables
    states = [opt._state.get(id(v)) for v in tv] if hasattr(opt, "_state") else []
    built = bool(tv) and all(s is not None and s[0] is v for s, v in zip(states, tv))
    arrays = [backend.to_numpy(a) for s in states for a in s[1].values()] if built else []
    return {"iterations": int(opt.iterations), "scalars": _scalars(opt), "built": built}, arrays


def set_optimizer_state(model, meta: dict, arrays: List[np.ndarray], where: str) -> None:
    opt = model.optimizer
    opt.iterations = int(meta.get("iterations", 0))
    for k, v in (meta.get("scalars") or {}).items():
        if k in vars(opt):
            setattr(opt, k, float(v))
    if not meta.get("built"):
        return
    it = iter(arrays)
    for v in model.trainable_variables:
        slots = opt._slots(v)
        for name, cur in slots.items():
            a = next(it, None)
            if a is None or a.shape != cur.shape:
                raise ValueError(f"load_model: {where}: the optimizer state does not match the model (slot {name!r} "
                                 f"of {v.name!r}, shape {cur.shape}; the file holds "
                                 f"{None if a is None else a.shape})")
            cur[...] = backend.xp(cur).asarray(a, dtype=cur.dtype)  # on the slot's device
    if next(it, None) is not None:
        raise ValueError(f"load_model: {where}: the file holds more optimizer variables than the model has")


# -- random state ---------------------------------------------------------------------------
def _layers(model) -> list:
    out, seen, stack = [], set(), [model]
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(layer._sublayers())
    return out


def rng_state(model) -> dict:
    """ember's global generator and every layer's own generator / SeedGenerator state."""
    layers = []
    for i, layer in enumerate(_layers(model)):
        for attr, v in sorted(vars(layer).items()):
            if isinstance(v, np.random.Generator):
                layers.append([i, attr, "generator", v.bit_generator.state])
            elif isinstance(v, erandom.SeedGenerator):
                layers.append([i, attr, "seed", [int(s) for s in v.state]])
    return {"global": erandom.generator().bit_generator.state, "layers": layers}


def set_rng_state(model, state: dict) -> None:
    """Restore ``rng_state``; the global generator too, which the run that continues from
    the file draws its shuffles and dropout masks from."""
    if state.get("global"):
        erandom.generator().bit_generator.state = state["global"]
    layers = _layers(model)
    for i, attr, kind, s in state.get("layers", []):
        v = getattr(layers[i], attr, None) if i < len(layers) else None
        if kind == "generator" and isinstance(v, np.random.Generator):
            v.bit_generator.state = s
        elif kind == "seed" and isinstance(v, erandom.SeedGenerator):
            v.state[...] = np.asarray(s, dtype=v.state.dtype)
