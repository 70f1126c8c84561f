"""``plot_history`` / ``History.plot``: a real PNG with one panel per quantity; a clear
message without matplotlib."""
import builtins
import sys

import numpy as np
import pytest

import ember
from ember.layers import Dense
from ember.utils import plot_history


def _history():
    ember.set_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    m = ember.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return m.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib", reason="plot_history draws with matplotlib (optional)")
    h = _history()
    out = plot_history(h, tmp_path / "curve.png", title="xor-ish")
    data = (tmp_path / "curve.png").read_bytes()
    assert str(out).endswith("curve.png") and data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg
    img = mpimg.imread(tmp_path / "curve.png")
    assert img.shape[1] > 2 * img.shape[0]  # two panels side by side: loss, accuracy
    assert img[..., :3].std() > 0.05  # something was drawn
    assert h.plot(tmp_path / "c2.svg").endswith("c2.svg") and b"<svg" in (tmp_path / "c2.svg").read_bytes()[:400]
    plot_history({"loss": [3, 2, 1]}, tmp_path / "steps.png", x=[100, 200, 300], xlabel="step")
    with pytest.raises(ValueError, match="x has 2 values but the history has 3"):
        plot_history({"loss": [3, 2, 1]}, tmp_path / "bad.png", x=[1, 2])
    with pytest.raises(ValueError, match=r"none of keys=\['auc'\]"):
        plot_history(h, tmp_path / "none.png", keys=["auc"])


def test_plot_history_without_matplotlib(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(ImportError, match="needs matplotlib, which is not installed: pip install matplotlib"):
        plot_history({"loss": [1.0, 0.5]}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_history({}, tmp_path / "x.png")
