"""Keras-style layers."""
from .base import Layer  # noqa: F401
