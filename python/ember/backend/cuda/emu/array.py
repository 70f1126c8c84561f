"""EmuArray: the emulated device array (test mode), refusing implicit conversion like CuPy's.

An ``EmuArray`` holds a NumPy array (its "device memory") but is not an ndarray subclass and
never hands it out implicitly: ``np.asarray(a)``, a NumPy ufunc or function with a plain
ndarray operand, ``float()`` of a non-0-d array, ``tolist()``, assigning or indexing with a host
array all raise ``TypeError``, so a host/device leak in ember's GPU code fails in CI as it would
on a GPU. ``get()`` (and ``fakecupy.asnumpy``) are the explicit device->host copies;
``fakecupy.asarray(ndarray)`` the explicit host->device copy.
"""
from __future__ import annotations

import copy as _copy
import operator

import numpy as np

from . import _cupy_names

# Device -> host transfers (``get``, ``asnumpy``, a 0-d array's float/int/bool/item): counted so
# that tests can assert a training step never waits on the device (on a GPU each one is a
# synchronisation). One integer increment per transfer keeps it cheap.
_TRANSFERS = [0]


# Functions whose output size depends on the data: CuPy reads a count back (a hidden
# synchronisation), so they count as a transfer too; so does a boolean-mask index.
SIZE_FROM_DATA = frozenset({"nonzero", "flatnonzero", "argwhere", "unique", "extract", "compress"})


def count_transfer() -> None:
    _TRANSFERS[0] += 1


def transfer_count() -> int:
    """Device -> host transfers since the process started (see ``fakecupy.transfer_stats``)."""
    return _TRANSFERS[0]


IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly.")


def unwrap(x):
    """The NumPy arrays inside ``x`` (EmuArray, or lists/tuples/dicts of them); a plain ndarray
    anywhere is a host array reaching device code: TypeError."""
    if isinstance(x, EmuArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"{IMPLICIT} (a host numpy.ndarray of shape {x.shape} was mixed with "
                        "device arrays; copy it explicitly with asarray)")
    if isinstance(x, (list, tuple)):
        items = [unwrap(v) for v in x]
        return items if isinstance(x, list) else tuple(items)
    if isinstance(x, dict):
        return {k: unwrap(v) for k, v in x.items()}
    return x


