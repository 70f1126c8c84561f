"""Images as arrays and back (``keras.utils.array_to_img`` / ``img_to_array`` / ``load_img``
/ ``save_img``), through Pillow, an optional dependency (``pip install pillow``)."""
from __future__ import annotations

import io
import os
from typing import Optional, Tuple

import numpy as np

_INTERPOLATION = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ember's image utilities (array_to_img, img_to_array, load_img, save_img) need Pillow, "
                          "which is not installed: pip install pillow (ember itself does not depend on it)") from None
    return Image


def _format(data_format: Optional[str]) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"Invalid data_format: {data_format}. Expected 'channels_last' or 'channels_first'")
    return data_format


def array_to_img(x, data_format: Optional[str] = None, scale: bool = True, dtype=None):
    """A 3-D array (height, width, channels) with 1 (grey), 3 (RGB) or 4 (RGBA) channels as a
    PIL image; ``scale`` maps the values' range onto 0..255 (Keras: subtract the minimum,
    divide by the maximum when it is not 0)."""
    Image = _pil()
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if _format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x = x / x_max
        x = x * 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:  # 32-bit signed integer greyscale
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def img_to_array(img, data_format: Optional[str] = None, dtype=None) -> np.ndarray:
    """A PIL image as a 3-D array (height, width, channels), float32 by default."""
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x.reshape(x.shape + (1,))
    elif x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    if _format(data_format) == "channels_first":
        x = x.transpose(2, 0, 1)
    return x


def load_img(path, color_mode: str = "rgb", target_size: Optional[Tuple[int, int]] = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False):
    """An image file (path or file object) as a PIL image in ``color_mode`` ("grayscale",
    "rgb", "rgba"), resized to ``target_size`` (height, width) when given; with
    ``keep_aspect_ratio`` the centre is cropped to the target's aspect ratio first."""
    Image = _pil()
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    if interpolation not in _INTERPOLATION:
        raise ValueError(f"Invalid interpolation method {interpolation!r}. Supported: {', '.join(_INTERPOLATION)}")
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    mode = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}[color_mode]
    if img.mode not in mode:
        img = img.convert(mode[0])
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            if keep_aspect_ratio:
                w, h = img.size
                tw, th = width_height
                cw, ch = (w, w * th // tw) if w * th <= h * tw else (h * tw // th, h)
                left, top = (w - cw) // 2, (h - ch) // 2
                img = img.crop((left, top, left + cw, top + ch))
            img = img.resize(width_height, getattr(Image, interpolation.upper()))
    return img


def save_img(path, x, data_format: Optional[str] = None, file_format: Optional[str] = None, scale: bool = True,
             **kwargs) -> None:
    """Write the array ``x`` as an image file (format from ``file_format`` or the extension)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format == "jpg" or file_format == "jpeg" or
                               str(path).lower().endswith((".jpg", ".jpeg"))):
        img = img.convert("RGB")  # JPEG has no alpha channel (Keras drops it the same way)
    if file_format == "jpg":
        file_format = "jpeg"
    img.save(path, format=file_format, **kwargs)
