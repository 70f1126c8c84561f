"""Tensor and the reverse-mode autograd engine.

A Tensor wraps an array (a NumPy array on the CPU, a CuPy array on a GPU: the array type
is the device, see ``ember.backend``) and, when it was produced by a differentiable op with grad mode on, a node of the
graph: its parents and a closure that maps the output gradient to the parents' gradients.

Ops are written with :func:`make_op` (see ``ember/ops``). The engine walks the graph in
reverse topological order, un-broadcasts gradients to each parent's shape, accumulates
them, and frees the graph after ``backward()`` so memory stays flat across steps.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np

from . import backend

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# ---------------------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------------------

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether differentiable ops currently record the graph."""
    return getattr(_state, "enabled", True)


def _set_grad_enabled(on: bool) -> bool:
    prev = is_grad_enabled()
    _state.enabled = bool(on)
    return prev


class _GradMode(contextlib.ContextDecorator):
    _mode = True

    def __enter__(self):
        self._prev = _set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._prev)
        return False


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record no graph (inference, updates).

    >>> with ember.no_grad():
    ...     y = model(x)
    """

    _mode = False


class enable_grad(_GradMode):
    """Context manager / decorator that turns graph recording back on."""

    _mode = True


# ---------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------

def _resolve_dtype(dtype) -> Optional[np.dtype]:
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"Tensor: unknown dtype {dtype!r}") from e
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"Tensor: dtype must be 'float32' or 'float64'. Received: dtype={dt}")
    return dt


def _to_array(data, dtype: Optional[np.dtype]):
    if isinstance(data, Tensor):
        arr = data.data
    else:
        arr = data
    if backend.is_array(arr):
        if dtype is None:
            if arr.dtype in _FLOAT_DTYPES:
                return arr
            dtype = np.dtype(np.float32)
        _check_numeric(arr)
        return arr.astype(dtype, copy=False)
    try:
        arr = np.asarray(arr)
    except (ValueError, TypeError) as e:
        raise TypeError(f"Tensor: cannot convert {type(data).__name__} to a numeric array: {e}") from e
    _check_numeric(arr)
    if dtype is None:
        dtype = arr.dtype if arr.dtype in _FLOAT_DTYPES else np.dtype(np.float32)
    return np.ascontiguousarray(arr, dtype=dtype) if arr.ndim else arr.astype(dtype)


def _check_numeric(arr) -> None:
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Tensor: expected numeric data (bool, int or float). Received: dtype={arr.dtype}"
            + (f", shape={tuple(arr.shape)}" if hasattr(arr, "shape") else ""))


def as_tensor(x, dtype=None) -> "Tensor":
    """Return ``x`` if it is a Tensor (of ``dtype`` when given), else wrap it (no grad)."""
    if isinstance(x, Tensor):
        if dtype is None or x.data.dtype == np.dtype(dtype):
            return x
        return x.astype(dtype)
    return Tensor(x, dtype=dtype)


def as_array(x):
    """The array behind ``x`` (a Tensor, a host or device array, or anything NumPy converts)."""
    if isinstance(x, Tensor):
        return x.data
    return x if backend.is_array(x) else np.asarray(x)


def as_array_like(x, like, dtype=None):
    """``x`` (a Tensor, an array, a list or a number) as an array on the device of ``like``
    (an array), cast to ``dtype`` when given. Masks, labels and constants a caller passes
    as host data reach a device tensor's device here, one explicit copy."""
    if type(x) is np.ndarray and type(like) is np.ndarray:  # the CPU's fast path (a per-op cost)
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    a = as_array(x)
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    dev = backend.device_of(like)
    return a if backend.device_of(a) == dev else backend.to_device(a, dev)


def as_tensor_on(x, like: "Tensor", dtype=None) -> "Tensor":
    """``x`` as a Tensor on the device of the Tensor ``like`` (of ``dtype`` when given): a
    Tensor elsewhere moves with :meth:`Tensor.to` (staying in the graph), host data (targets,
    constants) is copied there."""
    dev = backend.device_of(like.data)
    if isinstance(x, Tensor):
        t = x if backend.device_of(x.data) == dev else x.to(dev)
    else:
        t = Tensor(as_array_like(x, like.data)) if dtype is None else Tensor(as_array_like(x, like.data), dtype=dtype)
    return as_tensor(t, dtype)


def as_mask(x):
    """A mask (a Tensor, an array or a list) as a bool array, on whatever device it is."""
    a = as_array(x)
    return a if a.dtype == np.bool_ else a.astype(bool)


def as_bool_array(x, like):
    """``x`` as a bool array on ``like``'s device (attention / sequence masks)."""
    return as_array_like(x, like, np.bool_)


