"""Saving and loading: one .npz file holding the weights and a JSON config (no pickle),
written atomically (``ember.fileio.atomic_write``: temporary file, fsync, ``os.replace``).

Config format versions (the "format" key): "ember-model-v1" holds a Sequential model;
"ember-model-v2" (written now) adds functional models ("class_name": "Functional"): the
model inputs, the layers (each once, with ``get_config``), and the layer calls in graph
order, each naming the tensors it consumes as ["input", i] or [call index, output index].
Both versions load. The weights are the arrays "w0000", "w0001", ... in ``model.weights``
order."""
from __future__ import annotations

import contextvars
import json
from typing import Any, Dict, Optional

import numpy as np

from ..fileio import atomic_write

FORMAT = "ember-model-v2"
READABLE_FORMATS = ("ember-model-v1", "ember-model-v2")
_CUSTOM_OBJECTS: contextvars.ContextVar = contextvars.ContextVar("ember_custom_objects", default={})


def _atomic_savez(path: str, arrays: Dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def save_weights(model, path: str) -> None:
    """All weights of ``model`` (in ``model.weights`` order) into an .npz file (or the
    format the file name asks for: ``.weights.h5``, ``.safetensors``; see ``formats``)."""
    if _foreign("save_weights", model, path) is not _OWN:
        return
    _atomic_savez(path, {f"w{i:04d}": w for i, w in enumerate(model.get_weights())})


def _read_weights(f) -> list:
    """The weight arrays of an open .npz, in order. ember writes float32 and float64 only;
    any other dtype (complex, float16, integers, ...) means the file was not written by
    ember for this model, and casting it would load different numbers silently."""
    keys = sorted(k for k in f.files if k.startswith("w") and k[1:].isdigit())
    out = []
    for k in keys:
        a = f[k]
        if a.dtype not in (np.float32, np.float64):
            raise ValueError(f"load: weight {k} has dtype {a.dtype}; ember weight files hold float32 or float64 "
                             f"arrays. Received: dtype={a.dtype}, shape={a.shape}")
        out.append(a)
    return out


def load_weights(model, path: str) -> None:
    if _foreign("load_weights", model, path) is not _OWN:
        return
    with np.load(path, allow_pickle=False) as f:
        model.set_weights(_read_weights(f))


_OWN = object()


def _foreign(what: str, model, path):
    """Hands ``what`` to the module for a foreign format (by file name) and returns its result;
    ``_OWN`` for ember's own format."""
    from .formats import format_of, is_ember_npz
    fmt = format_of(path)
    if fmt is None or (what.startswith("load") and is_ember_npz(path)):
        return _OWN
    from . import saving_keras as K
    from . import saving_safetensors as S
    table = {("save_model", "keras"): K.save_keras, ("load_weights", "keras"): K.load_keras_weights,
             ("save_weights", "weights.h5"): K.save_weights_h5, ("load_weights", "weights.h5"): K.load_weights_h5,
             ("save_weights", "safetensors"): S.save_weights, ("load_weights", "safetensors"): S.load_weights}
    if (what, fmt) == ("load_model", "keras"):
        return K.load_keras(path)
    fn = table.get((what, fmt))
    if fn is None:
        if fmt == "keras":
            raise ValueError(f"{what}: {path!r}: a .keras file holds a whole model; use model.save(path), or name "
                             "a weights file *.weights.h5")
        raise ValueError(f"{what}: {path!r} names a {fmt} file, which holds weights only; use "
                         "model.save_weights / model.load_weights")
    return fn(model, path)


def _is_functional(model) -> bool:
    from .model import Model
    from .sequential import Sequential
    return (isinstance(model, Model) and not isinstance(model, Sequential) and bool(model._graph)
            and type(model).call is Model.call)


def _class_name(layer) -> str:
    from .model import Model
    from .sequential import Sequential
    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        if _is_functional(layer):
            return "Functional"
        raise NotImplementedError(f"save: the model contains '{layer.name}', a subclassed {type(layer).__name__} "
                                  "whose architecture is Python code; save the weights with model.save_weights(path) "
                                  "and rebuild the model in code")
    return type(layer).__name__


def _layer_config(layer) -> dict:
    return {"class_name": _class_name(layer), "config": layer.get_config()}


def functional_config(model) -> dict:
    """The JSON-able description of a functional model's graph (``Model.get_config``)."""
    from ..symbolic import SymbolicTensor, flatten
    input_layers = {id(t.layer) for t in model._inputs}
    layers, index = [], {}
    for layer in model._layers:
        if id(layer) not in input_layers and id(layer) not in index:
            index[id(layer)] = len(layers)
            layers.append(layer)
    refs: Dict[int, list] = {id(t): ["input", i] for i, t in enumerate(model._inputs)}
    for ni, node in enumerate(model._nodes):
        for j, t in enumerate(flatten(node.outputs)):
            refs[id(t)] = [ni, j]

    def enc(v, where: str):
        if isinstance(v, SymbolicTensor):
            if id(v) not in refs:
                raise ValueError(f"save: {where} uses the tensor {v!r}, which is not part of the model")
            return {"tensor": refs[id(v)]}
        if isinstance(v, list):
            return [enc(e, where) for e in v]
        if isinstance(v, tuple):
            return {"tuple": [enc(e, where) for e in v]}
        if isinstance(v, dict):
            return {"dict": [[str(k), enc(e, where)] for k, e in v.items()]}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.generic):
            return v.item()
        raise NotImplementedError(f"save: {where} was called with an argument of type {type(v).__name__}, which "
                                  "cannot be stored in the JSON config; use model.save_weights(path) instead")

    nodes = []
    for node in model._nodes:
        where = f"layer '{node.layer.name}'"
        nodes.append({"layer": index[id(node.layer)], "inputs": enc(node.inputs, where),
                      "args": enc(list(node.args), where),
                      "kwargs": {str(k): enc(v, where) for k, v in node.kwargs.items()}})
    return {"name": model.name, "trainable": model.trainable,
            "inputs": [{"name": t.layer.name, "batch_shape": list(t.shape), "dtype": t.dtype.name}
                       for t in model._inputs],
            "single_input": bool(model._single_input),
            "layers": [_layer_config(l) for l in layers],
            "nodes": nodes,
            "outputs": enc(model._outputs_struct, "the model outputs")}


