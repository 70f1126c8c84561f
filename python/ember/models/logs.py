"""A step's logs as Python numbers, read from the device only where they are consumed.

On a GPU every device -> host read waits for the queued work, so fit / evaluate keep a
step's logs as returned (device scalars on a GPU) and read them, all in one copy, when the
progress bar redraws, a callback overrides the batch hook, the epoch ends or a value is
returned; the deferred checks of device data (``backend.checks``) are read in that copy."""
from __future__ import annotations

import math
import warnings
from typing import Dict

import numpy as np

from .. import backend
from ..backend import checks
from ..tensor import Tensor


def _flat_logs(logs, out: dict) -> dict:
    for k, v in (logs or {}).items():
        if isinstance(v, dict):
            _flat_logs(v, out)
        else:
            out[k] = v.data if isinstance(v, Tensor) else v
    return out


def pythonify_logs(logs) -> Dict[str, float]:
    """A step's logs as plain numbers: nested dicts flattened, Tensors and NumPy scalars as
    floats (Keras' ``pythonify_logs``). Device scalars are read in one device -> host copy
    (each read waits for the device), after the input checks deferred until now."""
    out = _flat_logs(logs, {})
    dev = [k for k, v in out.items() if backend.is_device_array(v)]
    if dev:  # every device value and the pending checks' flags in one read
        pending = checks.take_pending()
        xp = backend.xp(out[dev[0]])
        parts = [out[k].reshape(-1).astype(np.float64) for k in dev] + [f.reshape(1).astype(np.float64)
                                                                         for _, f in pending]
        host = backend.to_numpy(xp.concatenate(parts))
        checks.raise_failed(pending, host[sum(out[k].size for k in dev):])
        at = 0
        for k in dev:
            v = out[k]
            out[k] = host[at:at + v.size].astype(v.dtype).reshape(v.shape)
            at += v.size
    for k, v in out.items():
        if isinstance(v, (np.ndarray, np.generic)):
            v = float(v) if np.size(v) == 1 else np.asarray(v)
        out[k] = v
    return out


class StepLogs:
    """A step's logs, read from the device only when someone needs them (the progress bar
    when it redraws, a callback that overrides the batch hook, the epoch's end): Keras keeps
    its logs as device tensors the same way. Host logs are converted at once."""

    __slots__ = ("_raw", "_py")

    def __init__(self, raw):
        self._raw, self._py = raw, None
        if not _has_device_value(raw):
            self._py = pythonify_logs(raw)

    def is_read(self) -> bool:
        return self._py is not None

    def get(self) -> Dict[str, float]:
        if self._py is None:
            self._py = pythonify_logs(self._raw)
            self._raw = None
        return self._py


def _has_device_value(logs) -> bool:
    for v in (logs or {}).values():
        if isinstance(v, dict):
            if _has_device_value(v):
                return True
        elif backend.is_device_array(v.data if isinstance(v, Tensor) else v):
            return True
    return False


def stop_on_loss(logs, epoch: int, step: int) -> bool:
    """Warn and say stop when the logged loss is NaN or infinite (on a device, checked when
    the logs are read: a few steps after the batch, at the latest at the epoch's end)."""
    loss = logs.get("loss")
    if loss is not None and np.ndim(loss) == 0 and not math.isfinite(float(loss)):
        warnings.warn(f"fit: epoch {epoch + 1}, batch {step}: the loss is {float(loss)} (not finite); "
                      "training stopped. The learning rate may be too high, or the data may hold "
                      "NaN/inf values.", RuntimeWarning, stacklevel=4)
        return True
    return False
