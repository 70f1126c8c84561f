"""NumPy baselines: what a user would write without ember (im2col convolution through
``sliding_window_view`` + matmul, softmax cross-entropy). Shared by ``python -m ember.bench``
and ``bench/bench_conv.py`` / ``bench/bench_softmax.py``."""
import numpy as np


def conv3x3(x: np.ndarray, w: np.ndarray, pad: int):
    """NHWC 3x3 stride-1 convolution: (the patch matrix, the output)."""
    n, c, oc = x.shape[0], x.shape[3], w.shape[3]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # N,OH,OW,C,3,3
    col = np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, 9 * c)
    return col, (col @ w.reshape(9 * c, oc)).reshape(n, win.shape[1], win.shape[2], oc)


def conv3x3_backward(x: np.ndarray, w: np.ndarray, col: np.ndarray, g: np.ndarray, pad: int):
    """Gradients (dW, dx) of ``conv3x3`` for the output gradient ``g``."""
    n, h, wd, c = x.shape
    oc = w.shape[3]
    g2 = g.reshape(-1, oc)
    dw = col.T @ g2
    dcol = (g2 @ w.reshape(9 * c, oc).T).reshape(n, g.shape[1], g.shape[2], 3, 3, c)
    dx = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), np.float32)
    for i in range(3):
        for j in range(3):
            dx[:, i:i + g.shape[1], j:j + g.shape[2]] += dcol[:, :, :, i, j]
    return dw, dx


def softmax_xent(x: np.ndarray, labels: np.ndarray):
    """Summed sparse softmax cross-entropy of logits ``x`` and its gradient."""
    n = x.shape[0]
    m = x.max(-1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(-1, keepdims=True)
    loss = np.log(s[:, 0]) + m[:, 0] - x[np.arange(n), labels]
    p = e / s
    p[np.arange(n), labels] -= 1
    return loss.sum(), p
