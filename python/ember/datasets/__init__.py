"""Loaders for real datasets stored as files (no network): MNIST (IDX), CIFAR-10 (binary).

Files are looked up in ``path`` when given, else ``$EMBER_DATASETS/<name>``, else
``~/.ember/datasets/<name>``.
"""
from . import cifar10, mnist  # noqa: F401
