"""``ember.cuda``: is a GPU usable here? (PyTorch's ``torch.cuda.is_available`` counterpart.)

>>> import ember
>>> ember.set_device("cuda" if ember.cuda.is_available() else "cpu")

Asking imports CuPy (about a second) but never allocates on a device.
"""
from __future__ import annotations


def unavailable_reason():
    """None when ember can run on a GPU here, else a sentence saying what is missing
    (CuPy not installed, no GPU or driver, ...)."""
    try:
        from .backend import cuda as cuda_backend
    except ImportError as e:
        return (f"the CUDA backend could not be imported ({e}); install ember's CUDA extra: "
                "pip install \"ember[cuda]\"")
    return cuda_backend._missing_reason()


def is_available() -> bool:
    """True when CuPy is installed and sees an NVIDIA GPU (or the emulation mode
    ``EMBER_CUDA_EMULATION=1`` is on); False otherwise, with the reason in
    :func:`unavailable_reason`."""
    return unavailable_reason() is None
