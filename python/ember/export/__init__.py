"""Model export for deployment: ``model.export(path, format="onnx")`` (``export.onnx``)."""
from .onnx import export_onnx, to_onnx  # noqa: F401

FORMATS = ("onnx",)


def export(model, filepath, format: str = "onnx", verbose=None, input_signature=None, **kwargs) -> None:
    """Write ``model`` for another runtime. ``format``: "onnx" (the only one ember writes).
    ``verbose`` is accepted as in Keras (nothing is printed); the input signature is the
    model's own (batch dimension dynamic), so ``input_signature`` must stay None."""
    if format != "onnx":
        raise ValueError(f"export: format must be one of {list(FORMATS)}. Received: format={format!r}")
    if input_signature is not None:
        raise NotImplementedError("export: input_signature is not supported; the model's input shapes are used, "
                                  "with a dynamic batch dimension")
    if kwargs:
        raise TypeError(f"export: unexpected keyword argument(s) {sorted(kwargs)}")
    export_onnx(model, filepath)
