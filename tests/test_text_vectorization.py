"""TextVectorization against Keras 3's documented examples (the docstrings of
keras/src/layers/preprocessing/text_vectorization.py and string_lookup.py, with their exact
outputs), its vocabulary order, every output mode, save / load_model, and errors."""
import json
import warnings

import numpy as np
import pytest

import ember
from ember import layers as L


def test_keras_docstring_adapt_example():
    layer = L.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(layer([["foo qux bar"], ["qux baz"]]).numpy(), [[4, 1, 3, 0], [1, 2, 0, 0]])


def test_keras_docstring_vocabulary_example():
    layer = L.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4,
                                vocabulary=["earth", "wind", "and", "fire"])
    assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["earth", "wind", "and", "fire"]
    assert layer.vocabulary_size() == 6
    np.testing.assert_array_equal(layer(["Fire, and WIND!", "water earth"]).numpy(), [[5, 4, 3, 0], [1, 2, 0, 0]])


def test_vocabulary_order_frequency_then_token_descending():
    """Keras sorts by count, ties by token, both descending (the output printed by Keras for
    this corpus)."""
    layer = L.TextVectorization(output_mode="int", output_sequence_length=4)
    layer.adapt(["I write, erase, rewrite", "Erase again, and then", "A poppy blooms"])
    assert layer.get_vocabulary() == ["", "[UNK]", "erase", "write", "then", "rewrite", "poppy", "i", "blooms",
                                      "and", "again", "a"]


def test_max_tokens_counts_the_special_tokens_and_padding_truncation():
    layer = L.TextVectorization(max_tokens=4)
    layer.adapt(np.array(["b b b a a c", "c c d"]))
    assert layer.get_vocabulary() == ["", "[UNK]", "c", "b"]
    np.testing.assert_array_equal(layer(["a b c d", "c"]).numpy(), [[1, 3, 2, 1], [2, 0, 0, 0]])
    short = L.TextVectorization(vocabulary=["x", "y"], output_sequence_length=2)
    np.testing.assert_array_equal(short(["y x y x"]).numpy(), [[3, 2]])  # truncated at the end


