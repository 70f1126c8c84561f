"""The compile state in a .keras archive, both ways with real Keras 3 (in a subprocess: its
torch must not share a process with ember's OpenMP): Keras loads ember's archive compiled,
with ember's optimizer variables; ember loads Keras' compiled, with Keras' optimizer
variables, and fits on from there."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
from ember import layers

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("keras", "torch", "h5py")),
    reason="needs keras, torch and h5py (pip install keras torch==2.13.0 h5py) to run Keras 3")

KERAS_SIDE = textwrap.dedent('''
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    import numpy as np
    import keras
    d = sys.argv[1]
    x, y = np.load(os.path.join(d, "x.npy")), np.load(os.path.join(d, "y.npy"))
    m = keras.models.load_model(os.path.join(d, "ember.keras"))
    out = {"compiled": bool(m.compiled), "optimizer": type(m.optimizer).__name__,
           "iterations": int(m.optimizer.iterations.numpy()),
           "lr": float(np.asarray(m.optimizer.learning_rate)),
           "loss": float(m.evaluate(x, y, verbose=0, return_dict=True)["loss"])}
    np.savez(os.path.join(d, "ember_opt_vars.npz"), *[np.asarray(v) for v in m.optimizer.variables])
    keras.utils.set_random_seed(1)
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    k.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    k.fit(x, y, batch_size=8, epochs=2, verbose=0)
    k.save(os.path.join(d, "keras.keras"))
    np.savez(os.path.join(d, "keras_opt_vars.npz"), *[np.asarray(v) for v in k.optimizer.variables])
    out["keras_loss"] = float(k.evaluate(x, y, verbose=0, return_dict=True)["loss"])
    for name in ("amsgrad", "rmsprop", "nadam"):
        o = keras.models.load_model(os.path.join(d, name + ".keras")).optimizer
        out[name] = [[v.path.split("/")[-1], np.asarray(v).tolist()] for v in o.variables]
    print(json.dumps(out))
''')


def test_compile_state_crosses_to_keras_and_back(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 5)).astype(np.float32)
    y = x[:, :1] - 0.5 * x[:, 1:2]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    ember.set_seed(2)
    m = ember.Sequential([layers.Dense(4, activation="relu", input_shape=(5,)), layers.Dense(1)])
    m.compile(optimizer=ember.optimizers.Adam(0.02), loss="mse", metrics=["mae"])
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    m.save(str(tmp_path / "ember.keras"))
    others = {}
    for name, opt in (("amsgrad", ember.optimizers.Adam(amsgrad=True)),
                      ("rmsprop", ember.optimizers.RMSprop(momentum=0.5, centered=True)),
                      ("nadam", ember.optimizers.Nadam())):
        o = ember.Sequential([layers.Dense(3, input_shape=(5,)), layers.Dense(1)])
        o.compile(optimizer=opt, loss="mse")
        o.fit(x, y, batch_size=8, epochs=1, verbose=0)
        o.save(str(tmp_path / f"{name}.keras"))
        others[name] = o
    env = dict(os.environ, KERAS_BACKEND="torch")
    r = subprocess.run([sys.executable, "-c", KERAS_SIDE, str(tmp_path)], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["compiled"] and out["optimizer"] == "Adam" and out["iterations"] == 6
    assert out["lr"] == pytest.approx(0.02)
    assert out["loss"] == pytest.approx(m.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-5)
    with np.load(tmp_path / "ember_opt_vars.npz") as f:
        kv = [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]
    mine = [a for v in m.trainable_variables for a in m.optimizer._slots(v).values()]
    assert len(kv) == 2 + len(mine)
    for a, b in zip(kv[2:], mine):
        np.testing.assert_array_equal(a, b)
    for name, o in others.items():
        _check_slots(name, o, out[name])

    k = ember.models.load_model(str(tmp_path / "keras.keras"))
    assert k.compiled and type(k.optimizer).__name__ == "Adam" and k.optimizer.iterations == 6
    assert k.optimizer.learning_rate == pytest.approx(0.01)
    with np.load(tmp_path / "keras_opt_vars.npz") as f:
        kv = [f[key] for key in sorted(f.files, key=lambda s: int(s.split("_")[1]))]
    mine = [a for v in k.trainable_variables for a in k.optimizer._slots(v).values()]
    for a, b in zip(kv[2:], mine):
        np.testing.assert_array_equal(a, b)
    assert k.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(out["keras_loss"], rel=1e-5)
    k.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert k.optimizer.iterations == 9


# Keras' variable-name suffixes -> ember's slot names, per optimizer.
_SLOTS = {"amsgrad": {"momentum": "m", "velocity": "v", "velocity_hat": "vhat"},
          "rmsprop": {"velocity": "v", "momentum": "momentum", "average_gradient": "average_grad"},
          "nadam": {"momentum": "m", "velocity": "v"}}


def _check_slots(name, model, keras_vars):
    """Keras' variables of each slot kind, in its order, equal ember's slots of that kind in
    trainable-variable order (so the grouping Keras uses is the one ember writes)."""
    kinds = _SLOTS[name]
    slot_vars = keras_vars[2:]
    if name == "nadam":
        assert slot_vars[-1][0] == "variable"  # u_product, after the slots
        assert slot_vars[-1][1] == pytest.approx(model.optimizer._u_product, rel=1e-6)
        slot_vars = slot_vars[:-1]
    for suffix, slot in kinds.items():
        got = [np.asarray(a) for p, a in slot_vars if p.endswith("_" + suffix) and
               not any(p.endswith("_" + other) for other in kinds if other != suffix and other.endswith(suffix))]
        want = [model.optimizer._slots(v)[slot] for v in model.trainable_variables]
        assert len(got) == len(want), (name, suffix)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=0, atol=0)