def wrap(x, outs=()):
    """Device arrays for the NumPy results in ``x``; a NumPy scalar becomes a 0-d array (CuPy's
    reductions return 0-d arrays, not host scalars). ``outs`` maps out= buffers back to their
    EmuArray so ``f(..., out=y)`` returns ``y`` itself."""
    if isinstance(x, np.ndarray):
        for o in outs:
            if o._a is x:
                return o
        return EmuArray._from_numpy(x)
    if isinstance(x, np.generic):
        return EmuArray._from_numpy(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(wrap(v, outs) for v in x)
    if isinstance(x, list):
        return [wrap(v, outs) for v in x]
    return x


def unwrap_call(fn, args, kwargs):
    """fn(*args, **kwargs) on the NumPy arrays inside, results re-wrapped."""
    out = kwargs.get("out")
    outs = out if isinstance(out, tuple) else (out,) if out is not None else ()
    outs = tuple(o for o in outs if isinstance(o, EmuArray))
    return wrap(fn(*unwrap(args), **unwrap(kwargs)), outs)


class _Pointer:
    """``a.data``: what a launcher reads (``.ptr``), as cupy.cuda.MemoryPointer."""
    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = ptr

    def __int__(self):
        return self.ptr


class Device:
    """The one emulated device (``cupy.cuda.Device`` subset)."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return None

    def synchronize(self):
        return None  # emulated launches are synchronous

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("emu-device", self.id))

    def __repr__(self):
        return f"<Emulated CUDA Device {self.id}>"


# Methods of ndarray that stay on the device (array in, arrays out); anything else (tolist,
# tobytes, tofile, __array__ ...) is not reachable.
_METHODS = frozenset("""
    all any argmax argmin argpartition argsort astype choose clip compress conj conjugate copy
    cumprod cumsum diagonal dot fill flatten max mean min nonzero partition prod put ravel
    repeat reshape round searchsorted sort squeeze std sum swapaxes take trace transpose var
    view
""".split())


class EmuArray:
    """An emulated CUDA device array (``fakecupy.ndarray``)."""

    # _a: the "device memory" (fixed for the array's life); _data: cached data pointer
    __slots__ = ("_a", "_data", "__weakref__")

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("EmuArray: memptr/strides construction is not emulated")
        from .memory import allocate
        new = allocate(shape, dtype, order)
        self._a, self._data = new._a, None

    @classmethod
    def _from_numpy(cls, a: np.ndarray) -> "EmuArray":
        obj = cls.__new__(cls)
        obj._a = a
        obj._data = None
        return obj

    # ---- explicit transfers --------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
        """A host (NumPy) copy: the explicit device -> host transfer."""
        _TRANSFERS[0] += 1
        if out is not None:
            if not isinstance(out, np.ndarray) or out.shape != self._a.shape:
                raise ValueError("EmuArray.get: out must be a numpy.ndarray of shape "
                                 f"{self._a.shape}. Received: {type(out).__name__}")
            np.copyto(out, self._a)
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None) -> None:
        """Copy host ``arr`` into this array (the explicit host -> device transfer)."""
        if not isinstance(arr, np.ndarray) or arr.shape != self._a.shape or arr.dtype != self._a.dtype:
            raise ValueError(f"EmuArray.set: expected a numpy.ndarray of shape {self._a.shape} and "
                             f"dtype {self._a.dtype}. Received: {type(arr).__name__} "
                             f"{getattr(arr, 'shape', '')} {getattr(arr, 'dtype', '')}")
        np.copyto(self._a, arr)

    # ---- refusals ------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT)

    def tolist(self):
        raise TypeError(f"{IMPLICIT} (tolist on a device array)")

    def tobytes(self, order="C"):
        raise TypeError(f"{IMPLICIT} (tobytes on a device array)")

    def tofile(self, *args, **kwargs):
        raise TypeError(f"{IMPLICIT} (tofile on a device array)")

    def _scalar(self, kind):
        if self._a.ndim != 0:
            raise TypeError(f"{kind}() of a device array of shape {self._a.shape}: only 0-d "
                            "arrays convert to Python scalars (use .get() for a host copy)")
        _TRANSFERS[0] += 1
        return kind(self._a)

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __complex__(self):
        return self._scalar(complex)

    def __index__(self):
        if self._a.ndim != 0 or self._a.dtype.kind not in "iub":
            raise TypeError(f"only 0-d integer device arrays can be used as an index. Received: "
                            f"shape {self._a.shape}, dtype {self._a.dtype}")
        _TRANSFERS[0] += 1
        return operator.index(self._a[()])

    def __bool__(self):
        if self._a.size > 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        return self._scalar(bool)

    def item(self, *args):
        _TRANSFERS[0] += 1
        return self._a.item(*args)

    # ---- NumPy protocols: device arrays stay device arrays --------------------------------
    # NumPy functions on device arrays run as CuPy's (np.exp(d) is cupy.exp(d)); one CuPy
    # lacks is NotImplemented there, so NumPy raises TypeError, as with real CuPy arrays.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc.__name__ not in _cupy_names.TOP:
            return NotImplemented
        return unwrap_call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        module = getattr(func, "__module__", "") or ""
        names = (_cupy_names.LINALG if module.endswith("linalg") else
                 _cupy_names.FFT if module.endswith("fft") else _cupy_names.TOP)
        if func.__name__ not in names:
            return NotImplemented
        return unwrap_call(func, args, kwargs)

    # ---- attributes ----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: EmuArray._from_numpy(self._a.T))
    mT = property(lambda self: EmuArray._from_numpy(np.swapaxes(self._a, -1, -2)))

    @property
    def data(self) -> _Pointer:
        # the buffer never moves (``_a`` is fixed for the array's life): computed once
        if self._data is None:
            self._data = _Pointer(self._a.__array_interface__["data"][0])
        return self._data
    device = property(lambda self: Device(0))

    @property
    def real(self):
        return EmuArray._from_numpy(self._a.real)

    @property
    def imag(self):
        return EmuArray._from_numpy(self._a.imag)

    def __getattr__(self, name):
        if name in _METHODS:
            method = getattr(self._a, name)
            if name in SIZE_FROM_DATA:
                _TRANSFERS[0] += 1
            return lambda *args, **kwargs: unwrap_call(method, args, kwargs)
        raise AttributeError(f"'EmuArray' (emulated device array) has no attribute {name!r}")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __contains__(self, value):
        return bool((self == value).any())

    def __getitem__(self, index):
        index = _index(index)
        if any(isinstance(i, np.ndarray) and i.dtype == bool for i in (index if isinstance(index, tuple) else (index,))):
            _TRANSFERS[0] += 1  # a boolean mask: CuPy reads the number of selected elements back
        return wrap(self._a[index])

    def __setitem__(self, index, value):
        if isinstance(value, (list, tuple)):
            raise TypeError(f"{IMPLICIT} (assigning a Python {type(value).__name__} to a device "
                            "array: make it a device array with asarray)")
        self._a[_index(index)] = unwrap(value)

    def __copy__(self):
        return EmuArray._from_numpy(self._a.copy())

    def __deepcopy__(self, memo):
        return EmuArray._from_numpy(self._a.copy())

    def __reduce__(self):
        return (EmuArray._from_numpy, (self._a.copy(),))

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a[()] if self._a.ndim == 0 else str(self._a), spec)

    __hash__ = None


def _index(index):
    if isinstance(index, tuple):
        return tuple(_index_item(i) for i in index)
    return _index_item(index)


def _index_item(i):
    if isinstance(i, EmuArray):
        return i._a
    if isinstance(i, np.ndarray):
        raise TypeError(f"{IMPLICIT} (a host numpy.ndarray used as an index into a device array)")
    if isinstance(i, list):
        raise TypeError(f"{IMPLICIT} (a Python list used as an index into a device array)")
    return i


def _binary(fn, reflected=False):
    if reflected:
        def op(self, other):
            return unwrap_call(fn, (other, self), {})
    else:
        def op(self, other):
            return unwrap_call(fn, (self, other), {})
    return op


def _inplace(fn):
    def op(self, other):
        fn(self._a, unwrap(other), out=self._a)
        return self
    return op


for _name, _fn in {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                   "truediv": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder,
                   "pow": np.power, "matmul": np.matmul, "and": np.bitwise_and,
                   "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift,
                   "rshift": np.right_shift}.items():
    setattr(EmuArray, f"__{_name}__", _binary(_fn))
    setattr(EmuArray, f"__r{_name}__", _binary(_fn, reflected=True))
    setattr(EmuArray, f"__i{_name}__", _inplace(_fn))
for _name, _fn in {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                   "gt": np.greater, "ge": np.greater_equal, "divmod": np.divmod}.items():
    setattr(EmuArray, f"__{_name}__", _binary(_fn))
EmuArray.__rdivmod__ = _binary(np.divmod, reflected=True)
for _name, _fn in {"neg": np.negative, "pos": np.positive, "abs": np.absolute,
                   "invert": np.invert}.items():
    setattr(EmuArray, f"__{_name}__", (lambda f: lambda self: wrap(f(self._a)))(_fn))
del _name, _fn
