"""Loaders for real datasets, as ``keras.datasets``: ``mnist``, ``fashion_mnist``, ``cifar10``
(the binary version, never a pickle), ``imdb``, ``reuters``, ``boston_housing``. Each is
downloaded with a hash check (``utils.get_file``) only when no local copy is found.

Without a path, files are looked up in ``$EMBER_DATASETS/<name>``, ``./data/<name>``,
``./<name>`` and the cache ``~/.ember/datasets`` (``$EMBER_HOME/datasets``); see ``_paths``.
"""
from . import boston_housing, cifar10, fashion_mnist, imdb, mnist, reuters  # noqa: F401
