"""``ember.Model``: functional (``Model(inputs, outputs)``) or subclassed (custom ``call``)."""
from __future__ import annotations

from typing import List, Optional

from ..layers.base import Layer, _shapes, auto_name
from ..symbolic import SymbolicTensor, flatten, run_graph, topological_nodes
from . import data as D
from . import fusion
from . import summary as S
from .training import Trainer


class Model(Trainer, Layer):
    """A trainable graph of layers with ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

    Functional API::

        inputs = ember.Input(shape=(784,))
        x = Dense(64, activation="relu")(inputs)
        outputs = Dense(10)(x)
        model = ember.Model(inputs, outputs)

    Subclassing: define layers in ``__init__`` (after ``super().__init__()``) and the
    forward pass in ``call(self, inputs, training=False)``.
    """

    def __init__(self, inputs=None, outputs=None, name: Optional[str] = None, trainable: bool = True, **kwargs):
        if name is None and inputs is not None:
            name = auto_name("Functional")  # Keras 3 names a functional model "functional"
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._graph = None
        if (inputs is None) != (outputs is None):
            raise ValueError("Model: pass both inputs and outputs (functional API), or neither (subclassing)")
        if inputs is not None:
            self._init_graph(inputs, outputs)

    # -- functional graph ----------------------------------------------------------------
    def _init_graph(self, inputs, outputs) -> None:
        ins = flatten(inputs)
        outs = flatten(outputs)
        for t in ins + outs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Model: inputs and outputs must be symbolic tensors (from ember.Input and layer "
                                f"calls). Received: {type(t).__name__}")
        if not ins or not outs:
            raise ValueError("Model: needs at least one input and one output")
        for t in ins:
            if t.node is not None:
                raise ValueError(f"Model: input {t!r} is not an ember.Input(...) tensor")
        nodes = topological_nodes(ins, outs)
        self._inputs, self._outputs = ins, outs
        self._outputs_struct = outputs
        self._single_input = not isinstance(inputs, (list, tuple, dict))
        # dict inputs are matched by the keys of Model(inputs={...}), else by Input names
        self._input_keys = [str(k) for k in inputs] if isinstance(inputs, dict) else None
        self._nodes = nodes
        layers: List[Layer] = [t.layer for t in ins if t.layer is not None]
        for node in nodes:
            if all(node.layer is not l for l in layers):
                layers.append(node.layer)
        self._layers = layers
        self._graph = True
        self.built = True

    @property
    def inputs(self) -> List[SymbolicTensor]:
        return list(getattr(self, "_inputs", []))

    @property
    def outputs(self) -> List[SymbolicTensor]:
        return list(getattr(self, "_outputs", []))

    def _graph_input(self):
        if self._graph and "_set_input" not in self.__dict__:
            return self._inputs[0] if self._single_input else list(self._inputs)
        return Layer.input.fget(self)

    def _graph_output(self):
        if self._graph and "_set_output" not in self.__dict__:
            return self._outputs_struct
        return Layer.output.fget(self)

    # Keras' Functional.input / output: the model's own symbolic inputs and outputs
    input = property(_graph_input, Layer.input.fset)
    output = property(_graph_output, Layer.output.fset)

    def _graph_input_shape(self):
        if self._graph and "_set_input_shape" not in self.__dict__:
            return _shapes(self._graph_input())
        return Layer.input_shape.fget(self)

    def _graph_output_shape(self):
        if self._graph and "_set_output_shape" not in self.__dict__:
            return _shapes(self._graph_output())
        return Layer.output_shape.fget(self)

    input_shape = property(_graph_input_shape, Layer.input_shape.fset)
    output_shape = property(_graph_output_shape, Layer.output_shape.fset)

    @property
    def layers(self) -> List[Layer]:
        """The model's layers (for a functional model, its InputLayers first)."""
        if hasattr(self, "_layers"):
            return list(self._layers)
        return self._sublayers()

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for l in self.layers:
            if l.name == name:
                return l
        raise ValueError(f"get_layer: no layer named {name!r}. Layers: {[l.name for l in self.layers]}")

    def _n_inputs(self) -> int:
        return len(self._inputs) if self._graph else 1

    def _input_names(self):
        """The ``Input`` names dict inputs are matched by (functional models), else None."""
        if not self._graph:
            return None
        return self._input_keys or [t.name or t.layer.name for t in self._inputs]

    def _output_layout(self):
        """("tensor" / "list" / "dict", output names) of a functional model: the names of
        the layers that produce the outputs (made unique with "_1", "_2", ...), or the keys
        of dict outputs. None for a subclassed model (known once it has run)."""
        if not self._graph:
            return None
        struct = self._outputs_struct
        if isinstance(struct, dict):
            return "dict", [str(k) for k in struct]
        names: List[str] = []
        for t in self._outputs:
            base = t.node.layer.name if t.node is not None else t.layer.name
            name, k = base, 1
            while name in names:
                name, k = f"{base}_{k}", k + 1
            names.append(name)
        return ("list" if isinstance(struct, (list, tuple)) else "tensor"), names

    @property
    def output_names(self) -> List[str]:
        """The names compile / fit use for the outputs (see ``compile``); empty for a
        subclassed model that has not been trained or evaluated yet."""
        layout = self._output_layout()
        if layout is not None:
            return list(layout[1])
        return [h.name for h in self._heads] if self._heads else []

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, training: bool = False):
        if not self._graph:
            raise NotImplementedError(f"{type(self).__name__}: a subclassed Model must define call(self, inputs, "
                                      "training=False); or build the model with Model(inputs, outputs)")
        if isinstance(inputs, dict):
            values = D.by_input_name(inputs, self._input_names(), f"Model '{self.name}'", "the input")
        else:
            values = [inputs] if self._single_input or not isinstance(inputs, (list, tuple)) else list(inputs)
        if len(values) != len(self._inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self._inputs)} input(s). Received: {len(values)}")
        for v, s in zip(values, self._inputs):
            shp = getattr(v, "shape", None)
            if shp is not None and (len(shp) != len(s.shape) or any(a is not None and a != b for a, b in zip(s.shape, shp))):
                raise ValueError(f"Model '{self.name}': input {s.name!r} expects shape {s.shape}. "
                                 f"Received: shape={tuple(shp)}")
        return run_graph(self._nodes, self._inputs, values, self._outputs_struct, training, self._fused_pairs(),
                         fusion.try_pair)

    def _fused_pairs(self):
        """{conv node index: pool node index} of the pairs that may run as one op (see
        models/fusion.py), found once per graph."""
        cache = self.__dict__.get("_fusion_cache")
        if cache is None or cache[0] is not self._nodes:
            cache = self.__dict__["_fusion_cache"] = (self._nodes, fusion.graph_pairs(self._nodes, self._outputs))
        return cache[1] if fusion.ENABLED else None

    # -- introspection -------------------------------------------------------------------
    def summary(self, print_fn=None, line_length: Optional[int] = None) -> None:
        """Print the layers, their output shapes and parameter counts, and the totals."""
        if self._graph:
            shapes = {}
            for node in self._nodes:
                o = flatten(node.outputs)
                shapes.setdefault(id(node.layer), [t.shape for t in o] if len(o) > 1 else o[0].shape)
            rows = [(l, shapes.get(id(l), getattr(l, "_batch_input_shape", None))) for l in self._layers]
        else:
            rows = [(l, None) for l in self.layers]
        S.summary(self, rows, print_fn, line_length)

    def _graph_kind(self):
        """"Functional" for a graph of layers, None for a subclassed model (its architecture
        is Python code); ``ember.serialization`` asks this instead of importing the models."""
        if self._graph and type(self).call is Model.call:
            return "Functional"
        return None

    def get_config(self) -> dict:
        """A functional model's graph as JSON-able data (what ``save`` stores)."""
        if self._graph:
            from .saving import functional_config
            return functional_config(self)
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Optional[dict] = None) -> "Model":
        """A new functional model (unbuilt-weight values) from ``get_config()``'s output, as
        ``keras.Model.from_config``; ``custom_objects`` ({name: class}) for layers defined in
        your code. A subclassed model's config holds no graph: it is ``cls(**config)``."""
        from ..serialization import custom_object_scope
        from .saving import functional_from_config
        if not (isinstance(config, dict) and "nodes" in config and "layers" in config):
            return cls(**config)
        with custom_object_scope(custom_objects):
            return functional_from_config(config)

    def save(self, filepath: str) -> None:
        """Save the architecture (JSON) and weights in one .npz file (no pickle), atomically:
        Sequential and functional models; a subclassed model raises NotImplementedError
        (use ``save_weights``). A name ending in ``.keras`` writes a Keras 3 archive instead
        (needs h5py)."""
        from .saving import save_model
        save_model(self, filepath)

    def export(self, filepath: str, format: str = "onnx", **kwargs) -> None:
        """Export for inference elsewhere (Keras 3's spelling): ``format="onnx"`` writes an
        ONNX graph with a dynamic batch dimension (needs the onnx package; see
        ``ember.export``)."""
        from ..export import export
        export(self, filepath, format=format, **kwargs)

    def save_weights(self, filepath: str) -> None:
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from .saving import load_weights
        load_weights(self, filepath)
