"""pad_sequences (checked against Keras 3's algorithm), the image utilities (through Pillow),
plot_model (warns without pydot; draws through pydot when present) and to_categorical's
edge cases."""
import importlib.util
import sys
import types
import warnings

import numpy as np
import pytest

import ember
from ember import layers
from ember.utils import pad_sequences, to_categorical

HAS_PIL = importlib.util.find_spec("PIL") is not None


def _keras_pad(seqs, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Keras 3's pad_sequences, restated (keras/src/utils/sequence_utils.py)."""
    lengths = [len(s) for s in seqs]
    shape = next((np.asarray(s).shape[1:] for s in seqs if len(s)), ())
    maxlen = max(lengths) if maxlen is None else maxlen
    out = np.full((len(seqs), maxlen) + shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if len(s):
            t = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
            if padding == "post":
                out[i, :len(t)] = t
            else:
                out[i, -len(t):] = t
    return out


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 1, 3, 7])
def test_pad_sequences_matches_keras(padding, truncating, maxlen):
    seqs = [[1, 2, 3, 4, 5], [], [6], [7, 8, 9]]
    got = pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    want = _keras_pad(seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    assert got.dtype == np.int32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_pad_sequences_examples_and_dtypes():
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post"), [[2, 3], [4, 0]])
    f = pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=0.25)
    assert f.dtype == np.float32 and f.tolist() == [[0.5, 1.5], [0.25, 2.5]]
    s = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert s.dtype == object and s.tolist() == [["a", "b"], ["<pad>", "c"]]
    u = pad_sequences([["a", "b"], ["c"]], dtype="<U5", value="-", padding="post")
    assert u.tolist() == [["a", "b"], ["c", "-"]]
    v = pad_sequences([np.ones((2, 3)), np.zeros((1, 3))])  # items of shape (3,)
    assert v.shape == (2, 2, 3) and v[1, 0].tolist() == [0, 0, 0]
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    assert pad_sequences([]).shape == (0, 0)
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match='Padding type "mid"'):
        pad_sequences([[1]], padding="mid")
    with pytest.raises(ValueError, match="Truncating type"):
        pad_sequences([[1]], truncating="x")
    with pytest.raises(ValueError, match="non-iterable"):
        pad_sequences([1, 2])
    with pytest.raises(ValueError, match="different from expected shape"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 4))])


def test_to_categorical_keras_edge_cases():
    assert to_categorical(2, 4).tolist() == [0, 0, 1, 0]                  # a scalar
    assert to_categorical([[1], [0]]).shape == (2, 2)                       # trailing axis 1 dropped
    assert to_categorical([[1, 0]]).shape == (1, 2, 2)
    assert to_categorical([1, 2], num_classes=0).shape == (2, 3)            # 0 means "from the labels", as Keras
    assert to_categorical([0, 1], dtype="float64").dtype == np.float64
    with pytest.raises(ValueError):
        to_categorical([3], num_classes=2)


@pytest.mark.skipif(not HAS_PIL, reason="Pillow not installed")
def test_image_round_trip(tmp_path):
    from ember.utils import array_to_img, img_to_array, load_img, save_img
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 7, 3)).astype(np.float32)
    img = array_to_img(x, scale=False)
    assert img.size == (7, 5) and img.mode == "RGB"
    np.testing.assert_array_equal(img_to_array(img), x)
    assert img_to_array(img, data_format="channels_first").shape == (3, 5, 7)
    grey = array_to_img(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4, 1))   # scaled to 0..255
    g = img_to_array(grey)
    assert grey.mode == "L" and g.shape == (3, 4, 1) and g.min() == 0 and g.max() == 255
    save_img(tmp_path / "a.png", x, scale=False)
    back = img_to_array(load_img(tmp_path / "a.png"))
    np.testing.assert_array_equal(back, x)
    assert img_to_array(load_img(tmp_path / "a.png", color_mode="grayscale")).shape == (5, 7, 1)
    assert load_img(tmp_path / "a.png", target_size=(2, 3)).size == (3, 2)
    assert load_img(tmp_path / "a.png", target_size=(4, 4), keep_aspect_ratio=True).size == (4, 4)
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="channel number"):
        array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="color_mode"):
        load_img(tmp_path / "a.png", color_mode="cmyk")


def test_image_without_pillow_is_a_clear_error(monkeypatch):
    from ember.utils import array_to_img
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        array_to_img(np.zeros((2, 2, 3)))


def _model():
    inp = ember.Input(shape=(4,), name="x")
    a = layers.Dense(3, name="a")(inp)
    b = layers.Dense(3, name="b")(inp)
    return ember.Model(inp, layers.Add(name="sum")([a, b]))


def test_plot_model_warns_without_pydot(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.warns(UserWarning, match="install pydot"):
        assert ember.utils.plot_model(_model(), to_file=str(tmp_path / "m.png")) is None
    assert not (tmp_path / "m.png").exists()
    with pytest.raises(ValueError, match="Unrecognized keyword"):
        ember.utils.plot_model(_model(), bogus=1)


def test_plot_model_through_pydot(monkeypatch, tmp_path):
    """A stand-in pydot records the graph plot_model builds and the file it writes."""
    fake = types.ModuleType("pydot")

    class Dot:
        def __init__(self):
            self.nodes, self.edges, self.attrs, self.written = {}, [], {}, None

        def create(self):
            return b""

        def set(self, k, v):
            self.attrs[k] = v

        def set_node_defaults(self, **kw):
            pass

        def add_node(self, n):
            self.nodes[n.name] = n.label

        def get_edge(self, a, b):
            return [e for e in self.edges if e == (a, b)]

        def add_edge(self, e):
            self.edges.append((e.src, e.dst))

        def write(self, path, format):
            self.written = (path, format)
            fake.last = self

    fake.Dot = Dot
    fake.Node = lambda name, label: types.SimpleNamespace(name=name, label=label)
    fake.Edge = lambda src, dst: types.SimpleNamespace(src=src, dst=dst)
    monkeypatch.setitem(sys.modules, "pydot", fake)
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.utils.plot_model(model, to_file=str(tmp_path / "m.svg"), show_shapes=True, show_layer_names=True)
    dot = fake.last
    assert dot.written == (str(tmp_path / "m.svg"), "svg")
    labels = sorted(dot.nodes.values())
    assert any(l.startswith("sum (Add)") and "(None, 3)" in l for l in labels) and len(labels) == 4
    assert len(dot.edges) == 4  # x->a, x->b, a->sum, b->sum
