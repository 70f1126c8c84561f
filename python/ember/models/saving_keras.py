"""The Keras 3 ``.keras`` archive and ``.weights.h5`` weights, written and read by ember.

A ``.keras`` file is a zip of ``metadata.json``, ``config.json`` (the model as Keras'
``serialize_keras_object`` writes it: layers with ``inbound_nodes`` naming the tensors they
consume as ``[layer name, node index, tensor index]``) and ``model.weights.h5``, where each
layer's variables sit in ``layers/<snake_case class name>[_<n>]/.../vars/<i>``: the group is
named after the layer's class, numbered in the order of ``model.layers``, not after the layer
(Keras' ``saving_lib._save_container_state``). For a functional model that order is the one
Keras computes when it rebuilds the graph (``keras.src.ops.function.map_graph``), which
``keras_layer_order`` reproduces. Loading runs no code from the file: only the layers in
``keras_layers.SUPPORTED`` are built, by name. h5py is needed (``pip install ember[keras]``).
"""
from __future__ import annotations

import datetime
import io
import json
import re
import warnings
import zipfile
from typing import Dict, List, Tuple

import numpy as np

from ..serialization import class_name, is_functional, json_default
from . import compile_state as CS
from . import keras_layers as KL
from .formats import write_bytes_atomic

KERAS_VERSION = "3.5.0"  # the archive layout written here is the one Keras has used since 3.0
_MAX_MEMBER = 4 << 30     # refuse archive members that claim more than 4 GiB (zip bombs)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras .keras / .weights.h5 files need h5py: pip install 'ember[keras]' "
                          "(or pip install h5py)") from None
    return h5py


def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_sequential(model) -> bool:
    from .sequential import Sequential
    return isinstance(model, Sequential)


def _check_model(model, what: str) -> None:
    if not (_is_sequential(model) or is_functional(model)):
        raise NotImplementedError(f"{what}: {type(model).__name__} is a subclassed model; its architecture is Python "
                                  "code. Use model.save_weights('w.weights.h5') and rebuild the model in code")
    if _is_sequential(model) and not model.built:
        raise ValueError(f"{what}: the model is not built yet (give it an input shape or call it once)")


# -- functional graph order (Keras' map_graph) -----------------------------------------------------
def _producer(t):
    return ("node", id(t.node)) if t.node is not None else ("input", id(t))


def keras_layer_order(model) -> list:
    """The layers of a functional model in the order Keras' ``Functional.layers`` lists them:
    by depth from the outputs (deepest first), ties by first visit of a depth-first walk from
    the outputs (a port of ``keras.src.ops.function.map_graph``)."""
    from ..symbolic import flatten
    layer_of, parents = {}, {}
    for t in model._inputs:
        layer_of[_producer(t)], parents[_producer(t)] = t.layer, []
    for node in model._nodes:
        key = ("node", id(node))
        layer_of[key], parents[key] = node.layer, [_producer(p) for p in node.parents]
    finished, order, op_index = set(), [], {}
    input_keys = {_producer(t) for t in model._inputs}

    def visit(key):
        if key in finished:
            return
        op_index.setdefault(id(layer_of[key]), len(op_index))
        if key not in input_keys:
            for p in parents[key]:
                visit(p)
        finished.add(key)
        order.append(key)

    for t in flatten(model._outputs_struct):
        visit(_producer(t))
    node_depth, op_depth, ops = {}, {}, {}
    for key in reversed(order):
        op = layer_of[key]
        depth = max(node_depth.setdefault(key, 0), op_depth.get(id(op), 0))
        op_depth[id(op)], node_depth[key], ops[id(op)] = depth, depth, op
        for p in parents[key]:
            node_depth[p] = max(depth + 1, node_depth.get(p, 0))
    for t in model._inputs:
        if id(t.layer) not in op_depth:
            op_depth[id(t.layer)], op_index[id(t.layer)], ops[id(t.layer)] = 0, -1, t.layer
    return sorted(ops.values(), key=lambda op: (-op_depth[id(op)], op_index[id(op)]))


def _model_layers(model) -> list:
    return list(model.layers) if _is_sequential(model) else keras_layer_order(model)


def _is_graph_model(layer) -> bool:
    return _is_sequential(layer) or is_functional(layer)


