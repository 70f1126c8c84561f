"""One layer between ember and the Keras 3 ``.keras`` format: its config both ways and where
its variables live in ``model.weights.h5``.

ember's layers take Keras' argument names, so a config mostly carries over key by key.
What differs is written down here: options only one library has (accepted when they hold
the value that means "off", refused with an error naming them otherwise, never dropped
silently), the dtype policy, the serialized form of initializers and regularizers, and
each layer's variable paths (a recurrent layer keeps its variables in ``cell``,
MultiHeadAttention in four ``*_dense`` sublayers; LSTM gates are i, f, c, o and MHA kernels
(d_model, heads, key_dim) in both libraries, so arrays pass unchanged)."""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

# Layers whose config and variables carry over; others raise, naming the layer.
SUPPORTED = frozenset("""
Activation ELU LeakyReLU ReLU Softmax Dense Dropout Flatten Identity InputLayer
Add Average Concatenate Maximum Multiply Subtract
Conv1D Conv2D Conv1DTranspose Conv2DTranspose
MaxPooling1D MaxPooling2D AveragePooling1D AveragePooling2D
GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D
BatchNormalization LayerNormalization Embedding SimpleRNN LSTM GRU Bidirectional TimeDistributed
Attention AdditiveAttention MultiHeadAttention
Cropping1D Cropping2D Permute RepeatVector Reshape UpSampling1D UpSampling2D ZeroPadding2D
Rescaling GaussianDropout GaussianNoise SpatialDropout1D SpatialDropout2D SpatialDropout3D
""".split())

_RNN = ("SimpleRNN", "LSTM", "GRU")
_ANY = object()  # an option whose value does not change inference or the weights

# Keras-only options: {option: the value ember's behaviour equals} (None / False: "off").
_KERAS_ONLY: Dict[str, object] = {
    "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
    "recurrent_constraint": None, "beta_constraint": None, "gamma_constraint": None,
    "embeddings_constraint": None, "quantization_config": None, "lora_rank": None, "lora_alpha": _ANY,
    "use_cudnn": _ANY, "flash_attention": _ANY, "use_gate": False, "sliding_window": None,
    "renorm": False, "renorm_clipping": None, "renorm_momentum": _ANY, "synchronized": False,
    "sparse": False, "ragged": False, "optional": False, "autocast": _ANY, "rms_scaling": False,
    # ember's recurrent kernels carry the previous output through a masked step (Keras'
    # False); True differs only where a mask flows, which check_masks refuses
    "zero_output_for_mask": _ANY,
}
# Keras-only options of one class (where the same name means something else elsewhere).
_KERAS_ONLY_BY_CLASS: Dict[str, Dict[str, object]] = {
    "Flatten": {"data_format": _ANY},  # ember flattens in stored order, as channels_last
    "BatchNormalization": {"beta_regularizer": None, "gamma_regularizer": None},
    "LayerNormalization": {"beta_regularizer": None, "gamma_regularizer": None},
    "MultiHeadAttention": {"kernel_regularizer": None, "bias_regularizer": None, "attention_axes": (None, [1], [-2]),
                           "seed": _ANY, "kernel_initializer": _ANY, "bias_initializer": _ANY},
    "LSTM": {"seed": _ANY}, "GRU": {"seed": _ANY, "reset_after": True}, "SimpleRNN": {"seed": _ANY},
    "Embedding": {"input_length": None},
}
# ember-only options: {option: the value Keras' behaviour equals}, dropped on save.
_EMBER_ONLY: Dict[str, Dict[str, object]] = {
    "Embedding": {"input_length": None},
    "SimpleRNN": {"recurrent_activation": _ANY},
    # Keras' SpatialDropout layers take no ``trainable`` argument (they hold no weights)
    "SpatialDropout1D": {"data_format": _ANY, "trainable": _ANY},
    "SpatialDropout2D": {"trainable": _ANY}, "SpatialDropout3D": {"trainable": _ANY},
    "Conv1DTranspose": {"groups": 1}, "Conv2DTranspose": {"groups": 1},
    "MultiHeadAttention": {"output_shape": _ANY},  # rewritten below
    "InputLayer": {"trainable": _ANY, "shape": _ANY},
}


def _matches(value, allowed) -> bool:
    if allowed is _ANY:
        return True
    options = allowed if isinstance(allowed, tuple) else (allowed,)
    norm = (lambda v: list(v) if isinstance(v, (list, tuple)) else v)
    return any(norm(value) == norm(o) for o in options)


