"""ONNX export checked by onnx.checker and ONNX Runtime; safetensors weights round trips."""
import os

import numpy as np
import pytest

import ember
from ember import layers as L

import _interop_models as M

ATOL = 1e-5


def _session(model, path):
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install 'ember[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="checking the export needs onnxruntime")
    import onnx
    model.export(str(path), format="onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"  # the batch dimension is dynamic
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _check(model, make_input, path):
    sess = _session(model, path)
    for batch in (1, 7):
        x = make_input(batch)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=0, atol=ATOL, err_msg=f"batch {batch}")


@pytest.mark.parametrize("name", M.NAMES)
def test_onnx_matches_ember(tmp_path, name):
    model = M.perturb(M.build(name))
    _check(model, lambda b: M.inputs(name, model, n=b, seed=b), tmp_path / f"{name}.onnx")


def _rand(shape, dtype="float32", seed=0):
    return lambda b: np.random.default_rng(seed + b).normal(size=(b,) + shape).astype(dtype)


def test_onnx_conv_pool_variants(tmp_path):
    inp = ember.Input(shape=(11, 10, 3))
    a = L.Conv2D(4, 3, strides=2, padding="same", activation="tanh")(inp)
    a = L.BatchNormalization()(a)
    a = L.AveragePooling2D(2, padding="same")(a)
    b = L.Conv2D(4, (2, 3), dilation_rate=(2, 1), activation="gelu")(inp)
    b = L.MaxPooling2D((3, 2), strides=(2, 2), padding="same")(b)
    g = L.Conv2D(6, 3, groups=3, padding="same")(inp)
    x = L.Concatenate()([L.GlobalAveragePooling2D()(a), L.GlobalMaxPooling2D()(b), L.GlobalAveragePooling2D()(g)])
    x = L.Dense(6, activation="silu")(L.Dropout(0.3)(x))
    x = L.Multiply()([x, L.Dense(6, activation="sigmoid")(x)])
    x = L.Subtract()([x, L.Average()([x, L.Maximum()([x, L.ReLU(max_value=0.5, negative_slope=0.1)(x)])])])
    out = L.Softmax()(L.LeakyReLU(0.2)(L.ELU()(L.Dense(4, activation="selu")(x))))
    model = M.perturb(ember.Model(inp, out))
    _check(model, _rand((11, 10, 3)), tmp_path / "conv.onnx")


def test_onnx_sequence_layers(tmp_path):
    inp = ember.Input(shape=(8, 5))
    c = L.Conv1D(6, 3, strides=2, padding="same", activation="relu")(inp)
    c = L.MaxPooling1D(2, padding="same")(c)
    r = L.SimpleRNN(4, go_backwards=True, return_sequences=True)(inp)
    r = L.GRU(3, return_sequences=True, recurrent_activation="hard_sigmoid")(r)
    s = L.LSTM(5, go_backwards=True)(r)
    s = L.Concatenate()([s, L.Bidirectional(L.GRU(3), merge_mode="ave")(inp)])
    t = L.Reshape((4, 10))(L.Permute((2, 1))(inp))
    m = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=3, output_shape=7)(t, t, use_causal_mask=True)
    x = L.Concatenate()([L.Flatten()(c), s, L.GlobalAveragePooling1D()(L.LayerNormalization(epsilon=1e-5)(m))])
    out = L.Activation("tanh")(L.Dense(3)(L.Flatten()(L.RepeatVector(2)(x))))
    model = M.perturb(ember.Model(inp, out))
    _check(model, _rand((8, 5)), tmp_path / "seq.onnx")


def test_onnx_cross_attention_two_inputs_and_variable_length(tmp_path):
    """Two inputs of their own lengths (query 5 steps, key / value any number), a causal
    mask aligned bottom-right (Keras), attention scores as a second output."""
    q_in, v_in = ember.Input(shape=(5, 6)), ember.Input(shape=(None, 4))
    k = L.Dense(6)(v_in)
    out, scores = L.MultiHeadAttention(num_heads=2, key_dim=3, use_bias=False)(
        q_in, v_in, key=k, use_causal_mask=True, return_attention_scores=True)
    rec = L.GRU(3)(v_in)
    model = M.perturb(ember.Model([q_in, v_in], [L.GlobalAveragePooling1D()(out), rec, scores]))
    sess = _session(model, tmp_path / "x.onnx")
    rng = np.random.default_rng(0)
    for batch, tv in ((1, 7), (7, 9)):
        feeds = [rng.normal(size=(batch, 5, 6)).astype("float32"), rng.normal(size=(batch, tv, 4)).astype("float32")]
        got = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})
        want = model.predict(feeds, verbose=0)
        assert len(got) == len(want) == 3
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=ATOL)


def test_onnx_refuses_what_it_cannot_export(tmp_path):
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install 'ember[onnx]')")
    m = ember.Sequential([L.InputLayer(shape=(4,), dtype="int32"), L.Embedding(9, 3, mask_zero=True), L.LSTM(2)])
    with pytest.raises(NotImplementedError, match="mask_zero"):
        m.export(str(tmp_path / "m.onnx"))
    m = ember.Sequential([L.InputLayer(shape=(4, 3)), L.PositionalEncoding(), L.Dense(2)])
    with pytest.raises(NotImplementedError, match="PositionalEncoding"):
        m.export(str(tmp_path / "p.onnx"))
    with pytest.raises(ValueError, match="format"):
        m.export(str(tmp_path / "p.tflite"), format="tflite")
    assert os.listdir(tmp_path) == []


# -- safetensors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", M.NAMES)
def test_safetensors_roundtrip_is_bit_exact(tmp_path, name):
    pytest.importorskip("safetensors", reason="safetensors weights need the safetensors package")
    model = M.perturb(M.build(name, small=True))
    path = str(tmp_path / "w.safetensors")
    model.save_weights(path)
    fresh = M.build(name, small=True)
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    from safetensors.numpy import load_file
    stored = load_file(path)
    assert len(stored) == len(model.weights) and any(k.endswith("/kernel") for k in stored)


def test_safetensors_mismatch_is_reported(tmp_path):
    pytest.importorskip("safetensors", reason="safetensors weights need the safetensors package")
    M.build("cnn", small=True).save_weights(str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match="load_weights"):
        M.build("lstm", small=True).load_weights(str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match="weights only"):
        M.build("cnn", small=True).save(str(tmp_path / "m.safetensors"))
