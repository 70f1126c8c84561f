"""Config serialization shared by layers, models, callbacks and export (Keras keeps the same
in ``keras.src.saving.serialization_lib``).

This module sits below the layers and the models and imports neither: the classes a config
may name are registered by the packages that define them (``ember.layers`` registers its
layers, ``ember.models`` its Sequential and functional builders), and a model tells what it
is through ``_graph_kind()``. That keeps ``layers -> serialization <- models`` free of the
import cycle it would be if layers reached up into ``models.saving`` for these helpers.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
from typing import Any, Callable, Dict, Iterator, Optional

import numpy as np

_CUSTOM_OBJECTS: contextvars.ContextVar = contextvars.ContextVar("ember_custom_objects", default={})
_LAYER_NAMESPACES: list = []                      # modules whose attributes are built-in layer classes
_MODEL_BUILDERS: Dict[str, Callable[[dict], Any]] = {}  # "Sequential" / "Functional" -> builder(config)


def register_layer_namespace(namespace) -> None:
    """Make the layer classes that are attributes of ``namespace`` (a module) loadable by
    name (``ember.layers`` registers itself; names added to it later are found too)."""
    if namespace not in _LAYER_NAMESPACES:
        _LAYER_NAMESPACES.append(namespace)


def _builtin_layer(name: str):
    for ns in _LAYER_NAMESPACES:
        cls = getattr(ns, name, None)
        if cls is not None:
            return cls
    return None


def register_model_builder(class_name: str, build: Callable[[dict], Any]) -> None:
    """``build(config) -> model`` for a model class a config names (called by ``ember.models``)."""
    _MODEL_BUILDERS[class_name] = build


def custom_objects() -> dict:
    """The custom objects of the ``load_model`` / ``from_config`` call now running."""
    return _CUSTOM_OBJECTS.get()


@contextlib.contextmanager
def custom_object_scope(objects: Optional[dict]) -> Iterator[None]:
    """Within the block, configs may name the classes and functions in ``objects``
    ({name: object}), as ``keras.saving.custom_object_scope``; scopes nest."""
    token = _CUSTOM_OBJECTS.set({**_CUSTOM_OBJECTS.get(), **dict(objects or {})})
    try:
        yield
    finally:
        _CUSTOM_OBJECTS.reset(token)


# -- what a model is ------------------------------------------------------------------------
def graph_kind(obj) -> Optional[str]:
    """"Sequential", "Functional", or None (a layer, or a subclassed model whose
    architecture is Python code)."""
    kind = getattr(obj, "_graph_kind", None)
    return kind() if callable(kind) else None


def is_functional(obj) -> bool:
    return graph_kind(obj) == "Functional"


def is_sequential(obj) -> bool:
    return graph_kind(obj) == "Sequential"


def is_model(obj) -> bool:
    return callable(getattr(obj, "_graph_kind", None))


def class_name(layer) -> str:
    """The class name a config stores for ``layer``; a subclassed model raises."""
    kind = graph_kind(layer)
    if kind is not None:
        return kind
    if is_model(layer):
        raise NotImplementedError(f"save: the model contains '{layer.name}', a subclassed {type(layer).__name__} "
                                  "whose architecture is Python code; save the weights with model.save_weights(path) "
                                  "and rebuild the model in code")
    return type(layer).__name__


def layer_config(layer) -> dict:
    return {"class_name": class_name(layer), "config": layer.get_config()}


def layer_from_config(lc: dict):
    """A layer (or nested model) from ``layer_config``'s output: custom objects first, then
    the registered built-in classes."""
    name, cfg = lc["class_name"], lc["config"]
    if name in _MODEL_BUILDERS:
        return _MODEL_BUILDERS[name](cfg)
    cls = custom_objects().get(name) or _builtin_layer(name)
    if not (isinstance(cls, type) and hasattr(cls, "from_config") and hasattr(cls, "get_config")):
        raise ValueError(f"load_model: unknown layer class {name!r} (pass custom_objects={{{name!r}: cls}} "
                         "for a layer defined in your code)")
    try:
        return cls.from_config(cfg)
    except TypeError as e:
        raise ValueError(f"load_model: cannot rebuild layer {name} from {cfg}: {e}") from None


def json_default(v: Any):
    """``json.dumps(default=)`` for the NumPy values configs hold."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.dtype):
        return v.name
    raise TypeError(f"save: a config holds a {type(v).__name__} ({v!r}), which cannot be stored as JSON")


