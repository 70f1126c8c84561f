"""Weight regularizers (Keras names): a penalty Tensor added to the training loss."""
from __future__ import annotations

from typing import Callable, Optional, Union

from .ops import core
from .tensor import Tensor


class Regularizer:
    """Base class: ``reg(weight) -> scalar Tensor`` penalty."""

    def __call__(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(self.__dict__)


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w^2)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w: Tensor) -> Tensor:
        out = None
        if self.l1:
            out = self.l1 * core.sum(core.abs(w))
        if self.l2:
            sq = self.l2 * core.sum(w * w)
            out = sq if out is None else out + sq
        return out if out is not None else core.sum(w * 0.0)


class L1(L1L2):
    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)


class L2(L1L2):
    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)


l1, l2, l1_l2 = L1, L2, L1L2


def serialize(regularizer):
    """A JSON-able form for layer configs: {"class_name": "L1L2", "config": {"l1", "l2"}} for
    the built-in regularizers (L1 and L2 are L1L2 with one term), None for None or a plain
    callable (which cannot be written down)."""
    if isinstance(regularizer, L1L2):
        return {"class_name": "L1L2", "config": {"l1": regularizer.l1, "l2": regularizer.l2}}
    return None


def get(identifier: Union[str, dict, Regularizer, Callable, None]) -> Optional[Callable]:
    """A regularizer from a name ("l1", "l2", "l1_l2"), a serialized {"class_name",
    "config"} dict, an instance or a callable."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        by_class = {"L1L2": L1L2, "L1": L1, "L2": L2}
        cls = by_class.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown regularizer class {identifier.get('class_name')!r}. Known: {sorted(by_class)}")
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str):
        by = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
        if identifier.lower() not in by:
            raise ValueError(f"Unknown regularizer {identifier!r}. Known: {sorted(by)}")
        return by[identifier.lower()]()
    raise TypeError(f"regularizer must be a name or a callable. Received: {identifier!r}")
