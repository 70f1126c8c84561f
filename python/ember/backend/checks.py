"""Input checks on device data, deferred to the next host sync point.

Checking a device array's values (a label range, whole-number labels) needs its result on
the host, and on a GPU every device -> host read waits for all queued work: one such check
per step makes the step synchronous. Inside ``deferred()`` (fit / evaluate run their loops in
it) an op records the check's device flag instead, and the trainer calls ``raise_pending()``
where it reads values anyway (progress bar refresh, batch callbacks, epoch end): the same
ValueError then, a few steps late, after one read of every pending flag together. The
kernels stay memory-safe meanwhile (an out-of-range label gives a NaN loss and gradient, as
Keras / TensorFlow on a GPU). Outside ``deferred()``, and for host arrays, ops check at once.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Dict, List, Tuple


class _State(threading.local):
    """Per thread (a fit in one thread defers nothing in another)."""

    def __init__(self):
        self.depth = 0
        self.pending: Dict[str, object] = {}  # message -> device bool flag (OR over the batches since the last read)


_state = _State()


@contextlib.contextmanager
def deferred():
    """Within the block, ``defer`` records device checks (fit / evaluate / their loops); the
    pending ones are raised when the outermost block ends normally, dropped on an exception."""
    _state.depth += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        _state.depth -= 1
        if _state.depth == 0:
            if ok:
                raise_pending()
            _state.pending.clear()


def defer(bad, message: str) -> bool:
    """Record the device flag ``bad`` (a 0-d bool device array: True means invalid input)
    with its error ``message`` when checks are deferred; True if recorded, False if the
    caller must check now. ``message`` is static (no values read from the device), so the
    flags of one check over many batches fold into one."""
    from . import is_device_array
    if not _state.depth or not is_device_array(bad):
        return False
    pending = _state.pending
    prev = pending.get(message)
    pending[message] = bad if prev is None else (prev | bad)
    return True


def take_pending() -> List[Tuple[str, object]]:
    """The recorded (message, device flag) pairs, forgotten here: a caller that reads device
    values anyway reads the flags in the same copy, then calls ``raise_failed``."""
    items = list(_state.pending.items())
    _state.pending.clear()
    return items


def raise_failed(items: List[Tuple[str, object]], host_flags) -> None:
    """Raise the first of ``items`` whose flag (read to the host: ``host_flags``) is set."""
    for (message, _), bad in zip(items, host_flags):
        if bad:
            raise ValueError(message + " (checked on the device; found at the next host read)")


def raise_pending() -> None:
    """Raise the first recorded check that failed (a ValueError with its message); one
    device -> host read for all of them. Nothing pending: no read."""
    items = take_pending()
    if not items:
        return
    from . import to_numpy, xp
    flags = items[0][1].reshape(1) if len(items) == 1 else xp(items[0][1]).stack([f for _, f in items])
    raise_failed(items, to_numpy(flags).reshape(-1))
