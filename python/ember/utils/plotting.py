"""``plot_history``: loss and metrics per epoch, drawn with matplotlib (an optional
dependency: ``pip install matplotlib``) and saved to a file."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence


def _matplotlib():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plot_history needs matplotlib, which is not installed: pip install matplotlib "
                          "(ember itself does not depend on it)") from e
    matplotlib.use("Agg", force=False)  # files only: no display needed (a no-op once pyplot picked one)
    import matplotlib.pyplot as plt
    return plt


def _groups(history: Dict[str, List[float]]) -> List[List[str]]:
    """One panel per quantity: ``loss`` with ``val_loss``, ``accuracy`` with ``val_accuracy`` ..."""
    bases = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    bases += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    return [[k for k in (b, "val_" + b) if k in history] for b in bases]


def plot_history(history, path: str, keys: Optional[Sequence[str]] = None, title: Optional[str] = None,
                 x: Optional[Sequence[float]] = None, xlabel: str = "epoch", dpi: int = 100) -> str:
    """Draw ``history`` (a ``History`` from ``fit`` or its ``.history`` dict) as one panel per
    quantity (loss, each metric; the ``val_`` curve beside its training curve) against the
    epoch, save the figure to ``path`` (png, svg, pdf ... by its extension) and return ``path``.
    ``keys`` limits the panels to those quantities; ``x`` and ``xlabel`` replace the epoch
    numbers for curves recorded otherwise (e.g. every 100 steps of a custom loop)."""
    hist = getattr(history, "history", history)
    if not isinstance(hist, dict) or not hist:
        raise ValueError("plot_history: expected a History from fit (or its .history dict) with at least one "
                         f"epoch. Received: {type(history).__name__}")
    groups = _groups(hist)
    if keys is not None:
        groups = [g for g in groups if g[0] in keys or g[0].replace("val_", "") in keys]
        if not groups:
            raise ValueError(f"plot_history: none of keys={list(keys)} is in the history. "
                             f"Received history keys: {sorted(hist)}")
    plt = _matplotlib()
    fig, axes = plt.subplots(1, len(groups), figsize=(max(6.0, 4.5 * len(groups)), 3.6), squeeze=False)
    n = max(len(v) for v in hist.values())
    if x is not None and len(x) != n:
        raise ValueError(f"plot_history: x has {len(x)} values but the history has {n} entries per quantity")
    xs_all = list(x) if x is not None else [e + 1 for e in (getattr(history, "epoch", None) or range(n))]
    for ax, group in zip(axes[0], groups):
        for k in group:
            ys = [float(v) for v in hist[k]]
            # fewer points (fit's validation_freq=k records val_ every k-th epoch): spread them evenly
            xs = xs_all if len(ys) == n else [xs_all[round((i + 1) * n / len(ys)) - 1] for i in range(len(ys))]
            ax.plot(xs, ys, marker="o" if len(ys) <= 30 else None, ms=3,
                    label="validation" if k.startswith("val_") else "training")
        ax.set_title(group[0])
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if len(group) > 1:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return str(path)
