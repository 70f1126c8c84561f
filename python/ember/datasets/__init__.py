"""Loaders for real datasets, as ``keras.datasets``: MNIST (IDX files or Keras' npz;
downloaded with a hash check when not found), CIFAR-10 (binary version, files only).

Without a path, files are looked up in ``$EMBER_DATASETS/<name>``, ``./data/<name>``,
``./<name>`` and the cache ``~/.ember/datasets`` (``$EMBER_HOME/datasets``); see ``_paths``.
"""
from . import cifar10, mnist  # noqa: F401
