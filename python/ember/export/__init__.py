"""Model export for deployment: ``model.export(path, format="onnx")`` (``export.onnx``)."""
from .onnx import export_onnx, to_onnx  # noqa: F401

FORMATS = ("onnx",)


def export(model, filepath, format: str = "onnx", **kwargs) -> None:
    """Write ``model`` for another runtime. ``format``: "onnx" (the only one ember writes)."""
    if format != "onnx":
        raise ValueError(f"export: format must be one of {list(FORMATS)}. Received: format={format!r}")
    if kwargs:
        raise TypeError(f"export: unexpected keyword argument(s) {sorted(kwargs)}")
    export_onnx(model, filepath)