# ---------------------------------------------------------------------------------------
# Graph nodes
# ---------------------------------------------------------------------------------------

BackwardFn = Callable[[object], Sequence[object]]


def make_op(out, parents: Tuple["Tensor", ...], backward: BackwardFn, name: str = "op") -> "Tensor":
    """Wrap ``out`` (an array) as the result of a differentiable op.

    ``backward(g)`` receives the gradient of the output (an array of ``out``'s shape) and
    returns one array (or None) per parent. The node is recorded only when grad mode is on
    and some parent requires grad; otherwise the closure is dropped at once.
    """
    t = Tensor.__new__(Tensor)
    t.data = out
    t.grad = None
    t._retain = False
    if is_grad_enabled() and any(p.requires_grad for p in parents):
        t.requires_grad = True
        t._parents = parents
        t._backward = backward
        t._op = name
    else:
        t.requires_grad = False
        t._parents = ()
        t._backward = None
        t._op = name
    return t


def unbroadcast(g, shape: Tuple[int, ...]):
    """Sum ``g`` down to ``shape`` (the inverse of NumPy broadcasting)."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd < 0:
        raise RuntimeError(f"autograd: gradient of shape {g.shape} cannot reduce to {shape}")
    axes = tuple(range(nd)) + tuple(i + nd for i, s in enumerate(shape) if s == 1 and g.shape[i + nd] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if nd:
        g = g.reshape(shape)
    return g


def _topo_order(roots: Sequence["Tensor"]):
    """Nodes reachable from roots, each after all nodes that consume it (iterative DFS)."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen or not root.requires_grad:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node._parents:
                if p.requires_grad and id(p) not in seen:
                    stack.append((p, False))
    order.reverse()
    return order


def run_backward(roots: Sequence["Tensor"], root_grads: Sequence[object], *, inputs=None,
                 retain_graph: bool = False):
    """Propagate ``root_grads`` from ``roots`` through the graph.

    With ``inputs`` None, gradients accumulate into ``.grad`` of leaves that require grad
    (and of tensors marked with ``retain_grad``). With ``inputs`` given, nothing is written;
    the gradients of those tensors are returned (None where unconnected).
    """
    # Overflowing gradients become inf/nan without a NumPy RuntimeWarning per op (as in
    # PyTorch); training reports a non-finite loss itself (Model.fit, TerminateOnNaN).
    with np.errstate(over="ignore", invalid="ignore"):
        return _run_backward(roots, root_grads, inputs, retain_graph)


def _run_backward(roots, root_grads, inputs, retain_graph):
    order = _topo_order(roots)
    grads = {}
    for r, g in zip(roots, root_grads):
        if r.requires_grad:
            grads[id(r)] = grads[id(r)] + g if id(r) in grads else g
    wanted = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    found = [None] * (0 if inputs is None else len(inputs))
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if wanted is not None and id(node) in wanted:
            found[wanted[id(node)]] = g
        if node._backward is None:  # a leaf
            if getattr(node, "_freed", False):
                raise RuntimeError(
                    f"backward(): the graph through a '{node._op}' result was already freed by an earlier "
                    "backward(); pass retain_graph=True to the first call to go through it twice")
            if wanted is None:
                node._accumulate(g)
            continue
        if wanted is None and node._retain:
            node._accumulate(g)
        pgrads = node._backward(g)
        for p, pg in zip(node._parents, pgrads):
            if pg is None or not p.requires_grad:
                continue
            if pg.shape != p.data.shape:
                pg = unbroadcast(pg, p.data.shape)
            if pg.dtype != p.data.dtype:
                pg = pg.astype(p.data.dtype)
            prev = grads.get(id(p))
            grads[id(p)] = pg if prev is None else prev + pg
        if not retain_graph:
            node._backward = None
            node._parents = ()
            node._freed = True
    return found


# ---------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------

