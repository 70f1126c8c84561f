"""Batches onto the current device for fit / evaluate / predict (``ember.set_device``).

On the CPU nothing happens (the batches stay the NumPy arrays they are). On a GPU each
host array of a batch is copied once: with real CuPy through a reused page-locked (pinned)
host buffer and an asynchronous copy on a dedicated stream, staged one batch ahead, so the
copy of batch i+1 runs while step i computes; the compute stream waits for a batch's copy
only when that batch is handed out. The emulation mode (EMBER_CUDA_EMULATION=1) runs the same
code (its streams and events are synchronous). Non-numeric arrays (text for
TextVectorization) stay on the host.
"""
from __future__ import annotations

import numpy as np

from .. import backend


def _map(v, fn):
    if isinstance(v, np.ndarray):
        return fn(v) if v.dtype.kind in "biuf" else v
    if isinstance(v, tuple):
        return tuple(_map(a, fn) for a in v)
    if isinstance(v, list):
        return [_map(a, fn) for a in v]
    if isinstance(v, dict):
        return {k: _map(a, fn) for k, a in v.items()}
    return v


class DeviceFeeder:
    """Copies the host arrays of batches to the current (GPU) device; see the module doc."""

    def __init__(self):
        self.xp = backend.current_xp()
        self._stream = None
        self._pinned = {}   # (shape, dtype) -> [slot 0, slot 1, next slot]; a slot: (pinned buffer, its copy's event)
        self._events = []

    def _put(self, a: np.ndarray):
        xp = self.xp
        if self._stream is None:
            self._stream = xp.cuda.Stream(non_blocking=True)
        ring = self._pinned.setdefault((a.shape, a.dtype.str), [None, None, 0])
        k = ring[2]
        ring[2] = 1 - k
        if ring[k] is None:
            mem = xp.cuda.alloc_pinned_memory(max(a.nbytes, 1))
            pinned = np.frombuffer(mem, a.dtype, a.size).reshape(a.shape)
        else:
            pinned, done = ring[k]
            done.synchronize()  # the copy that last read this buffer (two batches ago) has finished
        np.copyto(pinned, a)
        dev = xp.empty(a.shape, a.dtype)
        dev.set(pinned, stream=self._stream)  # asynchronous: the source is page-locked
        ev = xp.cuda.Event()
        ev.record(self._stream)
        ring[k] = (pinned, ev)
        self._events.append(ev)
        return dev

    def stage(self, batch):
        """Enqueue the copies of ``batch``'s host arrays: (the batch on the device, its copies' events)."""
        self._events = []
        out = _map(batch, self._put)
        return out, self._events

    def ready(self, events) -> None:
        """Make the compute stream wait for a staged batch's copies."""
        if events:
            stream = self.xp.cuda.get_current_stream()
            for ev in events:
                stream.wait_event(ev)

    def put(self, batch):
        """``batch`` on the device, usable at once."""
        out, events = self.stage(batch)
        self.ready(events)
        return out


def prefetched(pairs, feeder: DeviceFeeder):
    """The (step, batch) pairs of an epoch with each batch on the device; the next batch's
    copy is enqueued before the current batch is handed out, so it overlaps the step."""
    it = iter(pairs)
    nxt = next(it, None)
    staged = None if nxt is None else (nxt[0], feeder.stage(nxt[1]))
    while staged is not None:
        step, (batch, events) = staged
        nxt = next(it, None)
        staged = None if nxt is None else (nxt[0], feeder.stage(nxt[1]))
        feeder.ready(events)
        yield step, batch


def to_current_device(batch):
    """``batch`` (a tree of arrays) on the current device; unchanged on the CPU."""
    if backend.get_device() == "cpu":
        return batch
    return DeviceFeeder().put(batch)