def _unique(base: str, used: Dict[str, int]) -> str:
    if base in used:
        used[base] += 1
        return f"{base}_{used[base]}"
    used[base] = 0
    return base


def _walk(obj, path: str, out: list, seen: set) -> None:
    """Keras' ``_save_state`` order for a layer that is not a Sequential / functional model:
    a built-in layer's variable groups, or (a subclassed model or custom layer) its own
    variables, then its layer attributes by name (private ones last), lists of layers as
    ``<attr>/<snake class>[_n]``."""
    from ..layers.base import Layer
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if _is_graph_model(obj):
        out.extend(variable_paths(obj, prefix=f"{path}/" if path else ""))
        return
    if type(obj).__module__.startswith("ember.layers."):
        out.extend((f"{path}/{sub}" if sub else path, obj, ws) for sub, ws in KL.variable_groups(obj))
        return
    own = [w for w in obj._weights if w.trainable] + [w for w in obj._weights if not w.trainable]
    out.append((path, obj, own))
    join = (lambda a: f"{path}/{a}" if path else a)
    for attr in sorted(vars(obj), key=lambda a: f"~{a}" if a.startswith("_") else a):
        v = getattr(obj, attr)
        if isinstance(v, Layer):
            _walk(v, join(attr), out, seen)
        elif isinstance(v, (list, tuple, dict)):
            used: Dict[str, int] = {}
            for e in (v.values() if isinstance(v, dict) else v):
                if isinstance(e, Layer):
                    _walk(e, f"{join(attr)}/{_unique(_snake(type(e).__name__), used)}", out, seen)


def variable_paths(model, prefix: str = "") -> List[Tuple[str, object, list]]:
    """[(h5 group path, layer, [weight Tensors])] for every layer of ``model`` (Keras' layout;
    a model used as a layer nests its own ``layers/...`` under its group)."""
    out: list = []
    if not _is_graph_model(model):
        _walk(model, "", out, set())
        return out
    used: Dict[str, int] = {}
    for layer in _model_layers(model):
        cls = ("Sequential" if _is_sequential(layer) else "Functional") if _is_graph_model(layer) else type(layer).__name__
        base = f"{prefix}layers/{_unique(_snake(cls), used)}"
        out.append((base, layer, []))
        if _is_graph_model(layer):
            out.extend(variable_paths(layer, prefix=base + "/"))
            continue
        for sub, ws in KL.variable_groups(layer):
            out.append((f"{base}/{sub}" if sub else base, layer, ws))
    return out


# -- weights (.weights.h5 and the archive's model.weights.h5) -----------------------------------------
def weights_h5_bytes(model, optimizer_meta=None, optimizer_arrays=()) -> bytes:
    h5py = _h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        if optimizer_meta is not None:
            _write_optimizer(f, CS._stepping(model.optimizer), optimizer_meta, optimizer_arrays)
        f.create_group("vars").attrs["name"] = model.name
        for path, layer, ws in variable_paths(model):
            KL.check_unused_bias(layer)
            g = (f.require_group(path) if path else f).require_group("vars")
            g.attrs["name"] = layer.name
            for i, w in enumerate(ws):
                g.create_dataset(str(i), data=w.numpy())
    return buf.getvalue()


