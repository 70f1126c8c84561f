"""Models: ``Sequential``, functional / subclassed ``Model``, saving and loading."""
from ..serialization import register_model_builder as _register_model_builder
from .model import Model  # noqa: F401
from .saving import _sequential_from_config, functional_from_config, load_model  # noqa: F401
from .sequential import Sequential  # noqa: F401

# Configs may nest models (a Sequential used as a layer): serialization, below this package,
# builds them through these.
_register_model_builder("Sequential", _sequential_from_config)
_register_model_builder("Functional", functional_from_config)
