"""The progress display of fit / evaluate / predict and of long operations (downloads,
``adapt``), in Keras 3's format.

On a terminal (verbose=1): one line redrawn in place,
``  37/178 ━━━━━━━━━━━━━━━━━━━━ 3s 21ms/step - accuracy: 0.8812 - loss: 0.4013``, with the ETA
while running and the elapsed time once done. Anywhere else (a log file, a pipe, verbose=2)
only the final line is written, as Keras writes it with verbose=2
(``178/178 - 3s - 17ms/step - accuracy: 0.9812 - loss: 0.0619``), so logs hold no carriage
returns or backspaces.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

Logs = Dict[str, float]


def format_logs(logs: Logs) -> str:
    """``loss: 0.1234 - accuracy: 0.9876`` (Keras switches to 4-digit exponent form below 1e-3)."""
    def fmt(v):
        if np.ndim(v) == 0:
            v = float(v)
            return f"{v:.4f}" if abs(v) > 1e-3 or v == 0 else f"{v:.4e}"
        return np.array2string(np.asarray(v, dtype=np.float64), precision=4, separator=", ")
    return " - ".join(f"{k}: {fmt(v)}" for k, v in logs.items())


def format_time_per_unit(seconds: float, unit: str = "step") -> str:
    """``3s/step``, ``21ms/step`` or ``850us/step``, as Keras writes the time per unit."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def format_eta(seconds: float) -> str:
    """``7s``, ``2:05`` or ``1:02:05``."""
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


def _as_logs(values) -> Optional[Logs]:
    if callable(values):
        values = values()
    if values is not None and not isinstance(values, dict):
        values = dict(values)
    return values


def _bar_chars(stream) -> str:
    """Keras' heavy line for the done part and a light line for the rest (Keras tells them
    apart by colour; ember writes no colour codes) where the stream can encode them, else
    ``=`` and ``.``."""
    enc = getattr(stream, "encoding", None) or "ascii"
    try:
        "━─".encode(enc)
        return "━─"
    except (UnicodeEncodeError, LookupError):
        return "=."


class Progbar:
    """A progress bar over ``target`` steps.

    ``update(current, logs)`` after each step (``logs`` may be a function returning them,
    called only when the line is drawn, so computing metrics costs nothing between
    redraws); ``finish(logs)`` once at the end. ``interactive`` (default: verbose == 1 and
    the stream is a terminal) chooses between the redrawn bar and the single final line.
    """

    def __init__(self, target: int, verbose: int = 1, stream=None, width: int = 20, interval: float = 0.05,
                 unit_name: str = "step", interactive: Optional[bool] = None):
        self.target, self.verbose = int(target), int(verbose)
        self.stream = stream or sys.stdout
        if interactive is None:
            interactive = self.verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interactive = bool(interactive)
        self.width, self.interval, self.unit_name = width, interval, unit_name
        self._done_char, self._todo_char = _bar_chars(self.stream)
        self.start = time.perf_counter()
        self._after_first: Optional[float] = None
        self._last_draw = 0.0
        self._prev_width = 0
        self._seen = 0

    def step_time(self, current: int, now: float) -> float:
        """Seconds per step; the first step (warm-up, allocation) is left out once there are others."""
        if current <= 0:
            return 0.0
        if current == 1 and self._after_first is None:
            self._after_first = now
        if self._after_first is not None and current > 1:
            return (now - self._after_first) / (current - 1)
        return (now - self.start) / current

    def _counter(self, current: int) -> str:
        digits = int(math.log10(max(self.target, 1))) + 1
        return f"{current:>{digits}}/{self.target}"

    def _draw(self, text: str) -> None:
        pad = " " * max(self._prev_width - len(text), 0)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._prev_width = len(text)

    def update(self, current: int, values: Union[Logs, Sequence[Tuple[str, float]], Callable[[], Logs], None] = None
               ) -> None:
        """Step ``current`` is done; ``values``: the logs to show (a dict, Keras' list of
        (name, value) pairs shown as given, or a function returning them)."""
        logs = values
        self._seen = current
        now = time.perf_counter()
        per_step = self.step_time(current, now)
        if not self.interactive or self.verbose != 1 or current >= self.target:
            return  # the last step is drawn by finish(), with the elapsed time instead of the ETA
        if now - self._last_draw < self.interval:
            return
        self._last_draw = now
        logs = _as_logs(logs)
        filled = int(self.width * min(current, self.target) / max(self.target, 1))
        bar = self._done_char * filled + self._todo_char * (self.width - filled)
        eta = format_eta(per_step * max(self.target - current, 0))
        text = f"{self._counter(current)} {bar} {eta} {format_time_per_unit(per_step, self.unit_name)}"
        if logs:
            text += " - " + format_logs(logs)
        self._draw(text)

    def add(self, n: int, values=None) -> None:
        """``n`` more steps done (Keras' ``Progbar.add``)."""
        self.update(self._seen + n, values)

    def finish(self, logs: Union[Logs, Callable[[], Logs], None] = None) -> None:
        """The final line: the full bar (terminal) or the counter, elapsed time, time per step, logs."""
        if self.verbose < 1:
            return
        now = time.perf_counter()
        per_step = self.step_time(self.target, now)
        logs = _as_logs(logs)
        elapsed, per = f"{now - self.start:.0f}s", format_time_per_unit(per_step, self.unit_name)
        tail = (" - " + format_logs(logs)) if logs else ""
        if self.interactive and self.verbose == 1:
            self._draw(f"{self._counter(self.target)} {self._done_char * self.width} {elapsed} {per}{tail}")
            self.stream.write("\n")
        else:  # Keras' verbose=2 line
            self.stream.write(f"{self._counter(self.target)} - {elapsed} - {per}{tail}\n")
        self.stream.flush()
