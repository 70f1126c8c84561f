"""Where dataset files are looked for."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence


def candidates(name: str, path: Optional[str]) -> Sequence[Path]:
    if path is not None:
        return [Path(path).expanduser()]
    out = []
    env = os.environ.get("EMBER_DATASETS")
    if env:
        out.append(Path(env).expanduser() / name)
    out.append(Path.home() / ".ember" / "datasets" / name)
    return out