class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    >>> x = ember.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad.numpy()
    array([[2., 4.]], dtype=float32)
    """

    __array_priority__ = 1000  # ndarray (op) Tensor -> Tensor's reflected op
    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "_retain",
                 "_freed", "_mask", "name", "trainable", "__weakref__")

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: Optional[str] = None):
        self.data = _to_array(data, _resolve_dtype(dtype))
        self.grad: Optional[Tensor] = None
        self.requires_grad = bool(requires_grad)
        self._parents: Tuple[Tensor, ...] = ()
        self._backward = None
        self._op = None
        self._retain = False
        self.name = name
        self.trainable = bool(requires_grad)

    # -- basic properties -------------------------------------------------------------
    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def _keras_mask(self):
        """The mask this tensor carries (from ``Masking``, ``Embedding(mask_zero=True)``, a
        layer's ``compute_mask``), under Keras' attribute name; None when there is none."""
        return getattr(self, "_mask", None)

    @_keras_mask.setter
    def _keras_mask(self, value) -> None:
        self._mask = value

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.data.dtype}{extra})"

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory on the CPU; do not mutate)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        if backend.device_of(self.data) != "cpu":  # as CuPy and PyTorch: no silent device-to-host copy
            raise TypeError("Implicit conversion of a Tensor on device 'cuda' to a NumPy array is not allowed; "
                            "use .numpy() (or .to('cpu')) to copy it to the host explicitly")
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element Tensor converts to a Python number. Received: shape={self.shape}")
        return float(self.data.reshape(()))

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self) -> float:
        return self.item()

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` on a 0-d Tensor formats its value, as NumPy formats a 0-d
        array; an empty spec gives ``str()``; other shapes with a spec raise TypeError,
        as NumPy does."""
        if not spec:
            return str(self)
        if self.data.ndim == 0:
            return format(backend.to_numpy(self.data)[()], spec)
        raise TypeError(f"unsupported format string {spec!r} passed to a Tensor of shape {self.shape}: only a 0-d "
                        "Tensor formats as a number (use float(t) or t.item() for a one-element Tensor)")

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"The truth value of a Tensor of shape {self.shape} is ambiguous")
        return bool(self.data.reshape(()))

    def detach(self) -> "Tensor":
        """A Tensor sharing the data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype) -> "Tensor":
        return _ops.core.cast(self, dtype)

    # -- device ------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Where the data lives: "cpu" or "cuda"."""
        return backend.device_of(self.data)

    def to(self, device: str) -> "Tensor":
        """This tensor on ``device`` ("cpu" or "cuda"): itself when already there, else a
        copy that stays in the graph (the gradient flows back to this device)."""
        device = backend.check_device(device)
        src = backend.device_of(self.data)
        if src == device:
            return self
        return make_op(backend.to_device(self.data, device), (self,), lambda g: (backend.to_device(g, src),),
                       "to_" + device)

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this non-leaf tensor after ``backward()``."""
        self._retain = True
        return self

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def _accumulate(self, g) -> None:
        if self.grad is None:
            self.grad = Tensor(g, dtype=self.data.dtype)
        else:
            self.grad.data = self.grad.data + g

    # -- in-place value updates (Keras Variable style; never recorded) -----------------
    def assign(self, value) -> "Tensor":
        """Overwrite the values in place (Keras' ``Variable.assign``): the shape must match
        exactly, and the value is cast to this tensor's dtype; complex values raise rather
        than lose their imaginary part."""
        v = as_array(value)
        if tuple(v.shape) != self.shape:
            raise ValueError(f"assign: the value's shape must match the variable's shape {self.shape}. "
                             f"Received: shape={tuple(v.shape)}")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"assign: the value must be real numbers for a {self.data.dtype} variable of shape "
                            f"{self.shape}. Received: dtype={v.dtype}")
        self.data[...] = self._same_device(v)
        return self

    def _same_device(self, v):
        """``v`` (an array) on this tensor's device: assigning host values to a device
        variable (set_weights, a restored checkpoint) is an explicit copy."""
        return v if backend.device_of(v) == backend.device_of(self.data) else backend.to_device(v, self.device)

    def assign_add(self, value) -> "Tensor":
        self.data += self._same_device(as_array(value)).astype(self.data.dtype, copy=False)
        return self

    def assign_sub(self, value) -> "Tensor":
        self.data -= self._same_device(as_array(value)).astype(self.data.dtype, copy=False)
        return self

    # -- autograd ----------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` defaults to 1 for a one-element tensor; it is required otherwise.
        The graph is freed afterwards unless ``retain_graph`` is True.
        """
        if getattr(self, "_freed", False):
            raise RuntimeError("backward(): the graph of this tensor was already freed by an earlier backward(); "
                               "pass retain_graph=True to the first call to go through it twice")
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad (no input requires grad, "
                               "or it was computed under ember.no_grad())")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): gradient must be given for a non-scalar output of shape {self.shape}")
            g = backend.xp(self.data).ones_like(self.data)
        else:
            g = self._same_device(as_array(gradient)).astype(self.data.dtype, copy=False)
            if tuple(g.shape) != self.shape:
                g = backend.xp(self.data).broadcast_to(g, self.shape).copy()
        run_backward([self], [g], retain_graph=retain_graph)

    # -- operators (implemented in ember.ops.core) -------------------------------------
    def __add__(self, o): return _ops.core.add(self, o)
    def __radd__(self, o): return _ops.core.add(o, self)
    def __sub__(self, o): return _ops.core.sub(self, o)
    def __rsub__(self, o): return _ops.core.sub(o, self)
    def __mul__(self, o): return _ops.core.mul(self, o)
    def __rmul__(self, o): return _ops.core.mul(o, self)
    def __truediv__(self, o): return _ops.core.div(self, o)
    def __rtruediv__(self, o): return _ops.core.div(o, self)
    def __matmul__(self, o): return _ops.core.matmul(self, o)
    def __rmatmul__(self, o): return _ops.core.matmul(o, self)
    def __pow__(self, o): return _ops.core.power(self, o)
    def __rpow__(self, o): return _ops.core.power(o, self)
    def __neg__(self): return _ops.core.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.core.abs(self)
    def __getitem__(self, idx): return _ops.core.getitem(self, idx)
    # // and % as NumPy (ops.floor_divide / ops.mod, as Keras)
    def __floordiv__(self, o): return _ops.math_ops.floor_divide(self, o)
    def __rfloordiv__(self, o): return _ops.math_ops.floor_divide(o, self)
    def __mod__(self, o): return _ops.math_ops.mod(self, o)
    def __rmod__(self, o): return _ops.math_ops.mod(o, self)

    # comparisons give bool Tensors outside the graph (as Keras and PyTorch), so that
    # x[x > 0] masks instead of indexing with 0/1 floats
    def __lt__(self, o): return make_op(self.data < as_array_like(o, self.data), (), None, "less")
    def __le__(self, o): return make_op(self.data <= as_array_like(o, self.data), (), None, "less_equal")
    def __gt__(self, o): return make_op(self.data > as_array_like(o, self.data), (), None, "greater")
    def __ge__(self, o): return make_op(self.data >= as_array_like(o, self.data), (), None, "greater_equal")

    # == and != are elementwise too (Keras' ``ops.cast(y_true, "int32") == y_pred`` idiom);
    # a Tensor still hashes by identity, and ``t in a_list`` finds it by identity first
    def __eq__(self, o):
        if o is None or not (isinstance(o, (Tensor, np.generic, int, float, bool, list, tuple)) or backend.is_array(o)):
            return NotImplemented
        return make_op(self.data == as_array_like(o, self.data), (), None, "equal")

    def __ne__(self, o):
        if o is None or not (isinstance(o, (Tensor, np.generic, int, float, bool, list, tuple)) or backend.is_array(o)):
            return NotImplemented
        return make_op(self.data != as_array_like(o, self.data), (), None, "not_equal")

    __hash__ = object.__hash__

    def __int__(self) -> int:
        """``int(t)`` of a one-element Tensor (``int(ops.sum(mask))``), as NumPy."""
        if self.data.size != 1:
            raise TypeError(f"int(): only a one-element Tensor converts to a Python int. Received: shape={self.shape}")
        return int(self.data.reshape(()))

    # -- methods -----------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False): return _ops.core.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims: bool = False): return _ops.core.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims: bool = False): return _ops.core.max(self, axis, keepdims)
    def min(self, axis=None, keepdims: bool = False): return _ops.core.min(self, axis, keepdims)
    def var(self, axis=None, keepdims: bool = False): return _ops.core.var(self, axis, keepdims)
    def exp(self): return _ops.core.exp(self)
    def log(self): return _ops.core.log(self)
    def sqrt(self): return _ops.core.sqrt(self)
    def tanh(self): return _ops.core.tanh(self)
    def sigmoid(self): return _ops.core.sigmoid(self)
    def relu(self): return _ops.core.relu(self)
    def abs(self): return _ops.core.abs(self)
    def clip(self, lo=None, hi=None): return _ops.core.clip(self, lo, hi)
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.core.reshape(self, shape)
    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.core.transpose(self, axes or None)
    def flatten(self): return _ops.core.reshape(self, (-1,))
    def squeeze(self, axis=None): return _ops.core.squeeze(self, axis)
    def expand_dims(self, axis): return _ops.core.expand_dims(self, axis)
    def matmul(self, o): return _ops.core.matmul(self, o)

    @property
    def T(self) -> "Tensor":
        return _ops.core.transpose(self, None)


class _OpsSlot:
    """The op modules Tensor's operators call. ``ember.ops.core`` and ``ember.ops.math_ops``
    fill it in when they are imported (``import ember`` does), so this lower module never
    imports ``ember.ops`` (no import cycle)."""

    core = None
    math_ops = None


_ops = _OpsSlot()


TensorLike = Union[Tensor, np.ndarray, float, int, Sequence]
