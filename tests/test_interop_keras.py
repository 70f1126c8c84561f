"""Keras 3 files both ways: ember -> .keras / .weights.h5 -> Keras, Keras -> .keras -> ember.

Keras runs in one subprocess for the whole module (its import and torch's take seconds,
and torch's OpenMP runtime must not share a process with ember's): it loads the files
ember wrote and writes its own (tests/data/keras/keras_models.py). The committed fixtures
in tests/data/keras were written by Keras with that script; reading them needs only h5py.
"""
import importlib.util
import json
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import ember
from ember import layers as L

import _interop_models as M

pytest.importorskip("h5py", reason="Keras .keras / .weights.h5 files need h5py (pip install 'ember[keras]')")

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "keras")
ATOL = 1e-5


def _keras_available():
    return importlib.util.find_spec("keras") is not None and importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def keras_dir(tmp_path_factory):
    """ember's files (and inputs, predictions) and Keras' answers, in one folder."""
    if not _keras_available():
        pytest.skip("needs keras and torch (pip install keras torch==2.13.0) to run Keras 3")
    d = tmp_path_factory.mktemp("keras_roundtrip")
    for name in M.NAMES + ("zoo", "shared"):
        model = M.perturb(M.build(name))
        x = M.inputs(name, model)
        np.savez(d / f"x_{name}.npz", **{f"x{i}": a for i, a in enumerate(x if isinstance(x, list) else [x])})
        y = model.predict(x, verbose=0)
        np.savez(d / f"ember_pred_{name}.npz", **{f"y{i}": a for i, a in enumerate(y if isinstance(y, list) else [y])})
        model.save(str(d / f"ember_{name}.keras"))
        if name in M.NAMES:
            model.save_weights(str(d / f"ember_{name}.weights.h5"))
    env = dict(os.environ, KERAS_BACKEND="torch", OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.join(DATA, "keras_models.py"), "roundtrip", str(d)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    print(f"Keras subprocess: {time.perf_counter() - t0:.1f} s")
    return d


def _same_outputs(path_a, path_b):
    with np.load(path_a) as a, np.load(path_b) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_allclose(a[k], b[k], rtol=0, atol=ATOL, err_msg=k)


@pytest.mark.parametrize("name", M.NAMES + ("zoo", "shared"))
def test_ember_keras_file_loads_in_keras_with_same_predictions(keras_dir, name):
    _same_outputs(keras_dir / f"keras_pred_{name}.npz", keras_dir / f"ember_pred_{name}.npz")


@pytest.mark.parametrize("name", M.NAMES)
def test_ember_weights_h5_loads_in_keras_model(keras_dir, name):
    _same_outputs(keras_dir / f"keras_wpred_{name}.npz", keras_dir / f"ember_pred_{name}.npz")


@pytest.mark.parametrize("name", M.NAMES + ("zoo",))
def test_keras_written_file_loads_in_ember(keras_dir, name):
    d = np.load(keras_dir / f"keras_{name}.npz")
    model = ember.models.load_model(str(keras_dir / f"keras_{name}.keras"))
    if name == "zoo":
        ys = model.predict([d["x0"], d["x1"]], verbose=0)
        for i, y in enumerate(ys):
            np.testing.assert_allclose(y, d[f"y{i}"], rtol=0, atol=ATOL)
    else:
        np.testing.assert_allclose(model.predict(d["x"], verbose=0), d["y"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", M.NAMES)
def test_committed_keras_fixture_loads_in_ember(tmp_path, name):
    d = np.load(os.path.join(DATA, f"{name}.npz"))
    model = ember.models.load_model(os.path.join(DATA, f"{name}.keras"))
    np.testing.assert_allclose(model.predict(d["x"], verbose=0), d["y"], rtol=0, atol=ATOL)
    model.save(str(tmp_path / "again.keras"))  # and out again
    again = ember.models.load_model(str(tmp_path / "again.keras"))
    np.testing.assert_array_equal(again.predict(d["x"], verbose=0), model.predict(d["x"], verbose=0))


def test_keras_weights_h5_into_ember_model(tmp_path):
    """A Keras archive's model.weights.h5, extracted, is a .weights.h5 for load_weights."""
    with zipfile.ZipFile(os.path.join(DATA, "transformer.keras")) as zf:
        (tmp_path / "t.weights.h5").write_bytes(zf.read("model.weights.h5"))
    model = M.build("transformer", small=True)
    model.load_weights(str(tmp_path / "t.weights.h5"))
    d = np.load(os.path.join(DATA, "transformer.npz"))
    np.testing.assert_allclose(model.predict(d["x"], verbose=0), d["y"], rtol=0, atol=ATOL)


def _equal(a, b):
    a, b = (v if isinstance(v, list) else [v] for v in (a, b))
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("name", M.NAMES + ("zoo", "shared"))
def test_keras_roundtrip_within_ember_is_exact(tmp_path, name):
    model = M.perturb(M.build(name, small=True))
    x = M.inputs(name, model)
    model.save(str(tmp_path / "m.keras"))
    back = ember.models.load_model(str(tmp_path / "m.keras"))
    for a, b in zip(*(m.predict(x, verbose=0) for m in (back, model))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = M.build(name, small=True)
    model.save_weights(str(tmp_path / "w.weights.h5"))
    fresh.load_weights(str(tmp_path / "w.weights.h5"))
    _equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "w.weights.h5"]  # no temporaries left


def test_archive_layout_is_keras(tmp_path):
    """The variables sit where Keras puts them: layers/<snake class>[_n]/..., the LSTM's in
    its cell (gates i, f, c, o: the same arrays), MHA kernels (d_model, heads, key_dim)."""
    import h5py
    model = M.build("transformer", small=True)
    model.save(str(tmp_path / "t.keras"))
    with zipfile.ZipFile(tmp_path / "t.keras") as zf:
        config = json.loads(zf.read("config.json"))
        (tmp_path / "w.h5").write_bytes(zf.read("model.weights.h5"))
        assert "keras_version" in json.loads(zf.read("metadata.json"))
    assert config["class_name"] == "Functional"
    mha = next(l for l in model.layers if isinstance(l, L.MultiHeadAttention))
    with h5py.File(tmp_path / "w.h5") as f:
        np.testing.assert_array_equal(f["layers/multi_head_attention/query_dense/vars/0"][()], mha.query_kernel.numpy())
        assert f["layers/multi_head_attention/output_dense/vars/0"].shape == (2, 4, 8)
        assert f["layers/layer_normalization_1/vars/0"].shape == (8,)
        assert f["layers/dense_2/vars/0"].shape == (8, 3)  # the classifier: Dense layers in Keras' graph order
    lstm = M.build("lstm", small=True)
    lstm.save_weights(str(tmp_path / "l.weights.h5"))
    with h5py.File(tmp_path / "l.weights.h5") as f:
        np.testing.assert_array_equal(f["layers/lstm/cell/vars/0"][()], lstm.layers[1].kernel.numpy())
        np.testing.assert_array_equal(f["layers/lstm/cell/vars/2"][()], lstm.layers[1].bias.numpy())


def _edit_fixture(tmp_path, name, edit):
    src = os.path.join(DATA, f"{name}.keras")
    dst = tmp_path / f"edited_{name}.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "config.json":
                cfg = json.loads(data)
                edit(cfg)
                data = json.dumps(cfg).encode()
            zout.writestr(item, data)
    return str(dst)


def test_unknown_layer_and_option_are_named(tmp_path):
    def rename(cfg):
        cfg["config"]["layers"][2]["class_name"] = "FancyPooling"
    with pytest.raises(ValueError, match="FancyPooling"):
        ember.models.load_model(_edit_fixture(tmp_path, "cnn", rename))

    def gate(cfg):
        for l in cfg["config"]["layers"]:
            if l["class_name"] == "MultiHeadAttention":
                l["config"]["use_gate"] = True
    with pytest.raises(ValueError, match="use_gate=True"):
        ember.models.load_model(_edit_fixture(tmp_path, "transformer", gate))

    def mish(cfg):
        cfg["config"]["layers"][-1]["config"]["activation"] = "mish"
    with pytest.raises(ValueError, match="dense.*mish|mish.*dense"):
        ember.models.load_model(_edit_fixture(tmp_path, "cnn", mish))

    def lam(cfg):
        cfg["config"]["layers"][2] = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                                      "config": {"name": "l", "function": {"class_name": "__lambda__",
                                                                           "config": {"code": "print(1)"}}}}
    with pytest.raises(ValueError, match="Lambda"):
        ember.models.load_model(_edit_fixture(tmp_path, "cnn", lam))

    def custom(cfg):
        cfg["config"]["layers"][1]["registered_name"] = "my_pkg>MyConv"
    with pytest.raises(ValueError, match="custom layer"):
        ember.models.load_model(_edit_fixture(tmp_path, "cnn", custom))

    def subclassed(cfg):
        cfg["registered_name"] = "my_pkg>MyModel"
    with pytest.raises(ValueError, match="subclassed"):
        ember.models.load_model(_edit_fixture(tmp_path, "transformer", subclassed))


def test_save_refuses_what_keras_cannot_hold(tmp_path):
    inp = ember.Input(shape=(5, 4))
    m = ember.Model(inp, L.Dense(2)(L.PositionalEncoding()(inp)))
    with pytest.raises(ValueError, match="PositionalEncoding"):
        m.save(str(tmp_path / "p.keras"))
    def my_act(x):
        return x * 2.0
    for layer in (L.Dense(2, activation=my_act), L.Conv1D(2, 3, activation=my_act)):
        with pytest.raises(ValueError, match="my_act"):
            ember.Sequential([L.InputLayer(shape=(5, 4)), layer]).save(str(tmp_path / "a.keras"))
    s = ember.Sequential([L.InputLayer(shape=(5, 4)), L.LSTM(3, use_bias=False)])
    s.layers[0].bias.assign(np.ones(12, np.float32))
    with pytest.raises(ValueError, match="use_bias=False"):
        s.save(str(tmp_path / "b.keras"))
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporaries


def test_weights_h5_mismatch_is_reported(tmp_path):
    M.build("cnn", small=True).save_weights(str(tmp_path / "c.weights.h5"))
    with pytest.raises(ValueError, match="load_weights"):
        M.build("lstm", small=True).load_weights(str(tmp_path / "c.weights.h5"))
    with pytest.raises(ValueError, match="whole model"):
        M.build("cnn", small=True).save_weights(str(tmp_path / "c.keras"))
    with pytest.raises(ValueError, match="weights only"):
        ember.models.load_model(str(tmp_path / "c.weights.h5"))


def test_load_weights_from_keras_archive():
    model = M.build("misc", small=True)
    model.load_weights(os.path.join(DATA, "misc.keras"))  # Keras allows this too
    d = np.load(os.path.join(DATA, "misc.npz"))
    np.testing.assert_allclose(model.predict(d["x"], verbose=0), d["y"], rtol=0, atol=ATOL)


def test_subclassed_model_weights_h5_roundtrip(tmp_path):
    class Net(ember.Model):
        def __init__(self):
            super().__init__()
            self.body = [L.Dense(4, activation="relu"), L.Dense(4)]
            self.head = L.Dense(2)

        def call(self, x, training=False):
            for l in self.body:
                x = l(x)
            return self.head(x)

    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    a, b = Net(), Net()
    a(x), b(x)
    a.save_weights(str(tmp_path / "n.weights.h5"))
    b.load_weights(str(tmp_path / "n.weights.h5"))
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    import h5py
    with h5py.File(tmp_path / "n.weights.h5") as f:  # Keras' layout for attributes and lists of layers
        assert set(f["body"]) == {"dense", "dense_1"} and "vars" in f["head"]


def test_ember_format_stays_for_other_names(tmp_path):
    m = M.perturb(M.build("cnn", small=True))
    m.save(str(tmp_path / "m.ember"))
    with np.load(str(tmp_path / "m.ember")) as f:
        assert "config" in f.files
    x = M.inputs("cnn", m)
    np.testing.assert_array_equal(ember.models.load_model(str(tmp_path / "m.ember")).predict(x, verbose=0),
                                  m.predict(x, verbose=0))


def test_ember_format_files_with_keras_names_still_load(tmp_path):
    """Files ember wrote in its own format under Keras names (before .keras meant Keras)."""
    from ember.models import saving
    m = M.perturb(M.build("lstm", small=True))
    x = M.inputs("lstm", m)
    saving.save_model(m, str(tmp_path / "old.npz"))
    os.replace(tmp_path / "old.npz", tmp_path / "old.keras")
    np.testing.assert_array_equal(ember.models.load_model(str(tmp_path / "old.keras")).predict(x, verbose=0),
                                  m.predict(x, verbose=0))
    saving.save_weights(m, str(tmp_path / "old.npz"))
    os.replace(tmp_path / "old.npz", tmp_path / "old.weights.h5")
    fresh = M.build("lstm", small=True)
    fresh.load_weights(str(tmp_path / "old.weights.h5"))
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), m.predict(x, verbose=0))


def test_model_checkpoint_writes_keras_files(tmp_path):
    """ModelCheckpoint saves through model.save / save_weights: Keras names give Keras files."""
    import h5py
    from ember import callbacks as C
    m = M.build("cnn", small=True)
    m.compile("sgd", "mse")
    x = M.inputs("cnn", m, n=8)
    y = np.zeros((8, 10), np.float32)
    m.fit(x, y, epochs=2, verbose=0, callbacks=[C.ModelCheckpoint(str(tmp_path / "e{epoch}.keras")),
                                                 C.ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["e1.keras", "e2.keras", "w.weights.h5"]
    with zipfile.ZipFile(tmp_path / "e2.keras") as zf:
        assert json.loads(zf.read("config.json"))["class_name"] == "Sequential"
    with h5py.File(tmp_path / "w.weights.h5") as f:
        np.testing.assert_array_equal(f["layers/dense_1/vars/1"][()], m.layers[-1].bias.numpy())
    np.testing.assert_array_equal(ember.models.load_model(str(tmp_path / "e2.keras")).predict(x, verbose=0),
                                  m.predict(x, verbose=0))
