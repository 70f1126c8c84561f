"""The one place that knows whether ember's CUDA backend runs on CuPy or on the CPU emulator.

* ``xp()``: the device array module: ``cupy``, or ``emu.fakecupy`` in emulation.
* ``kernel(family, name)``: a launchable kernel from ``kernels/<family>.cu``, called as CuPy's
  RawKernel: ``fn(grid, block, args, shared_mem=0)`` with ``args`` a tuple of device arrays and
  NumPy scalars typed like the C parameters (np.int32 for int, np.int64 for long long,
  np.float32/np.float64 for float/double). Compiled once per process (NVRTC through
  ``cupy.RawModule``; g++ in emulation, cached on disk) and cached.
* ``OPTIONS``: the exact NVRTC options of every run-time compile (tests/test_cuda_compile.py
  compiles each family with them for sm_80 and sm_90).
* ``use_emulation(flag)`` / env ``EMBER_CUDA_EMULATION=1`` / ``with emulation():``: run the
  CUDA backend on the CPU (device arrays are ``EmuArray``, kernels run through the emulator).
* ``is_available()`` / ``unavailable_reason()``: whether a real GPU can be used, and why not.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"

# -std=c++17: the kernels' dialect (nvcc checks the same). -I: common.cuh (also inlined by
# source(), so CuPy's on-disk cache, keyed on the source text, sees header changes).
# CuPy's RawModule appends -ftz=true and -arch for the current device.
OPTIONS: tuple[str, ...] = ("-std=c++17", f"-I{KERNELS_DIR}")

_ENV = "EMBER_CUDA_EMULATION"
_emulation: bool | None = None  # None: follow the environment variable
_lock = threading.Lock()
_modules: dict = {}
_kernels: dict = {}


def use_emulation(flag: bool | None = True) -> None:
    """Run the CUDA backend emulated on the CPU (True), on CuPy (False), or as the
    ``EMBER_CUDA_EMULATION`` environment variable says (None)."""
    global _emulation
    if flag is not None and not isinstance(flag, bool):
        raise TypeError(f"use_emulation: flag must be True, False or None. Received: {flag!r}")
    _emulation = flag


@contextlib.contextmanager
def emulation(flag: bool = True):
    """``with emulation():`` runs the block with emulation on (or off), then restores the
    previous setting (for tests)."""
    global _emulation
    previous = _emulation
    use_emulation(flag)
    try:
        yield
    finally:
        _emulation = previous


def emulating() -> bool:
    """True when device arrays and kernels are emulated on the CPU."""
    if _emulation is not None:
        return _emulation
    return os.environ.get(_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def unavailable_reason() -> str | None:
    """Why no real GPU can be used (None when one can)."""
    try:
        import cupy
    except ImportError as e:
        return (f"CuPy is not installed ({e}); install the GPU extra: pip install \"ember[cuda]\" "
                "(CuPy for CUDA 13 and NVRTC)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without a driver, and any loader failure
        return f"CuPy {cupy.__version__} is installed but no CUDA device is usable: {e}"
    if count < 1:
        return f"CuPy {cupy.__version__} is installed but found no CUDA device"
    return None


def is_available() -> bool:
    """True when CuPy is installed and a CUDA GPU is usable (emulation does not count)."""
    return unavailable_reason() is None


def xp():
    """The device array module: ``cupy``, or the emulated ``fakecupy`` in emulation mode."""
    if emulating():
        from .emu import fakecupy
        return fakecupy
    try:
        import cupy
    except ImportError:
        raise RuntimeError("ember's CUDA backend needs CuPy: " + unavailable_reason()) from None
    return cupy


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.M)


def source(family: str) -> str:
    """The source compiled for ``kernels/<family>.cu``: local ``#include "..."`` files inlined
    (each once, with #line markers so diagnostics name the right file and line)."""
    path = KERNELS_DIR / f"{family}.cu"
    if not re.fullmatch(r"\w+", family) or not path.is_file():
        known = sorted(p.stem for p in KERNELS_DIR.glob("*.cu"))
        raise ValueError(f"no CUDA kernel family {family!r}; families: {known}")
    return inline_source(path)


def inline_source(path) -> str:
    """The text of the .cu file ``path`` with its local includes (beside it, or in the
    kernels directory) inlined."""
    return _inline(Path(path), set())


def _inline(path: Path, seen: set) -> str:
    text = path.read_text(encoding="utf-8")
    out, pos = [], 0
    for m in _INCLUDE.finditer(text):
        inc = path.parent / m.group(1)
        if not inc.is_file():
            inc = KERNELS_DIR / m.group(1)
        if not inc.is_file():
            continue  # left to the compiler, which reports it
        line = text.count("\n", 0, m.end()) + 2
        out.append(text[pos:m.start()])
        if inc.resolve() not in seen:
            seen.add(inc.resolve())
            out.append(f'#line 1 "{inc.name}"\n{_inline(inc, seen)}\n')
        out.append(f'#line {line} "{path.name}"')
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def module(family: str):
    """The compiled module of ``kernels/<family>.cu`` (cupy.RawModule or EmuModule), cached."""
    emulated = emulating()
    key = (emulated, family)
    mod = _modules.get(key)
    if mod is None:
        with _lock:
            mod = _modules.get(key)
            if mod is None:
                code = source(family)
                if emulated:
                    from .emu.module import EmuModule
                    mod = EmuModule(code, options=OPTIONS, name=family)
                else:
                    mod = xp().RawModule(code=code, options=OPTIONS)
                _modules[key] = mod
    return mod


BLOCK = 256        # threads per block for elementwise (grid-stride) kernels
MAX_BLOCKS = 4096  # grid-stride kernels need no more blocks than this to fill an H200


def blocks_for(n: int, block: int = BLOCK, max_blocks: int = MAX_BLOCKS) -> int:
    """Grid size for a grid-stride kernel over ``n`` items: ceil(n / block), at least 1, at
    most ``max_blocks`` (the kernel's loop covers the rest; results do not depend on it)."""
    return max(1, min(max_blocks, -(-int(n) // block)))


def kernel(family: str, name: str):
    """The kernel ``name`` of ``kernels/<family>.cu``: ``fn(grid, block, args, shared_mem=0)``."""
    key = (emulating(), family, name)
    fn = _kernels.get(key)
    if fn is None:
        fn = module(family).get_function(name)
        _kernels[key] = fn
    return fn