def functional_from_config(cfg: dict):
    """Rebuild a functional model from ``functional_config`` (new, unbuilt-weight values)."""
    from ..layers.core import InputLayer
    from ..symbolic import flatten
    from .model import Model
    try:
        inputs = [InputLayer(batch_shape=tuple(i["batch_shape"]), dtype=i["dtype"], name=i["name"]).output
                  for i in cfg["inputs"]]
        layers = [_layer_from_config(lc) for lc in cfg["layers"]]
        produced: list = []

        def dec(v):
            if isinstance(v, list):
                return [dec(e) for e in v]
            if isinstance(v, dict):
                if "tensor" in v:
                    a, b = v["tensor"]
                    return inputs[b] if a == "input" else produced[a][b]
                if "tuple" in v:
                    return tuple(dec(e) for e in v["tuple"])
                if "dict" in v:
                    return {k: dec(e) for k, e in v["dict"]}
                raise ValueError(f"unknown entry {v!r}")
            return v

        for nd in cfg["nodes"]:
            out = layers[nd["layer"]](dec(nd["inputs"]), *dec(nd["args"]),
                                      **{k: dec(v) for k, v in nd["kwargs"].items()})
            produced.append(flatten(out))
        outputs = dec(cfg["outputs"])
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"load_model: the functional model config is malformed ({type(e).__name__}: {e})") from None
    model = Model(inputs[0] if cfg.get("single_input") else inputs, outputs, name=cfg.get("name"))
    model.trainable = cfg.get("trainable", True)
    return model


def _sequential_from_config(cfg: dict):
    from .. import layers as L
    from .sequential import Sequential
    model = Sequential(name=cfg.get("name"))
    if cfg.get("input_shape") is not None:
        model.add(L.InputLayer(batch_shape=tuple(cfg["input_shape"]), dtype=cfg.get("input_dtype")))
    for lc in cfg["layers"]:
        model.add(_layer_from_config(lc))
    return model


