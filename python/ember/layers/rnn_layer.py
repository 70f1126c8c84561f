"""``layers.RNN``: runs a recurrent cell (built-in or a user's) over the time axis."""
from __future__ import annotations

import inspect
from typing import List

from ..ops import core as C
from .. import backend
from ..tensor import Tensor, as_array_like, as_bool_array, as_mask
from ..serialization import layer_config, layer_from_config
from .base import Layer
from .rnn_cells import StackedRNNCells, _sizes


class RNN(Layer):
    """Keras' ``RNN(cell, return_sequences=False, return_state=False, go_backwards=False)``.

    ``cell``: a Layer with ``state_size`` (int or list of ints) and ``call(inputs, states)
    -> (output, new_states)`` for one step, ``states`` a list of (batch, size) Tensors (the
    built-in ``SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell`` or your own); a list of cells is
    stacked (``StackedRNNCells``). The cell is built with the step shape (batch, features).
    Input (batch, time, features); the output is the last step's (batch, output_size), or
    every step's with ``return_sequences``; ``return_state`` appends the final states.
    ``initial_state``: a list of (batch, size) arrays (zeros by default). A mask (from
    ``Masking`` or ``Embedding(mask_zero=True)``) makes a masked step keep the previous
    output and states. ``go_backwards`` reads the sequence reversed (and returns the
    sequence in that order, as Keras does).

    >>> RNN(LSTMCell(32), return_sequences=True)
    """

    supports_masking = True

    def __init__(self, cell, return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, zero_output_for_mask: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise ValueError(f"RNN layer '{self.name}': cell must be a Layer with a state_size attribute and "
                             f"call(inputs, states). Received: {cell!r}")
        if stateful:
            raise NotImplementedError(f"RNN layer '{self.name}': stateful=True is not supported")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._cell_training = "training" in inspect.signature(cell.call).parameters

    def build(self, input_shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"RNN layer '{self.name}' expects an input (batch, time, features...). "
                             f"Received: input_shape={tuple(input_shape)}")
        if not self.cell.built:
            self.cell.build((input_shape[0],) + tuple(input_shape[2:]))
            self.cell.built = True
        self.built = True

    def _initial_states(self, x: Tensor, initial_state) -> List[Tensor]:
        sizes = _sizes(self.cell.state_size)
        if initial_state is None:
            return [Tensor(backend.xp(x.data).zeros((x.shape[0], n), dtype=x.dtype)) for n in sizes]
        states = [s if isinstance(s, Tensor) else Tensor(as_array_like(s, x.data, x.dtype))
                  for s in (initial_state if isinstance(initial_state, (list, tuple)) else [initial_state])]
        if len(states) != len(sizes) or any(tuple(s.shape) != (x.shape[0], n) for s, n in zip(states, sizes)):
            raise ValueError(f"RNN layer '{self.name}': initial_state must be {len(sizes)} array(s) of shapes "
                             f"{[(x.shape[0], n) for n in sizes]}. Received: {[tuple(s.shape) for s in states]}")
        return states

    def call(self, inputs, initial_state=None, mask=None, training: bool = False):
        x = inputs
        if x.ndim < 3:
            raise ValueError(f"RNN layer '{self.name}' expects an input (batch, time, features...). "
                             f"Received: shape={x.shape}")
        states = self._initial_states(x, initial_state)
        m = None if mask is None else as_bool_array(mask, x.data)
        if m is not None and m.shape != x.shape[:2]:
            raise ValueError(f"RNN layer '{self.name}': the mask must have shape (batch, time) = {x.shape[:2]}. "
                             f"Received: shape={m.shape}")
        for layer in self.cell._flatten_layers():  # one dropout mask per sequence
            reset = getattr(layer, "reset_dropout_mask", None)
            if callable(reset):
                reset()
        steps = range(x.shape[1] - 1, -1, -1) if self.go_backwards else range(x.shape[1])
        kw = {"training": training} if self._cell_training else {}
        outputs, out = [], None
        for t in steps:
            y, new = self.cell(x[:, t], list(states), **kw)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if m is not None:
                keep = m[:, t:t + 1]
                prev = out if out is not None else C.mul(y, 0.0)
                y_kept = C.where(keep, y, C.mul(y, 0.0) if self.zero_output_for_mask else prev)
                new = [C.where(keep, s_new, s_old) for s_new, s_old in zip(new, states)]
                out = C.where(keep, y, prev)
                y = y_kept
            else:
                out = y
            states = new
            outputs.append(y)
        if not outputs:
            raise ValueError(f"RNN layer '{self.name}': the input has no time steps. Received: shape={x.shape}")
        result = C.stack(outputs, axis=1) if self.return_sequences else out
        return [result] + states if self.return_state else result

    def compute_mask(self, inputs, mask=None):
        if mask is None or not self.return_sequences:
            return None
        m = as_mask(mask)
        return m[:, ::-1] if self.go_backwards else m

    def get_config(self) -> dict:
        return dict(super().get_config(), cell=layer_config(self.cell), return_sequences=self.return_sequences,
                    return_state=self.return_state, go_backwards=self.go_backwards, unroll=self.unroll,
                    zero_output_for_mask=self.zero_output_for_mask)

    @classmethod
    def from_config(cls, config: dict) -> "RNN":
        return cls(**dict(config, cell=layer_from_config(config["cell"])))
