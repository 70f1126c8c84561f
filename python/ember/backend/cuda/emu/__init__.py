"""CPU emulation of ember's CUDA backend: device arrays (``EmuArray``), a ``cupy`` stand-in
(``fakecupy``) and the kernel emulator (``EmuModule`` / ``EmuKernel``: g++ + cuda_emu.h).

Nothing here imports CuPy; ``ember.backend.cuda.runtime`` chooses between this and CuPy.
"""
from .array import EmuArray
from .build import EmuCompileError
from .module import EmuKernel, EmuLaunchError, EmuModule

__all__ = ["EmuArray", "EmuModule", "EmuKernel", "EmuCompileError", "EmuLaunchError"]
