"""The Layer base class: lazy building, weights, training flag, masks, sublayers."""
from __future__ import annotations

import collections
import inspect
import itertools
import re
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .. import initializers, regularizers
from ..tensor import Tensor

_name_uids: "collections.Counter[str]" = collections.Counter()


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
    ``input_shape`` / ``batch_input_shape`` / ``input_dim`` (for the first layer of a model).
    """

    supports_masking = False

    def __init__(self, name: Optional[str] = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name or auto_name(type(self).__name__)
        self.trainable = trainable
        self.dtype = np.dtype(dtype or "float32")
        self.built = False
        self._weights: List[Tensor] = []
        self._regularized: List[Tuple[Tensor, object]] = []
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
        """Output shape for ``input_shape`` (batch dim may be None). The default runs the
        layer on a zero batch of one under ``no_grad`` and reads the result."""
        from ..tensor import no_grad
        shape = tuple(1 if s is None else s for s in input_shape)
        with no_grad():
            out = self(Tensor(np.zeros(shape, dtype=self.dtype)))
        if isinstance(out, (list, tuple)):
            return [(input_shape[0],) + tuple(o.shape[1:]) for o in out]
        return (input_shape[0],) + tuple(out.shape[1:])

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}

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
        if not isinstance(first, Tensor) and not isinstance(inputs, (list, tuple)):
            kind = np.asarray(inputs).dtype.kind
            if kind not in "OSU":  # strings stay NumPy arrays for the text layers (TextVectorization)
                inputs = Tensor(inputs, dtype=self.dtype if kind == "f" else None)
        self._maybe_build(inputs)
        if self._call_has_training:
            kwargs["training"] = bool(training)
        if mask is None:
            mask = getattr(first, "_mask", None) if isinstance(first, Tensor) else None
        if self._call_has_mask:
            kwargs["mask"] = mask
        out = self.call(inputs, *args, **kwargs)
        out_mask = self.compute_mask(inputs, mask)
        if out_mask is not None and isinstance(out, Tensor):
            out._mask = out_mask
        return out

    def add_weight(self, name: str, shape: Sequence[int], initializer="glorot_uniform",
                   trainable: bool = True, dtype=None, regularizer=None) -> Tensor:
        """Create, track and return a weight Tensor (``requires_grad`` when trainable).
        ``regularizer`` (a name, a Regularizer or a callable ``w -> scalar Tensor``) adds
        its penalty to ``layer.losses``, which fit adds to the training loss."""
        init = initializers.get(initializer)
        reg = regularizers.get(regularizer)
        dt = np.dtype(dtype or self.dtype)
        shape = tuple(int(s) for s in shape)
        # (np.ascontiguousarray turns a 0-d array into shape (1,); a scalar weight stays ())
        w = Tensor(np.ascontiguousarray(init(shape, dt), dtype=dt).reshape(shape),
                   requires_grad=trainable, name=f"{self.name}/{name}")
        w.trainable = trainable
        self._weights.append(w)
        if reg is not None:
            self._regularized.append((w, reg))
        return w

    @property
    def losses(self) -> List[Tensor]:
        """The regularization penalties of this layer's own weights (Tensors, recomputed
        from the current weights at every access), like Keras' ``layer.losses``."""
        return [reg(w) for w, reg in self._regularized]

    def _sublayers(self) -> List["Layer"]:
        out = []
        for v in self.__dict__.values():
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

    def get_weights(self) -> List[np.ndarray]:
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, values: Iterable) -> None:
        ws = self.weights
        values = list(values)
        if len(values) != len(ws):
            raise ValueError(f"{self.name}.set_weights: expected {len(ws)} arrays, received {len(values)}")
        for w, v in zip(ws, values):
            v = np.asarray(v)
            if v.shape != w.shape:
                raise ValueError(f"{self.name}.set_weights: weight {w.name!r} has shape {w.shape}. "
                                 f"Received: shape={v.shape}")
            w.assign(v)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _unique(ws: List[Tensor]) -> List[Tensor]:
    seen, out = set(), []
    for w in ws:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out
