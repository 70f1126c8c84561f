"""Saving survives kills and refuses files that are not what they claim (issue 10: D11, D13)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ember
from ember import Sequential
from ember.fileio import atomic_write, temp_prefix
from ember.layers import Dense
from ember.models import load_model

# The child saves the same model over and over, every weight holding the save's number, so
# a torn or mixed file shows as weights that disagree.
_SAVER = r"""
import sys
import numpy as np
import ember
from ember import Sequential
from ember.layers import Dense
path, start = sys.argv[1], int(sys.argv[2])
m = Sequential([Dense(512, input_shape=(512,)), Dense(512)])
k = start
while True:
    m.set_weights([np.full(w.shape, k, w.dtype) for w in m.get_weights()])
    m.save(path)
    if k == start:
        print("saved", flush=True)
    k += 1
"""


def _temporaries(path):
    """Every file beside ``path`` in its (otherwise empty) folder."""
    folder = os.path.dirname(path)
    return [f for f in os.listdir(folder) if f != os.path.basename(path)]


def _check_whole(path):
    """The file at ``path`` is one complete save: every weight holds the same number."""
    values = {float(v) for w in load_model(path).get_weights() for v in np.unique(w)}
    assert len(values) == 1, f"a mixed or torn model: {sorted(values)[:5]}"
    return values.pop()


def test_kills_during_save_leave_old_or_new_model_and_at_most_one_temporary(tmp_path):
    path = str(tmp_path / "model.ember")
    rng = np.random.default_rng(0)
    start, last = 0, None
    # 8 kills in CI; EMBER_SAVE_KILLS=100 for the long run quoted in issue 10's note.
    for _ in range(int(os.environ.get("EMBER_SAVE_KILLS", "8"))):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, path, str(start)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "saved"
            time.sleep(rng.uniform(0.0, 0.15))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
        value = _check_whole(path)
        assert last is None or value >= last  # never an older model than one already seen
        last = value
        assert len(_temporaries(path)) <= 1, _temporaries(path)
        start = int(value) + 1000
    # The next save removes what the killed ones left.
    m = Sequential([Dense(2, input_shape=(3,))])
    m.save(path)
    assert _temporaries(path) == []


def test_atomic_write_removes_dead_temporaries_not_live_ones(tmp_path):
    path = str(tmp_path / "w.bin")
    dead = tmp_path / (temp_prefix(path) + "dead")
    dead.write_bytes(b"left by a killed save")
    import fcntl
    live = tmp_path / (temp_prefix(path) + "live")
    with open(live, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # a writer still at work
        atomic_write(path, lambda g: g.write(b"new"))
        assert not dead.exists() and live.exists()
    assert open(path, "rb").read() == b"new"


def test_atomic_write_failure_keeps_old_file_and_leaves_nothing(tmp_path):
    path = str(tmp_path / "w.bin")
    atomic_write(path, lambda f: f.write(b"old"))

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert open(path, "rb").read() == b"old"
    assert _temporaries(path) == []


def test_atomic_write_fsyncs_file_before_replace_and_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}"))),
                                                  real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", None)), real_replace(a, b))[1])
    atomic_write(str(tmp_path / "w.bin"), lambda f: f.write(b"x"))
    assert events == [("fsync", False), ("replace", None), ("fsync", True)]


# --- files that are not what they claim (D13) ---------------------------------------------

def _saved(tmp_path):
    m = Sequential([Dense(3, input_shape=(4,))])
    p = str(tmp_path / "m.npz")
    m.save(p)
    with np.load(p) as f:
        return p, json.loads(str(f["config"])), [f["w0000"], f["w0001"]]


def _write(path, config, weights):
    arrays = {f"w{i:04d}": w for i, w in enumerate(weights)}
    arrays["config"] = np.array(config if isinstance(config, str) else json.dumps(config))
    np.savez(path, **arrays)


@pytest.mark.parametrize("bad", ["scalar_bias", "one_element_bias", "complex", "float16", "int8"])
def test_load_rejects_weights_of_another_shape_or_dtype(tmp_path, bad):
    p, cfg, (k, b) = _saved(tmp_path)
    weights = {"scalar_bias": [k, np.float32(7)], "one_element_bias": [k, np.ones(1, np.float32)],
               "complex": [k.astype(np.complex64), b], "float16": [k.astype(np.float16), b],
               "int8": [k, b.astype(np.int8)]}[bad]
    _write(p, cfg, weights)
    with pytest.raises(ValueError, match=r"Received: (dtype|shape)="):
        load_model(p)


@pytest.mark.parametrize("mutate", [
    lambda c: c.pop("config"),
    lambda c: c["config"]["layers"].__setitem__(0, {"x": 1}),
    lambda c: c["config"].__setitem__("layers", "abc"),
    lambda c: c["config"]["layers"][0]["config"].__setitem__("activation", {"a": 1}),
    lambda c: c.__setitem__("config", []),
])
def test_malformed_config_is_a_value_error(tmp_path, mutate):
    p, cfg, w = _saved(tmp_path)
    mutate(cfg)
    _write(p, cfg, w)
    with pytest.raises(ValueError, match="load_model"):
        load_model(p)


def test_deeply_nested_config_is_a_value_error(tmp_path):
    p, _, w = _saved(tmp_path)
    _write(p, "[" * 100000, w)
    with pytest.raises(ValueError, match="load_model"):
        load_model(p)


def test_assign_needs_the_exact_shape_and_real_values():
    v = ember.Tensor(np.zeros(16, np.float32))
    with pytest.raises(ValueError, match=r"shape \(16,\).*Received: shape=\(\)"):
        v.assign(np.float32(1))
    with pytest.raises(ValueError, match=r"Received: shape=\(1,\)"):
        v.assign(np.ones(1))
    with pytest.raises(TypeError, match="Received: dtype=complex"):
        v.assign(np.ones(16, np.complex64))
    v.assign(np.arange(16))  # integers cast to the variable's dtype, as Keras
    assert v.numpy().dtype == np.float32 and v.numpy()[3] == 3
    layer = Dense(2, input_shape=(3,))
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"set_weights: weight .* has shape \(3, 2\)\. Received: shape=\(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
