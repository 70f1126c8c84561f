"""Plain NumPy references shared by the tests (the oracles; float64)."""
import math

import numpy as np


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def activation(z, act, alpha=0.2):
    """act(z) for a Keras activation name, in float64."""
    z = np.asarray(z, dtype=np.float64)
    if act in (None, "linear"):
        return z
    if act == "relu":
        return np.maximum(z, 0)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if act == "tanh":
        return np.tanh(z)
    if act == "gelu":
        return 0.5 * z * (1 + erf(z / np.sqrt(2)))
    if act == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if act == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if act == "elu":
        return np.where(z > 0, z, np.expm1(z))
    raise ValueError(f"no reference for activation {act!r}")
