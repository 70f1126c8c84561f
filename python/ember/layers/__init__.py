"""Keras-style layers."""
from .base import Layer  # noqa: F401
from .core import (  # noqa: F401
    ELU, Activation, Dense, Dropout, Flatten, InputLayer, LeakyReLU, ReLU, Softmax,
)
from .merge import Add, Average, Concatenate, Maximum, Multiply, Subtract, add, concatenate, multiply  # noqa: F401
from ..symbolic import Input  # noqa: F401
