"""Which file format a path names, and the atomic write the foreign formats share.

``.keras`` is a Keras 3 archive and ``.weights.h5`` Keras' weights file (``saving_keras``),
``.safetensors`` a safetensors weights file (``saving_safetensors``); any other name is
ember's own .npz-based format (``saving``)."""
from __future__ import annotations

import os
from typing import Optional


def format_of(path) -> Optional[str]:
    """"keras", "weights.h5", "safetensors", or None for ember's own format."""
    name = os.fspath(path).lower() if isinstance(path, (str, os.PathLike)) else ""
    if name.endswith(".keras"):
        return "keras"
    if name.endswith(".weights.h5"):
        return "weights.h5"
    if name.endswith(".safetensors"):
        return "safetensors"
    return None


def is_ember_npz(path) -> bool:
    """Whether ``path`` is a file in ember's own format (an .npz zip of ``config.npy`` and /
    or ``w0000.npy`` ...): what ember wrote under any name, ``.keras`` included, before it
    wrote Keras' format there. Such files keep loading."""
    import zipfile
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except OSError:
        return False
    return "config.json" not in names and any(n == "config.npy" or (n.startswith("w") and n.endswith(".npy"))
                                                for n in names)


def write_bytes_atomic(path, data: bytes) -> None:
    """``data`` into ``path`` through ``ember.fileio.atomic_write`` (temporary file, fsync,
    ``os.replace``, folder fsync; a reader never sees a half-written file)."""
    from ..fileio import atomic_write
    atomic_write(os.fspath(path), lambda f: f.write(data))
