"""``ember.Sequential``: a Model whose graph is a chain of layers."""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from ..layers.base import Layer
from ..layers.core import Input, InputLayer
from ..serialization import layer_config
from ..symbolic import SymbolicTensor
from . import fusion
from . import summary as S
from .model import Model


class Sequential(Model):
    """A linear stack of layers.

    >>> model = ember.Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1, activation="sigmoid")])
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> model.fit(x, y, epochs=10)

    The input shape comes from ``input_shape=`` on the first layer, an ``ember.Input`` /
    ``InputLayer`` first element, or the first batch the model sees.
    """

    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None, trainable: bool = True,
                 **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._layers: List[Layer] = []
        self._input_spec = None    # (batch shape, dtype)
        self._input_layer = None
        self._last = None          # the symbolic output of the chain so far
        self._shapes: List = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer (or set the input with ``ember.Input(...)`` / ``InputLayer`` first)."""
        if isinstance(layer, SymbolicTensor):
            if layer.layer is None:
                raise TypeError("Sequential.add: only an ember.Input(...) tensor can be added, not a layer output")
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Sequential.add: an InputLayer must come first")
            self._input_layer = layer
            self._input_spec = (layer._batch_input_shape, layer.input_dtype)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer. Received: {type(layer).__name__}")
        if not self._layers and self._input_spec is None and layer._batch_input_shape is not None:
            self._input_spec = (layer._batch_input_shape, np.dtype("float32"))
        self._layers.append(layer)
        if self._input_spec is not None:
            self._extend_graph()

    def pop(self) -> Layer:
        layer = self._layers.pop()
        self._last, self._shapes = None, []
        self.built = False
        if self._input_spec is not None and self._layers:
            self._extend_graph()
        return layer

    def _extend_graph(self) -> None:
        """Run the not-yet-shaped layers on the symbolic chain: builds them and records shapes."""
        if self._last is None:
            shape, dtype = self._input_spec
            self._last = self._input_layer.output if self._input_layer is not None else \
                Input(batch_shape=shape, dtype=dtype)
            self._sym_input = self._last
            self._shapes = []
            for layer in self._layers:  # a rebuilt chain: the old symbolic calls are stale
                layer.__dict__.pop("_inbound_nodes", None)
        x = self._last
        for layer in self._layers[len(self._shapes):]:
            x = layer(x)
            if not isinstance(x, SymbolicTensor):
                raise TypeError(f"Sequential: layer '{layer.name}' returned several outputs; "
                                "use the functional API for that")
            self._shapes.append(x.shape)
        self._last = x
        self.built = True

    def _maybe_build(self, inputs) -> None:
        if not self.built or len(self._shapes) != len(self._layers):
            if self._input_spec is None:
                first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
                self._input_spec = ((None,) + tuple(first.shape[1:]), np.dtype(first.dtype))
            self._extend_graph()

    def build(self, input_shape=None) -> None:
        """Build for ``input_shape`` (batch dimension included, may be None)."""
        if input_shape is not None and self._input_spec is None:
            self._input_spec = ((None,) + tuple(input_shape)[1:], np.dtype("float32"))
        if self._input_spec is None:
            raise ValueError("Sequential.build: the input shape is unknown; pass input_shape")
        self._extend_graph()

    def _n_inputs(self) -> int:
        return 1

    def _output_layout(self):
        return ("tensor", [self._layers[-1].name]) if self._layers else None

    @property
    def layers(self) -> List[Layer]:
        return list(self._layers)

    @property
    def inputs(self):
        if getattr(self, "_sym_input", None) is not None:
            return [self._sym_input]
        return [self._input_layer.output] if self._input_layer is not None else []

    @property
    def input_shape(self):
        return None if self._input_spec is None else self._input_spec[0]

    @property
    def output_shape(self):
        return self._shapes[-1] if self._shapes else None

    def call(self, inputs, training: bool = False):
        return fusion.run_sequence(self._layers, inputs, training)

    def summary(self, print_fn=None, line_length: Optional[int] = None) -> None:
        shapes = self._shapes + [None] * (len(self._layers) - len(self._shapes))
        S.summary(self, list(zip(self._layers, shapes)), print_fn, line_length)

    @classmethod
    def from_config(cls, config: dict, custom_objects: Optional[dict] = None) -> "Sequential":
        """A new Sequential model from ``get_config()``'s output (``custom_objects``:
        {name: class} for layers defined in your code)."""
        from ..serialization import custom_object_scope
        from .saving import _sequential_from_config
        with custom_object_scope(custom_objects):
            return _sequential_from_config(config)

    def _graph_kind(self) -> str:
        return "Sequential"

    def get_config(self) -> dict:
        return {"name": self.name, "layers": [layer_config(l) for l in self._layers],
                "input_shape": None if self._input_spec is None else list(self._input_spec[0]),
                "input_dtype": None if self._input_spec is None else str(self._input_spec[1])}