# -- plain objects (optimizers, losses, metrics, schedules) ---------------------------------
def _jsonable(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_jsonable(e) for e in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _jsonable(e) for k, e in v.items())
    return False


def object_config(obj) -> dict:
    """``{"class_name", "config"}`` for an object rebuilt by ``cls(**config)``: its
    ``get_config()`` completed with the constructor arguments it keeps as attributes of the
    same name (``from_logits``, ``label_smoothing``, ``beta_1`` ...). A value that is not
    plain data (a function, a schedule) is serialized in turn."""
    cfg = dict(obj.get_config()) if hasattr(obj, "get_config") else {}
    own = set(cfg)
    try:
        params = inspect.signature(type(obj).__init__).parameters
    except (TypeError, ValueError):
        params = {}
    for p in params:
        if p not in ("self", "args", "kwargs") and p not in cfg and hasattr(obj, p):
            cfg[p] = getattr(obj, p)
    for k, v in list(cfg.items()):
        if isinstance(v, np.generic):
            v = cfg[k] = v.item()
        if k not in params and k not in own:
            cfg.pop(k)
        elif not _jsonable(v):
            cfg[k] = callable_config(v)
    return {"class_name": type(obj).__name__, "config": cfg}


def callable_config(v) -> dict:
    """A function or callable object named so ``from_object_config`` finds it again."""
    if inspect.isfunction(v) or inspect.isbuiltin(v):
        return {"function": v.__name__, "module": v.__module__}
    return object_config(v)


def _accepted(cls) -> Optional[set]:
    """The keyword names ``cls``'s constructors take (its own and those it forwards
    ``**kwargs`` to up the MRO); None when one takes ``**kwargs`` it does not forward."""
    names: set = set()
    for c in cls.__mro__:
        if "__init__" not in vars(c) or c is object:
            continue
        try:
            params = inspect.signature(vars(c)["__init__"]).parameters
        except (TypeError, ValueError):
            return None
        names |= {p for p, v in params.items() if v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}
        if not any(v.kind == v.VAR_KEYWORD for v in params.values()):
            return names
    return names


def from_object_config(entry, modules: list, what: str, lenient: bool = False):
    """The object ``object_config`` / ``callable_config`` describes, looked up in the custom
    objects, then in ``modules`` (by class or function name). ``lenient``: drop the config
    keys the class's constructors do not name (a config Keras wrote holds options ember
    lacks, such as ``dtype``)."""
    if not isinstance(entry, dict):
        return entry
    name = entry.get("function") or entry.get("class_name")
    found = custom_objects().get(name)
    for m in modules:
        if found is None:
            found = getattr(m, name, None)
    if found is None:
        raise ValueError(f"load_model: the saved {what} names {name!r}, which is not an ember {what}; pass "
                         f"custom_objects={{{name!r}: ...}}")
    if "function" in entry:
        return found
    cfg = {k: (from_object_config(v, modules, what, lenient) if isinstance(v, dict) and
               ("function" in v or "class_name" in v) else v)
           for k, v in (entry.get("config") or {}).items()}
    if lenient and isinstance(found, type):
        accepted = _accepted(found)
        if accepted is not None:
            cfg = {k: v for k, v in cfg.items() if k in accepted}
    if hasattr(found, "from_config"):
        return found.from_config(cfg)
    return found(**cfg)