def _layer_from_config(lc: dict):
    from .. import layers as L
    name, cfg = lc["class_name"], lc["config"]
    if name == "Sequential":
        return _sequential_from_config(cfg)
    if name == "Functional":
        return functional_from_config(cfg)
    cls = _CUSTOM_OBJECTS.get().get(name) or getattr(L, name, None)
    if not (isinstance(cls, type) and issubclass(cls, L.Layer)):
        raise ValueError(f"load_model: unknown layer class {name!r} (pass custom_objects={{{name!r}: cls}} "
                         "for a layer defined in your code)")
    try:
        return cls.from_config(cfg)
    except TypeError as e:
        raise ValueError(f"load_model: cannot rebuild layer {name} from {cfg}: {e}") from None


def _json_default(v: Any):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.dtype):
        return v.name
    raise TypeError(f"save: a layer config holds a {type(v).__name__} ({v!r}), which cannot be stored as JSON")


def save_model(model, path: str) -> None:
    """Architecture + weights of a Sequential or functional model. A subclassed model's
    architecture is Python code: save its weights with ``save_weights`` and rebuild it in code."""
    from .sequential import Sequential
    if _foreign("save_model", model, path) is not _OWN:
        return
    if isinstance(model, Sequential):
        if not model.built:
            raise ValueError("save: the model is not built yet (give it an input_shape or call it once)")
        class_name = "Sequential"
    elif _is_functional(model):
        class_name = "Functional"
    else:
        raise NotImplementedError(f"save: {type(model).__name__} is a subclassed model (its architecture is Python "
                                  "code, which ember does not save); use model.save_weights(path), rebuild the "
                                  "model in code and call load_weights(path)")
    config = {"format": FORMAT, "class_name": class_name, "config": model.get_config()}
    try:
        text = json.dumps(config, default=_json_default)
    except TypeError as e:
        raise TypeError(str(e)) from None
    arrays = {f"w{i:04d}": w for i, w in enumerate(model.get_weights())}
    arrays["config"] = np.array(text)
    _atomic_savez(path, arrays)


def load_model(path: str, compile: bool = False, custom_objects: Optional[dict] = None):
    """Rebuild a model saved with ``model.save(path)`` and load its weights.
    ``custom_objects``: {class name: class} for layers defined outside ember. A ``.keras``
    file is read as a Keras 3 archive (``saving_keras``)."""
    model = _foreign("load_model", None, path)
    if model is not _OWN:
        return model
    with np.load(path, allow_pickle=False) as f:
        if "config" not in f.files:
            raise ValueError(f"load_model: {path!r} holds no model config (was it written by save_weights?)")
        try:
            config = json.loads(str(f["config"]))
        except RecursionError:
            raise ValueError(f"load_model: {path!r} holds a config nested too deeply to be a model") from None
        weights = _read_weights(f)
    if not isinstance(config, dict):
        raise ValueError(f"load_model: {path!r} holds a malformed config (a JSON {type(config).__name__}, "
                         "not an object)")
    fmt, class_name = config.get("format"), config.get("class_name")
    if fmt not in READABLE_FORMATS:
        raise ValueError(f"load_model: {path!r} is not an ember model file this version reads (format {fmt!r}; "
                         f"readable: {list(READABLE_FORMATS)})")
    if class_name not in ("Sequential", "Functional") or (class_name == "Functional" and fmt == "ember-model-v1"):
        raise ValueError(f"load_model: {path!r} holds an unknown model class {class_name!r} (format {fmt!r})")
    token = _CUSTOM_OBJECTS.set(dict(custom_objects or {}))
    try:
        build = _sequential_from_config if class_name == "Sequential" else functional_from_config
        model = build(config["config"])
    except (KeyError, IndexError, TypeError, AttributeError, RecursionError) as e:
        # A config that is JSON but not a model's: name the file and the fault, not a
        # Python internals error from deep inside the rebuild.
        raise ValueError(f"load_model: {path!r} holds a malformed {class_name} config "
                         f"({type(e).__name__}: {e})") from None
    finally:
        _CUSTOM_OBJECTS.reset(token)
    model.set_weights(weights)
    return model
