"""Layer and model names as Keras gives them, and ``summary()`` against Keras 3's own
output for the seed CNN (tests/data/keras_summary_seed_cnn.txt, printed by Keras 3.15.1)."""
import re
from pathlib import Path

import pytest

import ember
import ember.layers as L
from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
from ember.layers.base import _snake

DATA = Path(__file__).parent / "data"


def _seed_cnn():
    return ember.Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def _rows(text: str, pattern: str):
    return [m.groups() for m in re.finditer(pattern, text, re.M)]


def test_summary_matches_keras_for_the_seed_cnn():
    keras_text = (DATA / "keras_summary_seed_cnn.txt").read_text(encoding="utf-8")
    ember.utils.clear_session()
    lines = []
    _seed_cnn().summary(print_fn=lines.append)
    ours = "\n".join(lines)
    row = r"^[│ ] ?(\w+) \((\w+)\)\s+[│ ]?\s*(\([\w, ]+\))\s+[│ ]?\s*([\d,]+)\s*│?$"
    keras_rows = _rows(keras_text, row)
    assert len(keras_rows) == 5, keras_text
    assert _rows(ours, row) == keras_rows, ours
    assert lines[0] == 'Model: "sequential"' == keras_text.splitlines()[0]
    totals = r"^ ((?:Total|Trainable|Non-trainable) params: .*)$"
    assert _rows(ours, totals) == _rows(keras_text, totals) == [
        ("Total params: 693,962 (2.65 MB)",), ("Trainable params: 693,962 (2.65 MB)",),
        ("Non-trainable params: 0 (0.00 B)",)]


def test_summary_columns_aligned_and_never_cut():
    ember.utils.clear_session()
    m = ember.Sequential([Dense(4, input_shape=(3,), name="a_rather_long_layer_name_that_keeps_going"),
                          Dense(2)])
    lines = []
    m.summary(print_fn=lines.append)
    rows = [l for l in lines if "(Dense)" in l]
    assert "a_rather_long_layer_name_that_keeps_going (Dense)" in rows[0]
    assert len({l.index("(None") for l in rows}) == 1  # the shape column starts at one place
    assert len({len(l) for l in rows}) == 1  # parameter counts right-aligned at one edge


def test_names_per_class_counters_as_keras():
    ember.utils.clear_session()
    a, c, b, p = Dense(2), Conv2D(1, 3), Dense(2), MaxPooling2D()
    assert (a.name, c.name, b.name, p.name) == ("dense", "conv2d", "dense_1", "max_pooling2d")
    assert ember.Sequential().name == "sequential" and ember.Sequential().name == "sequential_1"
    inp = ember.Input(shape=(2,))
    assert ember.Model(inp, Dense(1)(inp)).name == "functional"
    assert Dense(1, name="mine").name == "mine"


def test_snake_case_of_every_layer_class_as_keras():
    expected = {}
    for line in (DATA / "keras_layer_names.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            cls, name = line.split()
            expected[cls] = name
    assert len(expected) > 40
    for cls, name in expected.items():
        assert _snake(getattr(L, cls).__name__) == name, cls
