"""Where dataset files are looked for, in order: ``$EMBER_DATASETS/<name>``, the local
folders ``./data/<name>`` and ``./<name>`` (relative to the working directory), then the
cache ``$EMBER_HOME/datasets`` (default ``~/.ember/datasets``) and its ``<name>`` folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from ..utils.file_utils import ember_home


def cache_dir() -> Path:
    return ember_home() / "datasets"


def candidates(name: str, path: Optional[str] = None) -> List[Path]:
    """The folders to look in: only ``path`` when given, else the search order above."""
    if path is not None:
        return [Path(path).expanduser()]
    out = []
    env = os.environ.get("EMBER_DATASETS")
    if env:
        out.append(Path(env).expanduser() / name)
    out += [Path.cwd() / "data" / name, Path.cwd() / name, cache_dir() / name, cache_dir()]
    return out
