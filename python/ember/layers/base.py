"""The Layer base class: lazy building, weights, training flag, masks, sublayers."""
from __future__ import annotations

import collections
import inspect
import itertools
import re
import threading
import weakref
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .. import backend, initializers, regularizers
from ..optimizers import set_constraint
from ..tensor import Tensor

_name_uids: "collections.Counter[str]" = collections.Counter()
# How deep the current thread is inside Layer.__call__: the outermost call clears the
# add_loss losses of the layer tree it runs, as Keras' call context does.
_call_state = threading.local()
# Layers holding add_loss values / weight regularizers: while none does (most models),
# clearing and collecting losses skips the walk over the layer tree.
_HOLDING_LOSSES: "weakref.WeakSet" = weakref.WeakSet()
_REGULARIZED: "weakref.WeakSet" = weakref.WeakSet()
# Attributes that hold Tensors or graph records, never sublayers.
_NOT_SUBLAYERS = frozenset({"_weights", "_regularized", "_losses", "_inbound_nodes", "_set_input", "_set_output"})


def _snake(name: str) -> str:
    """Keras' rule (keras.src.utils.naming.to_snake_case): Conv2D -> conv2d,
    MaxPooling2D -> max_pooling2d, LSTM -> lstm, GRUCell -> gru_cell."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(class_name: str) -> str:
    """A process-wide unique name as Keras gives it: one counter per prefix, so the first
    Dense is ``dense``, the next ``dense_1``, and a Conv2D in between does not bump them."""
    prefix = _snake(class_name)
    k = _name_uids[prefix]
    _name_uids[prefix] += 1
    return prefix if k == 0 else f"{prefix}_{k}"


def reset_names() -> None:
    """Start every name counter again (``ember.utils.clear_session``)."""
    _name_uids.clear()


def shape_of(x) -> Tuple[Optional[int], ...]:
    """The shape of a Tensor, an array, or a symbolic input (None for unknown dims)."""
    return tuple(x.shape)


def serialized_entries(layer_name: str, **items) -> dict:
    """Config entries for initializers and regularizers, ``key=(module, value)`` with module
    ``initializers`` or ``regularizers``: their JSON-able form. A plain callable cannot be
    written down: its entry is left out with a warning (rebuilding from the config then
    uses the default for that argument)."""
    import warnings
    out = {}
    for key, (module, value) in items.items():
        ser = module.serialize(value)
        if ser is None and value is not None:
            warnings.warn(f"layer '{layer_name}': {key}={value!r} is a plain callable and is not part of the "
                          "config; a model rebuilt from it uses the default", RuntimeWarning, stacklevel=3)
            continue
        out[key] = ser
    return out


class Layer:
    """Base class of all layers (Keras semantics).

    Subclasses implement ``build(input_shape)`` (create weights with ``add_weight``) and
    ``call(inputs, training=False)`` (compose differentiable ops; never hand-written
    gradients). ``__call__`` builds lazily from the first input's shape, passes
    ``training`` and ``mask`` when ``call`` accepts them, and propagates masks.

    Keyword arguments every layer accepts: ``name``, ``trainable``, ``dtype``,
    ``input_shape`` / ``batch_input_shape`` / ``input_dim`` (for the first layer of a model),
    ``activity_regularizer`` (its penalty of each output / batch size goes to ``add_loss``).
    """

    supports_masking = False

    def __init__(self, name: Optional[str] = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_input_shape=None, input_dim=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name or auto_name(type(self).__name__)
        self.trainable = trainable
        self.dtype = np.dtype(dtype or "float32")
        self.built = False
        self._weights: List[Tensor] = []
        self._regularized: List[Tuple[Tensor, object]] = []
        self._losses: List[Tensor] = []
        self.activity_regularizer = regularizers.get(activity_regularizer)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (None,) + tuple(input_shape)
        elif input_dim is not None:
            self._batch_input_shape = (None, int(input_dim))
        else:
            self._batch_input_shape = None
        sig = inspect.signature(self.call).parameters
        self._call_has_training = "training" in sig
        self._call_has_mask = "mask" in sig

    # -- to override ----------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create the weights for an input of ``input_shape`` (batch dim included)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch dim included; None for unknown dims, which
        stay None where they show through; a list of shapes for several inputs). The
        default probes the layer on zero batches under ``no_grad``, as a functional
        graph does."""
        from ..symbolic import SymbolicTensor, infer_outputs
        several = bool(input_shape) and isinstance(input_shape[0], (list, tuple))
        shapes = [tuple(s) for s in input_shape] if several else [tuple(input_shape)]
        syms = [SymbolicTensor(s, self.dtype) for s in shapes]
        out = infer_outputs(self, syms if several else syms[0], (), {})
        batch = shapes[0][0] if shapes[0] else None
        fix = lambda t: (batch,) + tuple(t.shape[1:]) if t.shape else ()  # noqa: E731
        if isinstance(out, (list, tuple)):
            return [fix(t) for t in out]
        return fix(out)

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def get_config(self) -> dict:
        cfg = {"name": self.name, "trainable": self.trainable}
        if getattr(self, "activity_regularizer", None) is not None:
            cfg.update(serialized_entries(self.name, activity_regularizer=(regularizers, self.activity_regularizer)))
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """The layer rebuilt from ``get_config()`` (without its weights)."""
        return cls(**config)

    # -- machinery --------------------------------------------------------------------
    def _maybe_build(self, inputs) -> None:
        if not self.built:
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            self.build(shape_of(first))
            self.built = True

    def __call__(self, inputs, *args, training: Optional[bool] = None, mask=None, **kwargs):
        from ..symbolic import SymbolicTensor, call_symbolic
        first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
        if isinstance(first, SymbolicTensor):
            return call_symbolic(self, inputs, args, dict(kwargs, training=training, mask=mask))
        depth = getattr(_call_state, "depth", 0)
        if depth == 0:
            self._clear_losses()
        _call_state.depth = depth + 1
        try:
            return self._call_concrete(inputs, first, args, training, mask, kwargs)
        finally:
            _call_state.depth = depth

    def _call_concrete(self, inputs, first, args, training, mask, kwargs):
        if not isinstance(first, Tensor) and not isinstance(inputs, (list, tuple)):
            arr = inputs if backend.is_array(inputs) else np.asarray(inputs)
            kind = arr.dtype.kind
            if kind not in "OSU":  # strings stay NumPy arrays for the text layers (TextVectorization)
                # host data called on a model of the current device goes there (Keras' convert_to_tensor)
                inputs = Tensor(backend.to_device(arr), dtype=self.dtype if kind == "f" else None)
                first = inputs
        self._maybe_build(inputs)
        if self._call_has_training:
            kwargs["training"] = bool(training)
        if mask is None:
            mask = getattr(first, "_mask", None) if isinstance(first, Tensor) else None
        if self._call_has_mask:
            kwargs["mask"] = mask
        out = self.call(inputs, *args, **kwargs)
        if getattr(self, "activity_regularizer", None) is not None:
            self._activity_losses(out)
        out_mask = self.compute_mask(inputs, mask)
        if out_mask is not None and isinstance(out, Tensor):
            out._mask = out_mask
        elif isinstance(out_mask, (list, tuple)) and isinstance(out, (list, tuple)) and len(out) == len(out_mask):
            for o, m in zip(out, out_mask):  # one mask per output (Keras)
                if isinstance(o, Tensor) and m is not None:
                    o._mask = m
        return out

    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable: bool = True,
                   regularizer=None, constraint=None, name: Optional[str] = None, **kwargs) -> Tensor:
        """Create, track and return a weight Tensor (``requires_grad`` when trainable).

        Keras 3's signature: ``add_weight(shape=(), initializer="glorot_uniform" (floats) /
        "zeros", dtype=None, trainable=True, regularizer=None, constraint=None, name=None)``;
        ``shape, initializer, dtype`` may also be positional. The older form with the name
        first, ``add_weight(name, shape, initializer, trainable, dtype, regularizer)``, is
        accepted too. ``regularizer`` (a name, a Regularizer or a callable ``w -> scalar``)
        adds its penalty to ``layer.losses``, which fit adds to the training loss;
        ``constraint`` (a callable ``w -> w``) is applied after every optimizer step."""
        kw = _weight_args(self.name, args, dict(kwargs, shape=shape, initializer=initializer, dtype=dtype,
                                                trainable=trainable, regularizer=regularizer,
                                                constraint=constraint, name=name))
        dt = np.dtype(kw["dtype"] or self.dtype)
        init = kw["initializer"]
        init = initializers.get(init if init is not None else ("glorot_uniform" if dt.kind == "f" else "zeros"))
        reg = regularizers.get(kw["regularizer"])
        shape = tuple(int(s) for s in (kw["shape"] if kw["shape"] is not None else ()))
        wname = kw["name"] or f"variable_{len(self._weights)}"
        trainable = bool(kw["trainable"])
        # (np.ascontiguousarray turns a 0-d array into shape (1,); a scalar weight stays ()).
        # Initializers draw on the host from the seeded generator (the same numbers on every
        # device); the weight then lives on the current device (ember.set_device).
        value = np.ascontiguousarray(init(shape, dt), dtype=dt).reshape(shape)
        w = Tensor(backend.to_device(value), requires_grad=trainable, name=f"{self.name}/{wname}")
        w.trainable = trainable
        self._weights.append(w)
        if reg is not None:
            self._regularized.append((w, reg))
            _REGULARIZED.add(self)
        if kw["constraint"] is not None:
            set_constraint(w, kw["constraint"])
        return w

    def add_variable(self, shape, initializer, dtype=None, trainable: bool = True, regularizer=None,
                     constraint=None, name: Optional[str] = None) -> Tensor:
        """Keras 3's alias of ``add_weight``."""
        return self.add_weight(shape=shape, initializer=initializer, dtype=dtype, trainable=trainable,
                               regularizer=regularizer, constraint=constraint, name=name)

    # -- losses (Keras' add_loss / layer.losses) ---------------------------------------
    def add_loss(self, loss) -> None:
        """Add a scalar loss (a Tensor, or a list of them) from inside ``call``: it is in
        ``layer.losses`` (and the model's) until the next outermost call, and fit adds it
        to the training loss (differentiably)."""
        items = loss if isinstance(loss, (list, tuple)) else [loss]
        for x in items:
            if not isinstance(x, Tensor):
                if isinstance(x, (int, float, np.ndarray, np.generic)):
                    x = Tensor(backend.to_device(np.asarray(x, dtype=self.dtype)))
                else:
                    raise ValueError(f"add_loss on layer '{self.name}': expected a Tensor (call add_loss from "
                                     f"inside call()). Received: {type(x).__name__}")
            if not hasattr(self, "_losses"):
                self._losses = []
            self._losses.append(x)
            _HOLDING_LOSSES.add(self)

    def _activity_losses(self, out) -> None:
        """Keras' activity regularization: the penalty of each output, divided by its batch
        size, as an add_loss loss."""
        for o in (out if isinstance(out, (list, tuple)) else [out]):
            if isinstance(o, Tensor):
                loss = self.activity_regularizer(o)
                self.add_loss(loss * (1.0 / o.shape[0]) if o.ndim > 0 and o.shape[0] else loss)

    def _flatten_layers(self, include_self: bool = True) -> List["Layer"]:
        """This layer (optionally) and every layer nested in it, each once."""
        out, seen, stack = [], {id(self)}, list(reversed(self._sublayers()))
        if include_self:
            out.append(self)
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers()))
        return out

    def _clear_losses(self) -> None:
        if not _HOLDING_LOSSES:
            return
        for layer in self._flatten_layers():
            if getattr(layer, "_losses", None):
                layer._losses = []
                _HOLDING_LOSSES.discard(layer)

    @property
    def losses(self) -> List[Tensor]:
        """Keras' ``layer.losses``: the losses added with ``add_loss`` during the last call
        of this layer and its sublayers, then the regularization penalties of their
        trainable weights (recomputed from the current weights at every access)."""
        if not _HOLDING_LOSSES and not _REGULARIZED:
            return []
        tree = self._flatten_layers()
        added = [p for layer in tree for p in getattr(layer, "_losses", ())]
        regularized = [(w, reg) for layer in tree for w, reg in getattr(layer, "_regularized", ())]
        if not regularized:
            return added
        trainable = {id(w) for w in self.trainable_weights}  # a frozen weight is not penalized (Keras)
        return added + [reg(w) for w, reg in regularized if id(w) in trainable]

    # -- functional-graph introspection (Keras' layer.input / layer.output) -------------
    def _first_node(self, what: str):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called on symbolic inputs (ember.Input) "
                                 f"and thus has no defined {what}")
        return nodes[0]

    # (Keras 3 layers have no such attributes of their own, so a user's layer may assign
    # them: the setters keep what it assigns, which then wins.)
    @property
    def input(self):
        """The symbolic input(s) of the first call of this layer in a functional graph."""
        if "_set_input" in self.__dict__:
            return self.__dict__["_set_input"]
        return self._first_node("input").inputs

    @input.setter
    def input(self, value) -> None:
        self.__dict__["_set_input"] = value

    @property
    def output(self):
        """The symbolic output(s) of the first call of this layer in a functional graph, e.g.
        ``Model(inputs, [l.output for l in model.layers])`` to extract features."""
        if "_set_output" in self.__dict__:
            return self.__dict__["_set_output"]
        return self._first_node("output").outputs

    @output.setter
    def output(self, value) -> None:
        self.__dict__["_set_output"] = value

    @property
    def input_shape(self):
        """The shape (batch None) of ``self.input`` (a list of shapes for several inputs)."""
        if "_set_input_shape" in self.__dict__:
            return self.__dict__["_set_input_shape"]
        if not self.__dict__.get("_inbound_nodes") and self._batch_input_shape is not None:
            return self._batch_input_shape
        return _shapes(self.input)

    @input_shape.setter
    def input_shape(self, value) -> None:
        self.__dict__["_set_input_shape"] = value

    @property
    def output_shape(self):
        """The shape (batch None) of ``self.output`` (a list of shapes for several outputs)."""
        if "_set_output_shape" in self.__dict__:
            return self.__dict__["_set_output_shape"]
        return _shapes(self.output)

    @output_shape.setter
    def output_shape(self, value) -> None:
        self.__dict__["_set_output_shape"] = value

    def _sublayers(self) -> List["Layer"]:
        out = []
        for k, v in self.__dict__.items():
            if k in _NOT_SUBLAYERS or v is None or type(v) in (str, bool, int, float):
                continue
            if isinstance(v, Layer):
                out.append(v)
            elif isinstance(v, (list, tuple)):
                out.extend(x for x in v if isinstance(x, Layer))
            elif isinstance(v, dict):
                out.extend(x for x in v.values() if isinstance(x, Layer))
        return out

    @property
    def weights(self) -> List[Tensor]:
        """All weights of this layer and its sublayers (trainable first, like Keras)."""
        return self.trainable_weights + self.non_trainable_weights

    def _all_weights(self) -> List[Tensor]:
        seen, out = set(), []
        for w in itertools.chain(self._weights, *(l._all_weights() for l in self._sublayers())):
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> List[Tensor]:
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        sub = [w for l in self._sublayers() for w in l.trainable_weights]
        return _unique(own + sub)

    @property
    def non_trainable_weights(self) -> List[Tensor]:
        if not self.trainable:
            return self._all_weights()
        own = [w for w in self._weights if not w.trainable]
        sub = [w for l in self._sublayers() for w in l.non_trainable_weights]
        return _unique(own + sub)

    trainable_variables = trainable_weights
    variables = weights

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def to(self, device: str) -> "Layer":
        """Move the weights of this layer and its sublayers to ``device`` ("cpu" or "cuda"),
        in place, and return the layer (as ``torch.nn.Module.to``). Weights are created on
        the current device (``ember.set_device``); this moves a built layer afterwards."""
        device = backend.check_device(device)
        for w in self._all_weights():
            if backend.device_of(w.data) != device:
                w.data = backend.to_device(w.data, device)
        return self

    def get_weights(self) -> List[np.ndarray]:
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, values: Iterable) -> None:
        ws = self.weights
        values = list(values)
        if len(values) != len(ws):
            raise ValueError(f"{self.name}.set_weights: expected {len(ws)} arrays, received {len(values)}")
        for w, v in zip(ws, values):
            v = v.data if isinstance(v, Tensor) else v
            v = v if backend.is_array(v) else np.asarray(v)
            if v.shape != w.shape:
                raise ValueError(f"{self.name}.set_weights: weight {w.name!r} has shape {w.shape}. "
                                 f"Received: shape={v.shape}")
            w.assign(v)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _shapes(structure):
    if isinstance(structure, (list, tuple)):
        return [_shapes(t) for t in structure]
    if isinstance(structure, dict):
        return {k: _shapes(t) for k, t in structure.items()}
    return tuple(structure.shape)


