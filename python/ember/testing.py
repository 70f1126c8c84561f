"""Test helpers: finite-difference gradient checks and reference comparisons (public)."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .autograd import grad as _grad
from .tensor import Tensor


def _scalarize(out: Tensor, w: np.ndarray) -> float:
    return float(np.sum(out.data.astype(np.float64) * w))


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, wrt: Optional[Sequence[int]] = None, seed: int = 0) -> bool:
    """Compare autograd gradients of ``fn`` with central finite differences.

    ``fn`` takes Tensors and returns a Tensor; ``inputs`` are arrays (use float64). The
    output is projected on a fixed random direction ``w`` so every output element counts:
    the checked scalar is ``sum(fn(*inputs) * w)``. ``wrt`` selects which inputs to check
    (default: every floating input). Raises AssertionError naming the input, the element
    and both values on mismatch; returns True otherwise.

    >>> ember.testing.gradcheck(lambda a, b: a @ b, [np.random.rand(3, 4), np.random.rand(4, 2)])
    """
    arrays = [np.array(x, dtype=np.float64, order="C") if np.asarray(x).dtype.kind == "f" else np.asarray(x) for x in inputs]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]

    def run(arrs, requires):
        ts = [Tensor(a, requires_grad=(i in requires), dtype=np.float64) if a.dtype.kind == "f" else a
              for i, a in enumerate(arrs)]
        return ts, fn(*ts)

    ts, out = run(arrays, set(wrt))
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor. Received: {type(out).__name__}")
    if out.data.dtype != np.float64:
        raise AssertionError(f"gradcheck: fn returned {out.data.dtype}; run the check in float64")
    w = np.random.default_rng(seed).standard_normal(out.shape)
    analytic = _grad([out], [ts[i] for i in wrt], grad_outputs=[w])
    for k, i in enumerate(wrt):
        a = arrays[i]
        g_an = np.zeros_like(a) if analytic[k] is None else analytic[k].numpy()
        g_num = np.zeros_like(a)
        flat = a.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            _, op = run(arrays, set())
            fp = _scalarize(op, w)
            flat[j] = orig - eps
            _, om = run(arrays, set())
            fm = _scalarize(om, w)
            flat[j] = orig
            g_num.reshape(-1)[j] = (fp - fm) / (2 * eps)
        bad = ~np.isclose(g_an, g_num, atol=atol, rtol=rtol)
        if bad.any():
            idx = np.unravel_index(np.argmax(bad), a.shape) if a.ndim else ()
            raise AssertionError(
                f"gradcheck: input {i} (shape {a.shape}) gradient mismatch at {idx}: "
                f"autograd={g_an[idx]!r}, finite-difference={g_num[idx]!r}; "
                f"{int(bad.sum())} of {a.size} elements differ (max abs diff "
                f"{np.max(np.abs(g_an - g_num)):.3g})")
    return True


def check_op(fn: Callable[..., Tensor], reference: Callable[..., np.ndarray], inputs: Sequence,
             rtol: float = 1e-5, atol: float = 1e-6, gradients: bool = True, **gradcheck_kw) -> None:
    """The one helper tests call for an op: forward against a NumPy ``reference`` (float32
    and float64), then the float64 finite-difference gradient check."""
    for dt, tol in ((np.float32, 1e3), (np.float64, 1.0)):
        arrs = [np.asarray(x, dtype=dt) if np.asarray(x).dtype.kind == "f" else np.asarray(x) for x in inputs]
        got = fn(*[Tensor(a, dtype=dt) if a.dtype.kind == "f" else a for a in arrs]).numpy()
        want = reference(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrs])
        np.testing.assert_allclose(got, want, rtol=rtol * tol, atol=atol * tol,
                                   err_msg=f"forward mismatch in {np.dtype(dt).name}")
        if got.dtype != np.dtype(dt):
            raise AssertionError(f"op returned dtype {got.dtype} for {np.dtype(dt).name} input")
    if gradients:
        gradcheck(fn, inputs, **gradcheck_kw)