_KERAS_ONLY_OPTIMIZER_KEYS = ("use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                               "gradient_accumulation_steps")


# Keras creates an optimizer's slots in groups (``add_optimizer_variables`` per call): the
# names of one group interleave per variable, and group after group follows. ember keeps
# each variable's slots together; these are the groups where the two orders differ.
_KERAS_SLOT_GROUPS = {"Adam": [["m", "v"], ["vhat"]], "AdamW": [["m", "v"], ["vhat"]],
                      "RMSprop": [["v"], ["momentum"], ["average_grad"]]}


def _slot_order(model) -> Tuple[list, list]:
    """([(variable index, slot name)] in ember's order, the same in Keras' order)."""
    opt = CS._stepping(model.optimizer)
    names = [opt._slot_names(v) for v in model.trainable_variables]
    ember_order = [(i, n) for i, ns in enumerate(names) for n in ns]
    groups = _KERAS_SLOT_GROUPS.get(type(opt).__name__)
    if groups is None:
        return ember_order, ember_order
    keras_order = [(i, n) for g in groups for i, ns in enumerate(names) for n in g if n in ns]
    return ember_order, keras_order


def _reorder(arrays: list, src: list, dst: list) -> list:
    if len(arrays) != len(src):
        return list(arrays)  # a count mismatch is reported by set_optimizer_state
    by_key = dict(zip(src, arrays))
    return [by_key[k] for k in dst]


# Scalar state Keras keeps as a variable after the slots (Nadam's momentum product).
_KERAS_TRAILING = {"Nadam": ("_u_product",)}


def _write_optimizer(f, opt, meta: dict, arrays) -> None:
    """Keras' layout: ``optimizer/vars/0`` the iteration count, ``1`` the learning rate (not
    for a schedule), then the slots in Keras' order (``_slot_order``), then the scalars of
    ``_KERAS_TRAILING``. ember's own record of its scalar state rides in an attribute Keras
    ignores."""
    g = f.create_group("optimizer").create_group("vars")
    g.attrs["name"] = getattr(opt, "name", "optimizer")
    g.attrs["ember_state"] = json.dumps({"scalars": meta["scalars"], "built": meta["built"]})
    values = [np.asarray(meta["iterations"], dtype=np.int64)]
    if not callable(opt._learning_rate):
        values.append(np.asarray(opt._learning_rate, dtype=np.float32))
    values += list(arrays)
    if arrays:
        values += [np.asarray(getattr(opt, a), dtype=np.float32) for a in _KERAS_TRAILING.get(type(opt).__name__, ())]
    for i, a in enumerate(values):
        g.create_dataset(str(i), data=a)


def _read_optimizer(f, model) -> tuple:
    """(meta, slot arrays in Keras' order) from the h5 file's ``optimizer/vars``."""
    g = f.get("optimizer/vars")
    if g is None:
        return None, []
    n = len(g.keys())
    values = [np.asarray(g[str(i)]) for i in range(n)]
    extra = json.loads(g.attrs.get("ember_state", "{}"))
    opt = CS._stepping(model.optimizer)
    skip = 1 if callable(opt._learning_rate) else 2
    slots = values[skip:]
    scalars = dict(extra.get("scalars", {}))
    trailing = _KERAS_TRAILING.get(type(opt).__name__, ())
    if trailing and len(slots) == len(_slot_order(model)[0]) + len(trailing):
        for name, v in zip(trailing, slots[-len(trailing):]):
            scalars.setdefault(name, float(v))
        slots = slots[:-len(trailing)]
    meta = {"iterations": int(values[0]) if values else 0, "scalars": scalars,
            "built": extra.get("built", bool(slots))}
    return meta, slots


def load_weights_h5(model, source) -> None:
    """Assign the weights in a Keras-layout h5 file (path or bytes) to ``model``'s layers."""
    h5py = _h5py()
    f = h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r")
    with f:
        wanted = variable_paths(model)
        values = []
        for path, layer, ws in wanted:
            if not ws:
                continue
            g = f.get(f"{path}/vars" if path else "vars")
            n = 0 if g is None else len(g.keys())
            if n != len(ws):
                raise ValueError(f"load_weights: layer '{layer.name}' ({type(layer).__name__}) has {len(ws)} variables "
                                 f"at '{path}'; the file holds {n} there")
            for i, w in enumerate(ws):
                a = np.asarray(g[str(i)])
                if a.dtype.kind not in "fiu":
                    raise ValueError(f"load_weights: layer '{layer.name}' variable {i} ({w.name}) holds {a.dtype} "
                                     "data; expected numbers")
                if a.shape != tuple(w.shape):
                    raise ValueError(f"load_weights: layer '{layer.name}' variable {i} ({w.name}) has shape "
                                     f"{tuple(w.shape)}; the file holds {a.shape}")
                values.append((w, a))
        known = {p for p, _, ws in wanted if ws}
        extra = []
        f.visititems(lambda name, obj: extra.append(name[:-5]) if name.endswith("/vars") and len(obj.keys()) and
                     not name.startswith("optimizer/") and
                     name[:-5] not in known else None)
        if "vars" in f and len(f["vars"].keys()) and "" not in known:
            extra.append("(the model's own variables)")
        if extra:
            raise ValueError(f"load_weights: the file holds variables for {extra}, which this model has no layer for")
    for w, a in values:
        w.assign(a.astype(w.dtype, copy=False))


# -- config: ember -> Keras ----------------------------------------------------------------------
def _layer_entry(layer) -> dict:
    if _is_graph_model(layer):
        return keras_config(layer)
    if class_name(layer) == "OpLayer":
        raise ValueError(f"save .keras: layer '{layer.name}' records ops.{layer.op} on symbolic tensors, which ember "
                         "cannot write in Keras' layout; save in ember's own format (a file name other than .keras), "
                         "or use a layer (e.g. layers.Lambda with a named function) instead")
    if hasattr(layer, "activation_name"):  # conv layers keep the name beside the function
        fn = layer.activation if layer.activation_name is None else None
    else:
        fn = getattr(layer, "activation", None)
    if callable(fn):
        raise ValueError(f"save .keras: layer '{layer.name}' has the activation {fn!r}, a Python function, which a "
                         "Keras config names but cannot hold; use a built-in activation name")
    dtype = layer.dtype.name

    def sub(lc):
        return KL.to_keras_layer(lc["class_name"], lc["config"], dtype, sub)
    return KL.to_keras_layer(class_name(layer), layer.get_config(), dtype, sub)


def _functional_config(model) -> dict:
    from ..symbolic import SymbolicTensor, flatten
    history, node_count = {}, {}
    for t in model._inputs:
        history[id(t)] = [t.layer.name, 0, 0]
    inbound: Dict[int, list] = {}

    def enc(v):
        if isinstance(v, SymbolicTensor):
            return {"class_name": "__keras_tensor__", "config": {"shape": list(v.shape), "dtype": v.dtype.name,
                                                                 "keras_history": history[id(v)]}}
        if isinstance(v, (list, tuple)):
            return [enc(e) for e in v]
        if isinstance(v, dict):
            return {str(k): enc(e) for k, e in v.items()}
        if isinstance(v, np.generic):
            return v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise NotImplementedError(f"save .keras: a layer call argument of type {type(v).__name__} cannot be written")

    for node in model._nodes:
        idx = node_count.get(id(node.layer), 0)
        node_count[id(node.layer)] = idx + 1
        inbound.setdefault(id(node.layer), []).append(
            {"args": [enc(node.inputs)] + [enc(a) for a in node.args],
             "kwargs": {k: enc(v) for k, v in node.kwargs.items() if v is not None}})
        for j, t in enumerate(flatten(node.outputs)):
            history[id(t)] = [node.layer.name, idx, j]
    layers = []
    for layer in keras_layer_order(model):
        entry = _layer_entry(layer)
        entry.update(name=layer.name, inbound_nodes=inbound.get(id(layer), []))
        layers.append(entry)

    def refs(struct):
        if isinstance(struct, SymbolicTensor):
            return history[id(struct)]
        if isinstance(struct, dict):
            raise NotImplementedError("save .keras: dict model outputs are not supported; use a list")
        return [refs(s) for s in struct]
    ins = history[id(model._inputs[0])] if model._single_input else [history[id(t)] for t in model._inputs]
    return {"name": model.name, "trainable": model.trainable, "layers": layers, "input_layers": ins,
            "output_layers": refs(model._outputs_struct)}


def keras_config(model) -> dict:
    _check_model(model, "save .keras")
    if _is_sequential(model):
        shape, dtype = model._input_spec
        layers = [KL.to_keras_layer("InputLayer", {"shape": list(shape[1:]), "dtype": np.dtype(dtype).name,
                                                   "name": (model._input_layer.name if model._input_layer else
                                                            f"{model.name}_input")}, "float32", None)]
        layers += [_layer_entry(l) for l in model.layers]
        return {"module": "keras", "class_name": "Sequential", "registered_name": None,
                "config": {"name": model.name, "trainable": model.trainable, "dtype": KL.keras_dtype("float32"),
                           "layers": layers}}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": _functional_config(model)}


def _keras_compile_config(cc: dict) -> dict:
    """ember's compile config in Keras' ``get_compile_config`` shape (module names beside the
    top-level objects, Keras' extra keys)."""
    def mod(v, module):
        if isinstance(v, list):
            return [mod(e, module) for e in v]
        if isinstance(v, dict) and "__dict__" in v:
            return {k: mod(e, module) for k, e in v["__dict__"].items()}
        if isinstance(v, dict) and "class_name" in v:
            return dict(v, module=module, registered_name=None)
        return v
    out = dict(cc, loss=mod(cc["loss"], "keras.losses"), metrics=mod(cc["metrics"], "keras.metrics"))
    opt = dict(cc["optimizer"], module="keras.optimizers", registered_name=None)
    lr = opt["config"].get("learning_rate")
    if isinstance(lr, dict) and "class_name" in lr:  # a schedule
        opt["config"] = dict(opt["config"], learning_rate=mod(lr, "keras.optimizers.schedules"))
    out["optimizer"] = opt
    out.update(weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile=False)
    return out


def save_keras(model, path: str) -> None:
    """``model`` as a Keras 3 ``.keras`` archive at ``path`` (written atomically), with its
    compile state: ``compile_config`` in config.json, the optimizer's variables under
    ``optimizer/vars`` in model.weights.h5 (Keras' layout); ember's random state in
    metadata.json (a key Keras ignores)."""
    cfg = keras_config(model)
    cc = CS.compile_config(model)
    opt_meta, opt_arrays = CS.optimizer_state(model) if cc is not None else (None, [])
    if opt_arrays:
        opt_arrays = _reorder(opt_arrays, *_slot_order(model))
    if cc is not None:
        cfg["compile_config"] = _keras_compile_config(cc)
    config = json.dumps(cfg, default=json_default)
    weights = weights_h5_bytes(model, opt_meta, opt_arrays)
    from .._version import __version__
    meta = json.dumps({"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                       "ember_version": __version__, "ember_rng_state": CS.rng_state(model)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", meta)
        zf.writestr("config.json", config)
        zf.writestr("model.weights.h5", weights)
    write_bytes_atomic(path, buf.getvalue())


def save_weights_h5(model, path: str) -> None:
    if not model.built:
        raise ValueError("save_weights: the model is not built yet (call it once or build it)")
    write_bytes_atomic(path, weights_h5_bytes(model))


# -- config: Keras -> ember ----------------------------------------------------------------------
def _ember_layer(entry: dict):
    from .. import layers as L
    if entry.get("class_name") in ("Sequential", "Functional"):
        return model_from_keras_config(entry)

    def sub(e):
        name, cfg = KL.from_keras_layer(e, sub)
        return {"class_name": name, "config": cfg}
    name, cfg = KL.from_keras_layer(entry, sub)
    try:
        return getattr(L, name).from_config(cfg)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise ValueError(f"load .keras: cannot build layer '{cfg.get('name')}' ({name}) from {cfg}: {e}") from None


def _sequential_from_keras(cfg: dict):
    from .sequential import Sequential
    model = Sequential(name=cfg.get("name"))
    for entry in cfg["layers"]:
        model.add(_ember_layer(entry))
    if not model.built and cfg.get("build_input_shape"):
        model.build(tuple(cfg["build_input_shape"]))
    return model


def _functional_from_keras(cfg: dict):
    from ..symbolic import flatten
    from .model import Model
    tensors: Dict[tuple, object] = {}

    def dec(v):
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            return tensors[tuple(v["config"]["keras_history"])]
        if isinstance(v, list):
            return [dec(e) for e in v]
        if isinstance(v, dict):
            if "class_name" in v:
                raise ValueError(f"load .keras: a layer call argument {v!r} is not supported")
            return {k: dec(e) for k, e in v.items()}
        return v

    pending = []
    for entry in cfg["layers"]:
        layer = _ember_layer(entry)
        if entry.get("class_name") == "InputLayer":
            tensors[(layer.name, 0, 0)] = layer.output
        for i, node in enumerate(entry.get("inbound_nodes") or []):
            pending.append((layer, i, node))
    while pending:
        left = []
        for layer, i, node in pending:
            try:
                args, kwargs = dec(node.get("args", [])), dec(node.get("kwargs", {}))
            except KeyError:
                left.append((layer, i, node))
                continue
            out = layer(*args, **kwargs)
            for j, t in enumerate(flatten(out)):
                tensors[(layer.name, i, j)] = t
        if len(left) == len(pending):
            raise ValueError(f"load .keras: the graph is disconnected at layers {[l.name for l, _, _ in left]}")
        pending = left

    def refs(r):
        if len(r) == 3 and isinstance(r[0], str):
            return tensors[tuple(r)]
        return [refs(x) for x in r]
    return Model(refs(cfg["input_layers"]), refs(cfg["output_layers"]), name=cfg.get("name"))


def model_from_keras_config(config: dict):
    cls, cfg = config.get("class_name"), config.get("config") or {}
    KL.check_masks(config)
    try:
        if cls == "Sequential":
            model = _sequential_from_keras(cfg)
        elif cls in ("Functional", "Model") and config.get("registered_name") in (None, "Functional"):
            model = _functional_from_keras(cfg)
        else:
            raise ValueError(f"load .keras: the model class {config.get('registered_name') or cls!r} is a subclassed "
                             "model (Python code), which ember does not load from a file")
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"load .keras: the model config is malformed ({type(e).__name__}: {e})") from None
    model.trainable = cfg.get("trainable", True)
    return model


def _read_member(zf: zipfile.ZipFile, name: str, path: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ValueError(f"load_model: {path!r} is not a Keras 3 .keras archive (no {name})") from None
    if info.file_size > _MAX_MEMBER:
        raise ValueError(f"load_model: {path!r}: {name} claims {info.file_size} bytes; refusing to extract it")
    return zf.read(name)


def load_keras_weights(model, path: str) -> None:
    """``model.load_weights("m.keras")``: the weights of a .keras archive (as Keras allows)."""
    with zipfile.ZipFile(path) as zf:
        if "model.weights.h5" not in zf.namelist():
            raise ValueError(f"load_weights: {path!r} holds no model.weights.h5")
        data = _read_member(zf, "model.weights.h5", path)
    load_weights_h5(model, data)


def _compile_from_keras(model, config: dict, weights: bytes, meta: dict, path: str) -> None:
    """Compile ``model`` as the archive's ``compile_config`` says and restore the optimizer
    variables and (an ember archive's) random state. A compile config ember cannot follow
    (a Keras-only loss, an option ember lacks) leaves the model uncompiled with a warning, as
    Keras does when ``compile_from_config`` fails."""
    from .saving import restore_compile_state
    cc = config.get("compile_config")
    if isinstance(cc, dict) and cc.get("optimizer") is not None:
        opt = cc["optimizer"]
        if isinstance(opt, dict):
            opt = dict(opt, config={k: v for k, v in (opt.get("config") or {}).items()
                                    if k not in _KERAS_ONLY_OPTIMIZER_KEYS})
        state = {"compile_config": dict({k: cc.get(k) for k in ("loss", "metrics", "loss_weights")}, optimizer=opt)}
        try:
            restore_compile_state(model, state, [], repr(path), lenient=True)
            with _h5py().File(io.BytesIO(weights), "r") as f:
                opt_meta, slots = _read_optimizer(f, model)
            ember_order, keras_order = _slot_order(model)
            slots = _reorder(slots, keras_order, ember_order)
            if opt_meta is not None:
                CS.set_optimizer_state(model, opt_meta, slots, repr(path))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            model.compiled, model.optimizer, model.loss = False, None, None
            warnings.warn(f"load_model: {path!r}: the compile state could not be restored ({e}); the model is "
                          "loaded uncompiled: compile it before fit / evaluate", stacklevel=3)
    if isinstance(meta.get("ember_rng_state"), dict):
        restore_compile_state(model, {"rng_state": meta["ember_rng_state"]}, [], repr(path))


def load_keras(path: str, compile: bool = True):
    """A model rebuilt from a Keras 3 ``.keras`` archive (its config and weights; with
    ``compile``, its compile state and optimizer variables when the archive holds them)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"load_model: {path!r} is not a Keras 3 .keras archive (not a zip file)") from None
    with zf:
        config = json.loads(_read_member(zf, "config.json", path))
        if "model.weights.h5" not in zf.namelist():
            raise ValueError(f"load_model: {path!r} holds no model.weights.h5 (npz-weight archives are not supported)")
        weights = _read_member(zf, "model.weights.h5", path)
        meta = json.loads(_read_member(zf, "metadata.json", path)) if "metadata.json" in zf.namelist() else {}
    model = model_from_keras_config(config)
    load_weights_h5(model, weights)
    if compile:
        _compile_from_keras(model, config, weights, meta if isinstance(meta, dict) else {}, path)
    return model
