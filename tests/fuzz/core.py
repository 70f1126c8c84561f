"""The fuzz harness' vocabulary: a Case (one call of an ember._C function), the roles of
its arguments, the generic mutations (wrong type / dtype / rank / shape / strides /
alignment / writeability / aliasing / out-of-range integers / NaN and Inf), and the
comparison of a result with its float64 NumPy reference.

A spec (specs_*.py) builds a *valid* call and knows its reference; a mutation then breaks
one argument and says what the binding must do: raise ("error") or still answer right
("ok"). Views with the same values (strided, reversed, unaligned) keep the reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from hypothesis import strategies as st

#: exceptions a binding may raise for bad input; anything else (RuntimeError, SystemError,
#: a crash) is a defect
ALLOWED = (TypeError, ValueError, OverflowError, MemoryError)

JUNK = [3, 2.5, np.float32(1.0), np.int64(2), [1.0, 2.0], "x", b"\x00", object(), (1, 2)]
DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.complex64, object]


@dataclass
class Role:
    kind: str                       # "in", "out", "state", "mask", "labels", "idx", "int", "ints", "float"
    optional: bool = False          # None is a valid value
    dtypes: tuple = ()              # accepted dtypes (empty: the case's float dtype)
    strided_ok: bool = False        # any strides accepted (copied or read with strides)
    free: bool = False              # its shape defines the sizes (changing it stays valid)
    lo: int = 0                     # valid range of an int / the entries of an int list
    hi: int = 2**31 - 1
    nan_ok: bool = True             # NaN/Inf may be planted (the reference follows IEEE)
    flat: bool = False              # read as a flat run of elements: any shape of the right size


@dataclass
class Case:
    fn: str
    args: Dict[str, Any]
    roles: Dict[str, Role]
    dtype: Any
    check: Optional[Callable] = None        # check(before, args, result) -> raises Mismatch
    expect: str = "ok"                      # "ok" or "error"
    note: str = "valid"
    inplace_ok: tuple = ()                  # (out, input) pairs that may be the same array
    nan_planted: bool = False
    ref_nan: bool = True                    # the reference defines NaN/Inf results
    # what may be planted: a backward op's infinities take a formula-dependent route to
    # inf or NaN, so those get NaN only (NaN must reach the output whatever the formula)
    plant: tuple = (np.nan, np.inf, -np.inf)


class Mismatch(AssertionError):
    pass


def describe(v) -> str:
    """A compact, reproducible-enough description of one argument."""
    if isinstance(v, np.ndarray):
        fl = "".join(c for c, f in (("C", v.flags.c_contiguous), ("A", v.flags.aligned),
                                      ("W", v.flags.writeable)) if f)
        extra = ""
        if v.size and v.dtype.kind == "f":
            extra = f" nan={int(np.isnan(v).sum())} inf={int(np.isinf(v).sum())}"
        elif v.size and v.dtype.kind in "iu" and v.size <= 8:
            extra = f" vals={v.ravel().tolist()}"
        return f"ndarray{v.shape}{v.dtype.str}/s{v.strides}/{fl}{extra}"
    if isinstance(v, (list, tuple)) and len(v) <= 8:
        return repr(v)
    r = repr(v)
    return r if len(r) < 40 else type(v).__name__


def describe_case(c: Case) -> str:
    args = ", ".join(f"{k}={describe(v)}" for k, v in c.args.items())
    return f"{c.fn}({args}) [{c.note}; expect {c.expect}]"


# ---------------------------------------------------------------------------------------
# strategies shared by the specs
# ---------------------------------------------------------------------------------------

def dims(draw, lo=0, hi=5, big=17):
    """A size: mostly 0..hi, sometimes up to `big` (SIMD tails, blocked paths)."""
    return draw(st.one_of(st.integers(lo, hi), st.integers(lo, big)))


def floats(draw, shape, dtype, scale=1.0):
    seed = draw(st.integers(0, 2**32 - 1))
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def float_dtype(draw):
    return draw(st.sampled_from([np.float32, np.float64]))


# ---------------------------------------------------------------------------------------
# mutations
# ---------------------------------------------------------------------------------------

def _views(a: np.ndarray, draw):
    """Same values, other memory layouts: (label, view)."""
    out = []
    if a.ndim:
        big = np.zeros(a.shape[:-1] + (a.shape[-1] * 2 + 1,), a.dtype)
        big[..., ::2][..., :a.shape[-1]] = a
        out.append(("strided", big[..., ::2][..., :a.shape[-1]]))
        r = np.ascontiguousarray(a[::-1])[::-1]
        out.append(("reversed", r))
        t = np.ascontiguousarray(np.swapaxes(a, 0, -1))
        out.append(("transposed", np.swapaxes(t, 0, -1)))
    if a.dtype != object and a.dtype.itemsize > 1:
        buf = np.zeros(a.nbytes + a.dtype.itemsize, np.uint8)
        u = buf[1:1 + a.nbytes].view(a.dtype).reshape(a.shape)
        u[...] = a
        out.append(("unaligned", u))
    if a.ndim and a.size and a.shape[0] == 1:
        out.append(("broadcast", np.broadcast_to(a[:1], a.shape)))
    return out


def _layout_ok(role: Role, v: np.ndarray) -> bool:
    if role.strided_ok and role.kind == "mask":  # read with its strides, which must be >= 0
        return all(st_ >= 0 for st_ in v.strides)
    if role.strided_ok:
        return True
    return bool(v.flags.c_contiguous and v.flags.aligned)


def _array_slots(c: Case, kinds=None):
    return [k for k, r in c.roles.items() if isinstance(c.args.get(k), np.ndarray)
            and (kinds is None or r.kind in kinds)]


def mutate(c: Case, draw) -> None:
    """Apply at most one breaking mutation (and maybe NaN/Inf planting) to c in place."""
    choice = draw(st.sampled_from(["none", "none", "type", "dtype", "rank", "shape", "layout", "readonly",
                                   "alias", "int", "scalar", "nan", "nan"]))
    arrays = _array_slots(c)
    present = sorted(k for k in c.roles if k in c.args)
    if choice == "type" and present:
        k = draw(st.sampled_from(present))
        r = c.roles[k]
        if r.kind in ("int", "ints", "float"):
            return
        c.args[k] = draw(st.sampled_from(JUNK + ([None] if not r.optional else [])))
        c.expect, c.note = "error", f"{k}: not an array ({type(c.args[k]).__name__})"
    elif choice == "dtype" and arrays:
        k = draw(st.sampled_from(arrays))
        r, a = c.roles[k], c.args[k]
        dt = np.dtype(draw(st.sampled_from(DTYPES + [">f4", ">f8"])))
        accepted = [np.dtype(d) for d in (r.dtypes or (c.dtype,))]
        floats_ = [j for j in arrays if c.args[j].dtype.kind == "f" and c.roles[j].kind != "mask"]
        if floats_ == [k]:  # the only float operand sets the dtype: either float is valid
            accepted += [np.dtype(np.float32), np.dtype(np.float64)]
        if dt in accepted:
            return
        c.args[k] = a.astype(dt) if dt != object else a.astype(object)
        c.expect, c.note = "error", f"{k}: dtype {dt}"
    elif choice == "rank" and arrays:
        k = draw(st.sampled_from(arrays))
        a = c.args[k]
        merge = a.ndim >= 2 and draw(st.booleans())
        c.args[k] = a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],)) if merge else a[None]
        c.expect = "ok" if c.roles[k].flat else "error"
        c.note = f"{k}: rank {a.ndim} -> {c.args[k].ndim}"
    elif choice == "shape" and arrays:
        k = draw(st.sampled_from(arrays))
        r, a = c.roles[k], c.args[k]
        if r.free or a.ndim == 0:
            return
        ax = draw(st.integers(0, a.ndim - 1))
        shape = list(a.shape)
        shape[ax] += 1
        c.args[k] = np.zeros(shape, a.dtype)
        same_size = c.args[k].size == a.size
        c.expect = "ok" if (r.flat and same_size) else "error"
        c.note = f"{k}: shape {a.shape} -> {tuple(shape)}"
    elif choice == "layout" and arrays:
        k = draw(st.sampled_from(arrays))
        views = _views(c.args[k], draw)
        if not views:
            return
        label, v = draw(st.sampled_from(views))
        c.args[k] = v
        ok = _layout_ok(c.roles[k], v) and (v.flags.writeable or c.roles[k].kind not in ("out", "state"))
        c.expect, c.note = ("ok" if ok else "error"), f"{k}: {label} view"
    elif choice == "readonly" and arrays:
        k = draw(st.sampled_from(arrays))
        v = c.args[k].copy()
        v.flags.writeable = False
        c.args[k] = v
        c.expect = "error" if c.roles[k].kind in ("out", "state") else "ok"
        c.note = f"{k}: read-only"
    elif choice == "alias":
        _alias(c, draw)
    elif choice == "int":
        ints = [k for k in present if c.roles[k].kind in ("int", "ints")]
        if not ints:
            return
        k = draw(st.sampled_from(ints))
        r = c.roles[k]
        bad = draw(st.sampled_from([r.lo - 1, -1, -2**31, r.hi + 1, 2**31, 2**62, 2**63 - 1, 2**64, -2**63]))
        if r.lo <= bad <= r.hi:
            return
        if r.kind == "int":
            c.args[k] = bad
        else:
            v = list(c.args[k])
            if not v:
                return
            v[draw(st.integers(0, len(v) - 1))] = bad
            c.args[k] = v
        c.expect, c.note = "error", f"{k}: {bad}"
    elif choice == "scalar":
        sc = [k for k in present if c.roles[k].kind in ("int", "ints", "float")]
        if not sc:
            return
        k = draw(st.sampled_from(sc))
        c.args[k] = draw(st.sampled_from([None, "x", [object()]] + ([1.5] if c.roles[k].kind != "float" else [])))
        c.expect, c.note = "error", f"{k}: {c.args[k]!r}"
    elif choice == "nan":
        plantable = [k for k in _array_slots(c, ("in", "state", "out")) if c.roles[k].nan_ok
                     and c.args[k].dtype.kind == "f" and c.args[k].size]
        if not plantable:
            return
        for k in draw(st.lists(st.sampled_from(plantable), min_size=1, max_size=2, unique=True)):
            a = c.args[k]
            flat = a.reshape(-1)
            for _ in range(draw(st.integers(1, 3))):
                flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(list(c.plant)))
        c.nan_planted, c.note = True, "nan/inf planted"


def _alias(c: Case, draw) -> None:
    written = _array_slots(c, ("out", "state"))
    others = [k for k in _array_slots(c) if k not in written or len(written) > 1]
    if not written or not others:
        return
    w = draw(st.sampled_from(written))
    src = draw(st.sampled_from([k for k in others if k != w] or [w]))
    if src == w:
        return
    a, b = c.args[w], c.args[src]
    if a.dtype != b.dtype or a.shape != b.shape:
        if a.dtype != b.dtype or b.size < a.size or not b.flags.c_contiguous:
            return
        c.args[w] = b.reshape(-1)[:a.size].reshape(a.shape)  # a view of the other buffer
    else:
        c.args[w] = b
    if not c.args[w].size:
        return  # empty arrays share no bytes
    same = c.args[w] is b and ((w, src) in c.inplace_ok)
    c.expect, c.note = ("ok" if same else "error"), f"{w} aliases {src}"


# ---------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------

def close(name: str, got, want, dtype, rtol=None, scale=None) -> None:
    """got ~ want (float64 reference): NaN where want is NaN, the same infinities, and
    |got - want| <= atol + rtol |want| elsewhere, with tolerances of got's precision."""
    if want is None:
        if got is not None:
            raise Mismatch(f"{name}: expected None, got {describe(got)}")
        return
    if not isinstance(got, np.ndarray):
        raise Mismatch(f"{name}: expected an array, got {type(got).__name__}")
    want = np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise Mismatch(f"{name}: shape {got.shape}, expected {want.shape}")
    g = np.asarray(got, np.float64)
    f32 = got.dtype == np.float32
    overflowed = np.zeros(want.shape, bool)
    if f32:  # beyond float32's range the right float32 answer is an infinity
        with np.errstate(over="ignore"):
            cast = want.astype(np.float32).astype(np.float64)
        # ... or NaN: a finite float64 result past float32's range means float32
        # intermediates overflowed too, and inf - inf or 0 * inf on the way is NaN (IEEE).
        # Only those elements; a reference that is itself infinite stays exact.
        overflowed = np.isinf(cast) & np.isfinite(want)
        want = cast
    rtol = rtol if rtol is not None else (5e-3 if f32 else 1e-6)
    fin = np.isfinite(want)
    s = scale if scale is not None else max(1.0, float(np.abs(want[fin]).max()) if fin.any() else 1.0)
    atol = rtol * 0.1 * s
    bad = (np.isnan(want) != np.isnan(g)) & ~overflowed
    inf = np.isinf(want)
    bad |= inf & (g != want) & ~(overflowed & np.isnan(g))
    bad |= fin & ~(np.abs(g - want) <= atol + rtol * np.abs(want))
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        raise Mismatch(f"{name}: {int(bad.sum())} of {bad.size} elements differ; first at {i}: "
                       f"got {g[i]!r}, expected {want[i]!r}")


def f64(a):
    return None if a is None else np.asarray(a, np.float64)


def snapshot(args: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in args.items()}


SPECS: Dict[str, Callable] = {}


def spec(*names):
    """Register a case builder for the _C functions `names` (builder(draw, name) -> Case)."""
    def deco(f):
        for n in names:
            SPECS[n] = f
        return f
    return deco


def directions(draw, *shapes) -> List[np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


__all__ = ["ALLOWED", "Case", "Role", "Mismatch", "mutate", "close", "f64", "snapshot", "SPECS", "spec",
           "dims", "floats", "float_dtype", "describe_case", "directions", "field"]
