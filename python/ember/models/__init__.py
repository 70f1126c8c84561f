"""Models: ``Sequential``, functional / subclassed ``Model``, saving and loading."""
from .model import Model  # noqa: F401
from .saving import load_model  # noqa: F401
from .sequential import Sequential  # noqa: F401
