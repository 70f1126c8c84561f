"""Which rows of the global batch this process holds during a data-parallel step.

Set only by ``ember.distributed`` around the forward and backward pass of one step; None
otherwise. Layers below the distributed package read it (no import of it): random draws
over the batch axis draw the whole global batch's numbers and keep this rank's rows, so N
ranks see exactly the masks one process would (and their generators stay in step), and
``BatchNormalization(synchronized=True)`` reduces its statistics with ``allreduce``.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np


class Shard:
    """Rows ``lo:hi`` of a global batch of ``rows``; ``phantom``: the rank holds no rows of
    this batch and runs row ``lo`` only to take part in the collectives (it counts for
    nothing). ``allreduce(a)`` sums a float64 array over all ranks and returns the sum."""
    __slots__ = ("rows", "lo", "hi", "phantom", "allreduce")

    def __init__(self, rows: int, lo: int, hi: int, phantom: bool, allreduce: Callable[[np.ndarray], np.ndarray]):
        self.rows, self.lo, self.hi, self.phantom, self.allreduce = rows, lo, hi, phantom, allreduce


_current: Optional[Shard] = None


def current() -> Optional[Shard]:
    """The shard of the step that is running, or None outside a data-parallel step."""
    return _current


def set_current(shard: Optional[Shard]) -> Optional[Shard]:
    """Install ``shard`` (None: none); returns the previous one."""
    global _current
    prev, _current = _current, shard
    return prev