def _unsupported(where: str, key: str, value) -> ValueError:
    return ValueError(f"{where}: the option {key}={value!r} has no ember equivalent (ember would build a different "
                      "model); supported only at its default")


# -- initializers, regularizers, dtype ------------------------------------------------------------
def _to_keras_object(v, module: str):
    if isinstance(v, dict) and "class_name" in v:
        return {"module": f"keras.{module}", "class_name": v["class_name"], "config": dict(v.get("config", {})),
                "registered_name": None}
    return v


def _from_keras_initializer(v, where: str, key: str):
    """Initializers only shape fresh weights (the file's weights replace them): one ember does
    not know is replaced by ember's default for that argument."""
    from .. import initializers
    if not isinstance(v, dict):
        return v
    cfg = {k: x for k, x in (v.get("config") or {}).items() if x is not None and k not in ("input_axes", "output_axes")}
    ser = {"class_name": v.get("class_name"), "config": cfg}
    try:
        initializers.get(ser)
    except (ValueError, TypeError):
        return _DROP
    return ser


def _from_keras_regularizer(v, where: str, key: str):
    from .. import regularizers
    if v is None:
        return None
    ser = {"class_name": v.get("class_name"), "config": dict(v.get("config") or {})} if isinstance(v, dict) else v
    try:
        regularizers.get(ser)
    except (ValueError, TypeError):
        raise ValueError(f"{where}: the regularizer {key}={v!r} has no ember equivalent") from None
    return ser


_DROP = object()


def keras_dtype(name: str) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _from_keras_dtype(v, where: str):
    name = v.get("config", {}).get("name") if isinstance(v, dict) else v
    if name is None:
        return None
    if name not in ("float32", "float64"):
        raise ValueError(f"{where}: dtype policy {name!r} is not supported (ember layers compute in float32 or float64)")
    return name


# -- ember -> Keras --------------------------------------------------------------------------
def to_keras_layer(class_name: str, cfg: dict, dtype: str, sub) -> dict:
    """The Keras form {"module", "class_name", "config", "registered_name"} of an ember layer
    config. ``sub(layer_config)`` converts a wrapped layer's ember config."""
    where = f"save .keras: layer '{cfg.get('name')}' ({class_name})"
    if class_name not in SUPPORTED:
        raise ValueError(f"{where}: {class_name} has no Keras 3 counterpart that ember can write; save in ember's "
                         "own format (a file name other than .keras) or export to ONNX")
    out = {}
    for k, v in cfg.items():
        drop = _EMBER_ONLY.get(class_name, {})
        if k in drop:
            if not _matches(v, drop[k]):
                raise _unsupported(where, k, v)
            continue
        if k.endswith("_initializer"):
            v = _to_keras_object(v, "initializers")
        elif k.endswith("_regularizer"):
            v = _to_keras_object(v, "regularizers")
        elif k in ("layer", "backward_layer") and isinstance(v, dict):
            v = sub(v)
        out[k] = v
    if class_name == "MultiHeadAttention" and cfg.get("output_shape") is not None:
        shape = cfg["output_shape"]
        out["output_shape"] = list(shape) if isinstance(shape, (list, tuple)) else [int(shape)]
    if class_name == "InputLayer":
        out = {"batch_shape": [None] + list(cfg["shape"]), "dtype": cfg.get("dtype", "float32"),
               "name": cfg["name"]}
    else:
        out["dtype"] = keras_dtype(dtype)
    return {"module": "keras.layers", "class_name": class_name, "config": out, "registered_name": None}