_WEIGHT_KEYS = ("shape", "initializer", "dtype", "trainable", "regularizer", "constraint", "name")
# Keras options with nothing to act on in ember (no mixed-precision autocasting, no
# replica aggregation): accepted so that Keras code runs, and ignored.
_NO_EFFECT_WEIGHT_KEYS = ("autocast", "aggregation", "synchronization")


def _weight_args(layer_name: str, args: tuple, kw: dict) -> dict:
    """add_weight's arguments as one dict: Keras 3 positional ``(shape, initializer,
    dtype)``, or ember's older ``(name, shape, initializer, trainable, dtype, regularizer)``
    when the first positional argument is a string."""
    for key in _NO_EFFECT_WEIGHT_KEYS:
        kw.pop(key, None)
    extra = sorted(set(kw) - set(_WEIGHT_KEYS))
    if extra:
        raise TypeError(f"add_weight on layer '{layer_name}': unexpected keyword argument(s) {extra}")
    order = ("name", "shape", "initializer", "trainable", "dtype", "regularizer") \
        if args and isinstance(args[0], str) else ("shape", "initializer", "dtype")
    if len(args) > len(order):
        raise TypeError(f"add_weight on layer '{layer_name}': at most {len(order)} positional arguments "
                        f"({', '.join(order)}). Received: {len(args)}")
    defaults = {"trainable": True}
    for key, value in zip(order, args):
        if kw[key] is not None and kw[key] != defaults.get(key):
            raise TypeError(f"add_weight on layer '{layer_name}': {key} given both positionally and by keyword")
        kw[key] = value
    return kw


def _unique(ws: List[Tensor]) -> List[Tensor]:
    seen, out = set(), []
    for w in ws:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out
