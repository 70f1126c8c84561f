"""``plot_model`` / ``model_to_dot`` (``keras.utils.plot_model``), through pydot and Graphviz,
optional dependencies (``pip install pydot`` and Graphviz' ``dot`` program)."""
from __future__ import annotations

import os
import warnings


def _pydot():
    try:
        import pydot
    except ImportError:
        return None
    return pydot


def _graphviz_ok(pydot) -> bool:
    try:
        pydot.Dot.create(pydot.Dot())  # renders an empty graph: fails without Graphviz' programs
        return True
    except Exception:  # noqa: BLE001  (pydot raises OSError, FileNotFoundError or its own errors)
        return False


def _label(layer, shape, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable) -> str:
    cls = type(layer).__name__
    parts = [f"{layer.name} ({cls})" if show_layer_names else cls]
    act = getattr(layer, "activation", None)
    if show_layer_activations and act is not None:
        parts.append(f"activation: {getattr(act, '__name__', act)}")
    if show_dtype:
        parts.append(f"dtype: {getattr(layer, 'dtype', None)}")
    if show_shapes:
        parts.append(f"output shape: {shape}")
    if show_trainable:
        parts.append(f"trainable: {layer.trainable}")
    return "\n".join(parts)


def _graph(model):
    """(layers, {id(layer): output shape}, [(src, dst)]) of a Sequential or functional model."""
    if getattr(model, "_graph", None):
        from ..symbolic import flatten
        shapes, edges = {}, []
        for node in model._nodes:
            outs = flatten(node.outputs)
            shapes.setdefault(id(node.layer), outs[0].shape if len(outs) == 1 else [t.shape for t in outs])
            for parent in flatten(node.inputs):
                edges.append((parent.layer if parent.node is None else parent.node.layer, node.layer))
        for t in model._inputs:
            shapes[id(t.layer)] = t.shape
        return list(model._layers), shapes, edges
    layers = list(model.layers)
    shapes = dict(zip((id(l) for l in layers), getattr(model, "_shapes", [])))
    return layers, shapes, list(zip(layers, layers[1:]))


def model_to_dot(model, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
                 show_layer_activations: bool = False, show_trainable: bool = False, **kwargs):
    """The ``pydot.Dot`` graph of a model: one box per layer, an edge per tensor between them."""
    pydot = _pydot()
    if pydot is None:
        raise ImportError("model_to_dot needs pydot: pip install pydot (and Graphviz for images)")
    dot = pydot.Dot()
    dot.set("rankdir", rankdir)
    dot.set("dpi", dpi)
    dot.set_node_defaults(shape="record")
    layers, shapes, edges = _graph(model)
    for layer in layers:
        label = _label(layer, shapes.get(id(layer)), show_shapes, show_dtype, show_layer_names,
                       show_layer_activations, show_trainable)
        dot.add_node(pydot.Node(str(id(layer)), label=label))
    for src, dst in edges:
        if not dot.get_edge(str(id(src)), str(id(dst))):
            dot.add_edge(pydot.Edge(str(id(src)), str(id(dst))))
    return dot


def plot_model(model, to_file: str = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = False, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False, **kwargs):
    """Draw the model's layers and connections to ``to_file`` (png, svg, pdf ... by its
    extension). Needs pydot and Graphviz; without them it warns with Keras' message and
    returns None (Keras raises ImportError outside a notebook; a warning lets a script that
    plots its model on the way still run to the end)."""
    if not getattr(model, "built", True):
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by "
                         "calling the model on a batch of data.")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    kwargs.pop("splines", None)
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    pydot = _pydot()
    if pydot is None:
        warnings.warn("You must install pydot (`pip install pydot`) for `plot_model` to work.", stacklevel=2)
        return None
    if not _graphviz_ok(pydot):
        warnings.warn("You must install graphviz (see instructions at https://graphviz.gitlab.io/download/) "
                      "for `plot_model` to work.", stacklevel=2)
        return None
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    to_file = str(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    return None
