"""Keras-style layers."""
from .base import Layer  # noqa: F401
from .conv import Conv1D, Conv2D  # noqa: F401
from .pooling import (  # noqa: F401
    AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D,
)
from .normalization import BatchNormalization  # noqa: F401
from .reshaping import Reshape, ZeroPadding2D  # noqa: F401