def test_stringlookup_docstring_bag_of_words_modes():
    """StringLookup's docstring examples (TextVectorization with split=None is that lookup):
    multi_hot, count, and tf_idf where "[UNK]" gets the mean idf weight."""
    vocab, data = ["a", "b", "c", "d"], [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    common = dict(standardize=None, split=None, vocabulary=vocab)
    got = L.TextVectorization(output_mode="multi_hot", **common)(data).numpy()
    np.testing.assert_array_equal(got, [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    got = L.TextVectorization(output_mode="count", **common)(data).numpy()
    np.testing.assert_array_equal(got, [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    got = L.TextVectorization(output_mode="tf_idf", idf_weights=[0.25, 0.75, 0.6, 0.4], **common)(data).numpy()
    np.testing.assert_allclose(got, [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    padded = L.TextVectorization(output_mode="multi_hot", max_tokens=8, pad_to_max_tokens=True, **common)
    assert padded(data).shape == (2, 8)
    assert L.TextVectorization(output_mode="multi_hot", **common).get_vocabulary() == ["[UNK]", "a", "b", "c", "d"]


def test_tf_idf_adapt_learns_keras_idf():
    docs = ["the cat sat", "the dog", "the cat ran fast"]
    layer = L.TextVectorization(output_mode="tf_idf")
    layer.adapt(docs)
    vocab = layer.get_vocabulary()
    assert vocab == ["[UNK]", "the", "cat", "sat", "ran", "fast", "dog"]
    doc_freq = np.array([sum(t in d.split() for d in docs) for t in vocab[1:]])
    idf = np.log(1 + 3 / (1 + doc_freq))
    want = np.zeros((1, 7))
    for t in "the the cat zebra".split():
        i = vocab.index(t) if t in vocab else 0
        want[0, i] += idf[i - 1] if i else idf.mean()
    np.testing.assert_allclose(layer(["the the cat zebra"]).numpy(), want, rtol=1e-6)


def test_standardize_split_and_ngrams_options():
    text = ["Hello, World! hello"]
    lower = L.TextVectorization(standardize="lower", vocabulary=["hello,", "world!", "hello"])
    np.testing.assert_array_equal(lower(text).numpy(), [[2, 3, 4]])
    ascii_only = L.TextVectorization(vocabulary=["École", "école"])  # as tf.strings.lower: ASCII letters only
    np.testing.assert_array_equal(ascii_only(["École école ÉCOLE"]).numpy(), [[2, 3, 2]])
    strip = L.TextVectorization(standardize="strip_punctuation", vocabulary=["Hello", "World", "hello"])
    np.testing.assert_array_equal(strip(text).numpy(), [[2, 3, 4]])
    chars = L.TextVectorization(split="character", vocabulary=["a", "b"])
    np.testing.assert_array_equal(chars(["ab ba"]).numpy(), [[2, 3, 1, 3, 2]])
    grams = L.TextVectorization(ngrams=2, vocabulary=["a", "b", "c", "a b", "b c"])
    np.testing.assert_array_equal(grams(["a b c", "c"]).numpy(), [[2, 3, 4, 5, 6], [4, 0, 0, 0, 0]])
    only2 = L.TextVectorization(ngrams=(2,), vocabulary=["a b"])
    np.testing.assert_array_equal(only2(["a b c"]).numpy(), [[2, 1]])
    custom = L.TextVectorization(standardize=lambda a: np.char.upper(a.astype(str)),
                                 split=lambda a: [s.split("-") for s in a], vocabulary=["X", "Y"])
    np.testing.assert_array_equal(custom(["x-y-z"]).numpy(), [[2, 3, 1]])


def test_adapt_from_batches_and_steps_and_set_vocabulary(tmp_path):
    def batches():
        yield ["a a b"]
        yield np.array(["b c"]), np.array([1])  # (x, y) batches: the text is x
        yield ["z z z z z"]
    layer = L.TextVectorization()
    layer.adapt(batches(), steps=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a", "c"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["", "[UNK]", "red", "green"]))
    layer = L.TextVectorization()
    layer.set_vocabulary(str(path))
    assert layer.get_vocabulary() == ["", "[UNK]", "red", "green"]
    with pytest.raises(ValueError, match="Cannot adapt layer"):
        layer.adapt(["red"])


def test_save_and_load_model_round_trip_the_adapted_vocabulary(tmp_path):
    layer = L.TextVectorization(max_tokens=20, output_sequence_length=5, ngrams=(1, 2))
    layer.adapt(["the quick brown fox", "the lazy dog", "quick quick dog"])
    inp = ember.Input(shape=(1,), dtype="string")
    model = ember.Model(inp, L.Dense(2)(L.Flatten()(L.Embedding(20, 3)(layer(inp)))))
    x = np.array([["the quick dog"], ["a brown cat"]])
    model.save(str(tmp_path / "m.npz"))
    back = ember.models.load_model(str(tmp_path / "m.npz"))
    loaded = back.layers[1]
    assert loaded.get_vocabulary() == layer.get_vocabulary()
    assert json.dumps(loaded.get_config()) == json.dumps(layer.get_config())
    np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())
    loaded.adapt(["new words only"])  # an adapted (not given) vocabulary stays adaptable
    tfidf = L.TextVectorization(output_mode="tf_idf")
    tfidf.adapt(["a b", "b c c"])
    again = L.TextVectorization.from_config(tfidf.get_config())
    np.testing.assert_array_equal(again(["a c z"]).numpy(), tfidf(["a c z"]).numpy())


def test_callable_options_warn_in_config_and_fail_loudly_when_rebuilt():
    def shout(a):
        return np.char.upper(a.astype(str))
    layer = L.TextVectorization(standardize=shout, vocabulary=["A"])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cfg = layer.get_config()
    assert any("standardize" in str(x.message) for x in w)
    with pytest.raises(ValueError, match="custom callable 'shout'"):
        L.TextVectorization.from_config(cfg)


def test_vectorized_text_trains_a_classifier():
    rng = np.random.default_rng(0)
    pos, neg = ["good great fine", "great good", "fine good nice"], ["bad awful poor", "poor bad", "awful bad sad"]
    texts = [rng.choice(pos if i % 2 else neg) for i in range(64)]
    y = np.array([i % 2 for i in range(64)], dtype=np.float32).reshape(-1, 1)
    vec = L.TextVectorization(output_sequence_length=3)
    vec.adapt(texts)
    x = vec(texts).numpy()
    model = ember.Sequential([ember.Input(shape=(3,)), L.Embedding(vec.vocabulary_size(), 4),
                              L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=ember.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] == 1.0


def test_errors_name_the_layer_and_what_was_received():
    layer = L.TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match=r"input must be 1-D .*Received: inputs.shape=\(2, 2\)"):
        layer([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match=r"expected strings. Received: an element of type int"):
        layer([1, 2])
    with pytest.raises(ValueError, match=r"output_mode must be one of .*Received: output_mode='onehot'"):
        L.TextVectorization(output_mode="onehot")
    with pytest.raises(ValueError, match=r"output_sequence_length must not be set .*Received"):
        L.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match=r"max_tokens must be None or an integer greater than 1. Received"):
        L.TextVectorization(max_tokens=1)
    with pytest.raises(ValueError, match=r"repeated=\['a'\]"):
        L.TextVectorization(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"exceeds max_tokens=3"):
        L.TextVectorization(max_tokens=3, vocabulary=["a", "b"])
    with pytest.raises(ValueError, match=r"tf_idf' needs idf_weights"):
        L.TextVectorization(output_mode="tf_idf", vocabulary=["a"])
    with pytest.raises(RuntimeError, match="set the layer's vocabulary before calling it"):
        L.TextVectorization(output_mode="multi_hot")(["a"])


def test_end_to_end_model_fits_and_predicts_on_raw_strings(tmp_path):
    """Keras' end-to-end text model: Input(dtype="string") -> TextVectorization -> ...;
    fit / evaluate / predict take arrays of str, and the saved model still does."""
    texts = np.array(["good great fine", "bad awful", "great good nice", "poor bad sad"] * 8)
    y = np.array([1, 0, 1, 0] * 8, dtype=np.float32).reshape(-1, 1)
    vec = L.TextVectorization(output_mode="multi_hot")
    vec.adapt(texts)
    model = ember.Sequential([ember.Input(shape=(), dtype="string"), vec, L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=ember.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(texts, y, epochs=10, batch_size=8, verbose=0)
    assert model.evaluate(texts, y, verbose=0)[1] == 1.0
    model.save(str(tmp_path / "text.npz"))
    back = ember.models.load_model(str(tmp_path / "text.npz"))
    probe = np.array(["good nice", "awful sad"])
    np.testing.assert_array_equal(back.predict(probe, verbose=0), model.predict(probe, verbose=0))
    assert model.predict(probe, verbose=0)[0, 0] > 0.5 > model.predict(probe, verbose=0)[1, 0]


def test_symbolic_output_shape_keeps_the_unknown_sequence_length():
    """Without output_sequence_length the length varies per batch: the graph records None
    (not the 0 tokens of the empty strings it is probed with) and the model runs."""
    vec = L.TextVectorization()
    vec.adapt(["a b c", "b c"])
    inp = ember.Input(shape=(1,), dtype="string")
    ids = vec(inp)
    assert ids.shape == (None, None)
    out = L.Dense(1)(L.GlobalAveragePooling1D()(L.Embedding(5, 3)(ids)))
    model = ember.Model(inp, out)
    assert model.predict(np.array([["a b"], ["c c c c"]]), verbose=0).shape == (2, 1)
    hot = L.TextVectorization(output_mode="count", vocabulary=["a", "b"])
    assert hot(ember.Input(shape=(), dtype="string")).shape == (None, 3)
