"""The fully-connected op: ``act(x @ kernel + bias)`` as one differentiable node.

Forward: one GEMM, then the fused C++ bias + activation kernel (in place on the GEMM
output unless the backward needs the pre-activation, as gelu does). Backward: the fused
kernel gives dz = dy * act'(.) and the bias gradient (column sums, fixed order), then two
GEMMs on transposed views (no copies): dx = dz @ kernel.T, dkernel = x.T @ dz.
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, make_op
from . import core, nn

#: activations the fused kernel computes inside the dense op
FUSED = ("linear", "relu", "tanh", "gelu", "leaky_relu", "sigmoid")


def _split(activation, fuse_sigmoid: bool):
    """(fused kernel activation name, activation applied afterwards as its own op or None)."""
    if activation is None:
        return "linear", None
    if isinstance(activation, str):
        name = activation.lower()
        if name in FUSED and (name != "sigmoid" or fuse_sigmoid):
            return name, None
        return "linear", nn.get_activation(name)
    by_fn = {nn.relu: "relu", nn.tanh: "tanh", nn.gelu: "gelu", nn.sigmoid: "sigmoid"}
    name = by_fn.get(activation)  # the functions themselves fuse too (activation=F.relu)
    if name is not None and (name != "sigmoid" or fuse_sigmoid):
        return name, None
    return "linear", activation


def dense(x, kernel, bias=None, activation: Union[str, Callable, None] = None,
          leaky_slope: float = 0.2, fuse_sigmoid: bool = False) -> Tensor:
    """``activation(x @ kernel + bias)`` over the last axis of ``x``.

    Shapes: x (..., in), kernel (in, units), bias (units,) or None -> (..., units).
    ``activation``: None / "linear", "relu", "tanh", "gelu" (exact), "leaky_relu"
    (slope ``leaky_slope``) are fused into the kernel; "sigmoid" too when ``fuse_sigmoid``
    (by default it stays a separate op so losses can see the logits); anything else
    (a name or a callable) is applied as a separate op.
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    if x.dtype != kernel.dtype:
        x = core.cast(x, kernel.dtype)
    if bias is not None:
        bias = as_tensor(bias, kernel.dtype)
    act, post = _split(activation, fuse_sigmoid)
    if kernel.ndim != 2 or x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"dense: x of shape {x.shape} does not match kernel of shape {kernel.shape} "
                         "(expected x (..., in) and kernel (in, units))")
    if bias is not None and bias.shape != (kernel.shape[1],):
        raise ValueError(f"dense: bias must have shape ({kernel.shape[1]},). Received: shape={bias.shape}")
    if act == "leaky_relu" and leaky_slope < 0:
        act, post = "linear", (lambda t: nn.leaky_relu(t, leaky_slope))
    kern = backend.ops(x.data)
    if x.data.dtype not in (np.float32, np.float64):
        y = core.matmul(x, kernel)
        if bias is not None:
            y = y + bias
        if act != "linear":
            y = {"relu": nn.relu, "tanh": nn.tanh, "sigmoid": nn.sigmoid, "gelu": nn.gelu,
                 "leaky_relu": lambda t: nn.leaky_relu(t, leaky_slope)}[act](y)
        return post(y) if post is not None else y
    out = _dense_fused(x, kernel, bias, act, leaky_slope, kern)
    return post(out) if post is not None else out


def _dense_fused(x: Tensor, kernel: Tensor, bias: Optional[Tensor], act: str, slope: float, kern) -> Tensor:
    in_dim, units = kernel.shape
    xshape = x.shape
    x2 = x.data.reshape(-1, in_dim)
    W = kernel.data
    bd = None if bias is None else bias.data
    z = kern.gemm(x2, W)  # a fresh (rows, units) array we own
    if act == "gelu":
        y = kern.bias_act_forward(z, bd, act, slope)  # z is kept for the backward
    else:
        if act != "linear" or bd is not None:
            kern.bias_act_forward(z, bd, act, slope, out=z)
        y, z = z, None
    parents = (x, kernel) if bias is None else (x, kernel, bias)

    def backward(g):
        g2 = g.reshape(-1, units)
        need_db = bias is not None and bias.requires_grad
        if act == "linear":
            dz = backend.xp(g2).ascontiguousarray(g2)
            db = dz.sum(axis=0) if need_db else None
        else:
            dz, db = kern.bias_act_backward(g2, y if act != "gelu" else None, z, bd, act, slope, need_db)
        dx = kern.gemm(dz, W, trans_b=True).reshape(xshape) if x.requires_grad else None
        dw = kern.gemm(x2, dz, trans_a=True) if kernel.requires_grad else None
        return (dx, dw) if bias is None else (dx, dw, db)
    return make_op(y.reshape(xshape[:-1] + (units,)), parents, backward, "dense")
