"""Image resampling for the augmentation layers: affine sampling with Keras' fill modes and
interpolations, and bilinear resizing. Both are linear in the image, so they are written
as gathers (``getitem`` with index arrays) and products of existing ops: gradients flow
back to the input through those ops' backward passes.

Conventions follow Keras / TensorFlow's ``ImageProjectiveTransformV3``: a transform
[a0, a1, a2, b0, b1, b2] maps an output pixel (x, y) to the input point
(a0 x + a1 y + a2, b0 x + b1 y + b2); points outside the image are mapped back by the
fill mode ("reflect": d c b a | a b c d | d c b a, "wrap": a b c d | a b c d,
"nearest": a a | a b c d | d d, "constant": ``fill_value``).
"""
from __future__ import annotations

import numpy as np

from ..ops.core import getitem, matmul, mul, reshape, transpose
from ..tensor import Tensor

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _map_coordinates(c: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Input coordinates folded back into [0, n - 1] by the fill mode ("constant" keeps
    them; the sampler fills what falls outside)."""
    if mode == "constant":
        return c
    if mode == "nearest" or n == 1:
        return np.clip(c, 0, n - 1)
    if mode == "reflect":  # symmetric about the outer pixel edges (-0.5 and n - 0.5)
        c = np.mod(c, 2 * n)
        c = np.where(c >= n, 2 * n - 1 - c, c)
    else:  # wrap
        c = np.mod(c, n)
    return np.clip(c, 0, n - 1)


def affine_sample(images: Tensor, transforms: np.ndarray, interpolation: str, fill_mode: str,
                  fill_value: float) -> Tensor:
    """``images`` (N, H, W, C) resampled through one transform per image (N, 6)."""
    N, H, W, C = images.shape
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    t = transforms.astype(np.float64)[:, :, None, None]
    ix = _map_coordinates(t[:, 0] * xs + t[:, 1] * ys + t[:, 2], W, fill_mode)  # (N, H, W)
    iy = _map_coordinates(t[:, 3] * xs + t[:, 4] * ys + t[:, 5], H, fill_mode)
    if interpolation == "nearest":
        corners = [(np.floor(iy + 0.5), np.floor(ix + 0.5), np.ones_like(ix))]
    else:
        y0, x0 = np.floor(iy), np.floor(ix)
        fy, fx = iy - y0, ix - x0
        corners = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                   (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
    flat = reshape(images, (N * H * W, C))
    base = (np.arange(N) * H * W)[:, None, None]
    dt = images.dtype
    out, outside = None, np.zeros((N, H, W))
    for cy, cx, w in corners:
        inside = (cy >= 0) & (cy <= H - 1) & (cx >= 0) & (cx <= W - 1)
        idx = (base + np.clip(cy, 0, H - 1).astype(np.intp) * W + np.clip(cx, 0, W - 1).astype(np.intp)).reshape(-1)
        wk = np.where(inside, w, 0.0)
        outside += np.where(inside, 0.0, w)
        term = mul(getitem(flat, idx), Tensor(wk.reshape(-1, 1).astype(dt)))
        out = term if out is None else out + term
    out = reshape(out, (N, H, W, C))
    if fill_mode == "constant" and fill_value != 0 and np.any(outside):
        out = out + Tensor((outside * fill_value).astype(dt)[..., None])
    return out


def _resize_matrix(n_in: int, n_out: int, interpolation: str = "bilinear") -> np.ndarray:
    """(n_out, n_in) interpolation weights with half-pixel centres (as ``tf.image.resize``
    / ``keras.ops.image.resize`` without antialiasing): bilinear, or nearest (one-hot)."""
    m = np.zeros((n_out, n_in))
    if interpolation == "nearest":
        src = np.minimum(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)), n_in - 1).astype(np.intp)
        m[np.arange(n_out), src] = 1.0
        return m
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    f = src - lo
    np.add.at(m, (np.arange(n_out), lo), 1 - f)
    np.add.at(m, (np.arange(n_out), hi), f)
    return m


def resize(images: Tensor, height: int, width: int, interpolation: str = "bilinear") -> Tensor:
    """``images`` (N, H, W, C) resized to (N, height, width, C): separable, as two matmuls."""
    N, H, W, C = images.shape
    if (H, W) == (height, width):
        return images
    dt = images.dtype
    mh = Tensor(_resize_matrix(H, height, interpolation).astype(dt))
    mw = Tensor(_resize_matrix(W, width, interpolation).astype(dt))
    x = reshape(transpose(images, (0, 3, 1, 2)), (N * C, H, W))  # (NC, H, W)
    x = matmul(matmul(mh, x), transpose(mw, (1, 0)))              # (NC, height, width)
    return transpose(reshape(x, (N, C, height, width)), (0, 2, 3, 1))


def rotation_transforms(angles: np.ndarray, h: int, w: int) -> np.ndarray:
    """Transforms rotating each image by ``angles`` (radians, counter-clockwise) about its
    centre (Keras' ``get_rotation_matrix``)."""
    c, s = np.cos(angles), np.sin(angles)
    xo = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2.0
    yo = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2.0
    return np.stack([c, -s, xo, s, c, yo], axis=1)


def zoom_transforms(zx: np.ndarray, zy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Transforms sampling ``zx`` / ``zy`` times the image about its centre (> 1 zooms out)."""
    xo = (w - 1) / 2.0 * (1.0 - zx)
    yo = (h - 1) / 2.0 * (1.0 - zy)
    z = np.zeros_like(zx)
    return np.stack([zx, z, xo, z, zy, yo], axis=1)


def translation_transforms(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Transforms shifting each image by (dx, dy) pixels (positive: right / down)."""
    one, z = np.ones_like(dx), np.zeros_like(dx)
    return np.stack([one, z, -dx, z, one, -dy], axis=1)


def smart_resize(images: Tensor, height: int, width: int, interpolation: str = "bilinear") -> Tensor:
    """The largest centred window of ``images`` with the target's aspect ratio, resized to
    (height, width) (Keras' ``smart_resize``, its CenterCrop / RandomCrop fallback)."""
    H, W = images.shape[1], images.shape[2]
    ch = max(min(H, int(W * height / width)), 1)
    cw = max(min(W, int(H * width / height)), 1)
    top, left = (H - ch) // 2, (W - cw) // 2
    return resize(images[:, top:top + ch, left:left + cw, :], height, width, interpolation)
