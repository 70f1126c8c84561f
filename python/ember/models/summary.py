"""``model.summary()``: layer names, types, output shapes and parameter counts, with the
totals and their size in bytes as Keras 3 prints them. Columns widen to fit their longest
entry, so no name, class name or shape is ever cut."""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple


def _shape_str(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_str(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def readable_bytes(n: int) -> str:
    """Keras' ``readable_memory_size``: 2.65 MB, 1.25 KB, 0.00 B (powers of 1024)."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.2f} {units[i]}"


def _nbytes(weights) -> int:
    return int(sum(w.size * w.dtype.itemsize for w in weights))


def summary(model, rows: List[Tuple[object, object]], print_fn: Optional[Callable[[str], None]] = None,
            line_length: Optional[int] = None) -> None:
    """Print a table of (layer, output shape) rows and the parameter totals.

    ``line_length`` is the least total width (Keras' default is about 65); wider content
    widens the table."""
    print_fn = print_fn or print
    table = [(f"{layer.name} ({type(layer).__name__})", _shape_str(shape), f"{layer.count_params():,}")
             for layer, shape in rows]
    head = ("Layer (type)", "Output Shape", "Param #")
    w1 = max([len(head[0])] + [len(r[0]) for r in table]) + 3
    w2 = max([len(head[1])] + [len(r[1]) for r in table]) + 3
    w3 = max([len(head[2])] + [len(r[2]) for r in table])
    width = 1 + w1 + w2 + w3
    if line_length and line_length > width:  # spread the extra room over the first two columns
        extra = line_length - width
        w1, w2, width = w1 + extra // 2, w2 + extra - extra // 2, line_length

    def line(a: str, b: str, c: str) -> str:
        return f" {a:<{w1}}{b:<{w2}}{c:>{w3}}"

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * width)
    print_fn(line(*head))
    print_fn("=" * width)
    for i, r in enumerate(table):
        print_fn(line(*r))
        if i < len(table) - 1:
            print_fn("")
    print_fn("=" * width)
    trainable = [w for w in model.trainable_weights]
    every = list(model.weights)
    n_tr, n_all = sum(w.size for w in trainable), sum(w.size for w in every)
    b_tr, b_all = _nbytes(trainable), _nbytes(every)
    print_fn(f" Total params: {n_all:,} ({readable_bytes(b_all)})")
    print_fn(f" Trainable params: {n_tr:,} ({readable_bytes(b_tr)})")
    print_fn(f" Non-trainable params: {n_all - n_tr:,} ({readable_bytes(b_all - b_tr)})")
    print_fn("_" * width)