# -- Keras -> ember --------------------------------------------------------------------------
def from_keras_layer(entry: dict, sub) -> Tuple[str, dict]:
    """(ember class name, ember config) of a Keras layer entry; raises ValueError naming
    the layer and option that ember cannot reproduce. ``sub(entry)`` builds a wrapped layer."""
    class_name = entry.get("class_name")
    cfg = dict(entry.get("config") or {})
    where = f"load .keras: layer '{cfg.get('name')}' ({class_name})"
    if entry.get("registered_name") not in (None, class_name) or entry.get("module") not in (None, "keras.layers"):
        raise ValueError(f"{where}: a custom layer ({entry.get('registered_name') or entry.get('module')}) is Python "
                         "code, which ember does not load from a file")
    if class_name not in SUPPORTED:
        raise ValueError(f"{where}: ember has no layer {class_name!r}")
    if class_name == "InputLayer":
        shape = cfg.get("batch_shape") or ([None] + list(cfg.get("shape") or []))
        for k in ("sparse", "ragged", "optional"):
            if cfg.get(k):
                raise _unsupported(where, k, cfg[k])
        return class_name, {"batch_shape": list(shape), "dtype": cfg.get("dtype") or "float32", "name": cfg["name"]}
    out = {}
    only = dict(_KERAS_ONLY, **_KERAS_ONLY_BY_CLASS.get(class_name, {}))
    for k, v in cfg.items():
        if k in only:
            if not _matches(v, only[k]):
                raise _unsupported(where, k, v)
            continue
        if k == "dtype":
            v = _from_keras_dtype(v, where)
            if v is None:
                continue
        elif k.endswith("_initializer"):
            v = _from_keras_initializer(v, where, k)
            if v is _DROP:
                continue
        elif k.endswith("_regularizer"):
            v = _from_keras_regularizer(v, where, k)
        elif k in ("layer", "backward_layer") and isinstance(v, dict):
            v = sub(v)
        elif k == "activation" or k == "recurrent_activation":
            if not (v is None or isinstance(v, str)):
                raise ValueError(f"{where}: {k}={v!r} is not a built-in activation name")
        out[k] = v
    if class_name == "MultiHeadAttention" and isinstance(out.get("output_shape"), list):
        out["output_shape"] = out["output_shape"][-1] if len(out["output_shape"]) == 1 else tuple(out["output_shape"])
    return class_name, out


# -- variables ----------------------------------------------------------------------------------
def variable_groups(layer) -> List[Tuple[str, list]]:
    """[(path under the layer's group, [ember weight Tensors in Keras' order])] for ``layer``;
    sublayers' groups included. Empty groups are left out (Keras writes none for them)."""
    name = type(layer).__name__
    if name in _RNN:
        ws = [layer.kernel, layer.recurrent_kernel] + ([layer.bias] if layer.use_bias else [])
        return [("cell", ws)]
    if name == "MultiHeadAttention":
        if not getattr(layer, "_mha_built", False):
            return []
        b = layer.use_bias
        return [(f"{part}_dense", [getattr(layer, f"{attr}_kernel")] + ([getattr(layer, f"{attr}_bias")] if b else []))
                for part, attr in (("query", "query"), ("key", "key"), ("value", "value"), ("output", "output"))]
    if name == "Bidirectional":
        return ([("forward_layer/" + p, ws) for p, ws in variable_groups(layer.forward_layer)]
                + [("backward_layer/" + p, ws) for p, ws in variable_groups(layer.backward_layer)])
    if name == "TimeDistributed":
        return [("layer/" + p if p else "layer", ws) for p, ws in variable_groups(layer.layer)]
    # Keras orders a layer's own variables trainable first, each kind in creation order
    ws = [w for w in layer._weights if w.trainable] + [w for w in layer._weights if not w.trainable]
    return [("", ws)] if ws else []


def check_unused_bias(layer) -> None:
    """An RNN built with use_bias=False still holds a (non-trainable) bias in ember; Keras
    has none, so it must be zero to mean the same model."""
    if type(layer).__name__ in _RNN and not layer.use_bias and np.any(layer.bias.numpy() != 0):
        raise ValueError(f"save .keras: layer '{layer.name}' has use_bias=False but a non-zero bias, which Keras "
                         "cannot hold")


def _configs(obj):
    if isinstance(obj, dict):
        if "class_name" in obj and isinstance(obj.get("config"), dict):
            yield obj["class_name"], obj["config"]
        for v in obj.values():
            yield from _configs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _configs(v)


def check_masks(config: dict) -> None:
    """Keras zeroes a recurrent layer's masked steps where ``zero_output_for_mask`` (which
    Bidirectional sets); ember carries the last output. That differs only where a mask flows
    (from ``Embedding(mask_zero=True)``): such a model is refused rather than changed."""
    cfgs = list(_configs(config))
    maskers = [c.get("name") for n, c in cfgs if n == "Embedding" and c.get("mask_zero")]
    zeroing = [c.get("name") for n, c in cfgs if n in _RNN and c.get("zero_output_for_mask")]
    if maskers and zeroing:
        raise ValueError(f"load .keras: layers {zeroing} zero their masked steps (zero_output_for_mask=True) and the "
                         f"model masks ({maskers} have mask_zero=True); ember's recurrent layers carry the last output "
                         "through masked steps instead, so this model is not supported")
