"""``model.summary()``: layer names, types, output shapes and parameter counts."""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple


def _shape_str(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_str(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def summary(model, rows: List[Tuple[object, object]], print_fn: Optional[Callable[[str], None]] = None,
            line_length: int = 72) -> None:
    """Print a table of (layer, output shape) rows and the parameter totals."""
    print_fn = print_fn or print
    w1, w2 = int(line_length * 0.45), int(line_length * 0.33)
    w3 = line_length - w1 - w2
    print_fn(f'Model: "{model.name}"')
    print_fn("=" * line_length)
    print_fn(f"{'Layer (type)':<{w1}}{'Output Shape':<{w2}}{'Param #':>{w3}}")
    print_fn("=" * line_length)
    for layer, shape in rows:
        label = f"{layer.name} ({type(layer).__name__})"
        print_fn(f"{label[:w1 - 1]:<{w1}}{_shape_str(shape)[:w2 - 1]:<{w2}}{layer.count_params():>{w3},}")
    print_fn("=" * line_length)
    trainable = sum(w.size for w in model.trainable_weights)
    total = sum(w.size for w in model.weights)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * line_length)
