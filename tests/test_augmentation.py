"""Image augmentation layers: identity at inference (RandomCrop center-crops), exact
transforms where the geometry is known (90-degree turns, whole-pixel shifts with each
fill mode, flips), the sampler against a per-pixel loop, seeding, gradients through the
sampling, save / load_model, and errors."""
import json

import numpy as np
import pytest

import ember
from ember import layers as L
from ember.layers.image_transform import affine_sample, resize, rotation_transforms
from ember.tensor import Tensor
from ember.testing import gradcheck

IMG = np.random.default_rng(0).uniform(0, 255, (3, 7, 11, 2)).astype(np.float32)
RANDOM = [lambda: L.RandomFlip(), lambda: L.RandomRotation(0.2), lambda: L.RandomZoom(0.3, 0.1),
          lambda: L.RandomTranslation(0.2, 0.1), lambda: L.RandomContrast(0.4), lambda: L.RandomBrightness(0.3)]


@pytest.mark.parametrize("make", RANDOM)
def test_identity_at_inference_changes_in_training(make):
    layer = make()
    np.testing.assert_array_equal(layer(IMG).numpy(), IMG)
    out = layer(IMG, training=True).numpy()
    assert out.shape == IMG.shape and not np.array_equal(out, IMG)


def test_flip_modes():
    x = np.random.default_rng(1).standard_normal((64, 3, 5, 1)).astype(np.float32)
    for mode, ops in (("horizontal", [lambda a: a, lambda a: a[:, ::-1]]),
                      ("vertical", [lambda a: a, lambda a: a[::-1]]),
                      ("horizontal_and_vertical", [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1],
                                                   lambda a: a[::-1, ::-1]])):
        out = L.RandomFlip(mode, seed=3)(x, training=True).numpy()
        used = set()
        for o, i in zip(out, x):
            hits = [k for k, op in enumerate(ops) if np.array_equal(o, op(i))]
            assert hits, mode
            used.add(hits[0])
        assert used == set(range(len(ops))), mode  # every outcome happens in 64 draws


def test_rotation_by_a_quarter_turn_is_rot90_counter_clockwise():
    x = np.random.default_rng(2).standard_normal((2, 5, 5, 3)).astype(np.float32)
    out = L.RandomRotation((0.25, 0.25))(x, training=True).numpy()
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(1, 2)), atol=1e-4)
    out = L.RandomRotation((-0.5, -0.5), interpolation="nearest")(x, training=True).numpy()
    np.testing.assert_allclose(out, x[:, ::-1, ::-1], atol=1e-5)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
def test_whole_pixel_translation_with_each_fill_mode(fill_mode):
    x = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6, 1)
    layer = L.RandomTranslation((0.0, 0.0), (2 / 6, 2 / 6), fill_mode=fill_mode, fill_value=-7.0)
    out = layer(x, training=True).numpy()
    np.testing.assert_allclose(out[:, :, 2:], x[:, :, :4], atol=1e-4)  # shifted right by 2
    left = {"reflect": x[:, :, [1, 0]], "wrap": x[:, :, [4, 5]], "nearest": x[:, :, [0, 0]],
            "constant": np.full((2, 4, 2, 1), -7.0)}[fill_mode]
    np.testing.assert_allclose(out[:, :, :2], left, atol=1e-4)


def _sample_loop(x, t, interpolation, fill_mode, fill_value):
    """Per pixel: map the input point by the fill mode, then read 1 or 4 neighbours
    (out-of-image neighbours read fill_value)."""
    N, H, W, C = x.shape

    def fold(c, n):
        if fill_mode == "constant":
            return c
        if fill_mode == "reflect":
            c = c % (2 * n)
            c = 2 * n - 1 - c if c >= n else c
        elif fill_mode == "wrap":
            c = c % n
        return min(max(c, 0.0), n - 1.0)

    def read(b, yy, xx):
        return x[b, int(yy), int(xx)] if 0 <= yy <= H - 1 and 0 <= xx <= W - 1 else np.full(C, fill_value)
    out = np.zeros_like(x, dtype=np.float64)
    for b in range(N):
        a0, a1, a2, b0, b1, b2 = t[b]
        for i in range(H):
            for j in range(W):
                px, py = fold(a0 * j + a1 * i + a2, W), fold(b0 * j + b1 * i + b2, H)
                if interpolation == "nearest":
                    out[b, i, j] = read(b, np.floor(py + 0.5), np.floor(px + 0.5))
                    continue
                y0, x0 = np.floor(py), np.floor(px)
                fy, fx = py - y0, px - x0
                out[b, i, j] = ((1 - fy) * (1 - fx) * read(b, y0, x0) + (1 - fy) * fx * read(b, y0, x0 + 1)
                                + fy * (1 - fx) * read(b, y0 + 1, x0) + fy * fx * read(b, y0 + 1, x0 + 1))
    return out


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
def test_sampler_matches_a_per_pixel_loop(interpolation, fill_mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 7, 3))
    t = rotation_transforms(np.array([0.7, -2.1]), 5, 7)
    t[1] = [1.3, 0.2, -2.5, -0.1, 0.8, 3.1]  # a general affine map reaching far outside
    got = affine_sample(Tensor(x), t, interpolation, fill_mode, 0.5).numpy()
    np.testing.assert_allclose(got, _sample_loop(x, t, interpolation, fill_mode, 0.5), atol=1e-10)


def test_zoom_in_and_out_about_the_centre():
    x = np.random.default_rng(4).standard_normal((1, 9, 9, 1)).astype(np.float32)
    # zoom out by +100 %: output pixel (i, j) samples input (2i - 4, 2j - 4); the centre stays
    out = L.RandomZoom((1.0, 1.0), fill_mode="constant")(x, training=True).numpy()
    np.testing.assert_allclose(out[0, 2:7:2, 2:7:2], x[0, 0:9:4, 0:9:4], atol=1e-5)
    assert out[0, 0, 0, 0] == 0.0
    # zoom in by -50 % on height only: rows sample (i + 4) / 2, columns untouched
    out = L.RandomZoom((-0.5, -0.5), width_factor=(0.0, 0.0))(x, training=True).numpy()
    np.testing.assert_allclose(out[0, 0:9:2], x[0, 2:7], atol=1e-5)


def test_contrast_formula_and_clipping():
    x = np.random.default_rng(5).uniform(0, 1, (4, 3, 5, 2))
    out = L.RandomContrast(0.5, value_range=(-100, 100), seed=1)(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    c = (out - mean) / (x - mean)
    assert np.allclose(c, c[:, :1, :1, :1], atol=1e-4)            # one factor per image
    assert np.all((0.5 <= c) & (c <= 1.5)) and np.ptp(c[:, 0, 0, 0]) > 0
    clipped = L.RandomContrast((0.0, 1.0), value_range=(0.2, 0.8), seed=2)(x, training=True).numpy()
    assert clipped.min() >= 0.2 and clipped.max() <= 0.8


def _resize_loop(x, h, w):
    N, H, W, C = x.shape
    out = np.zeros((N, h, w, C))
    for i in range(h):
        for j in range(w):
            sy = min(max((i + 0.5) * H / h - 0.5, 0), H - 1)
            sx = min(max((j + 0.5) * W / w - 0.5, 0), W - 1)
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
            fy, fx = sy - y0, sx - x0
            out[:, i, j] = ((1 - fy) * (1 - fx) * x[:, y0, x0] + (1 - fy) * fx * x[:, y0, x1]
                            + fy * (1 - fx) * x[:, y1, x0] + fy * fx * x[:, y1, x1])
    return out


def test_random_crop_training_and_inference():
    layer = L.RandomCrop(5, 7, seed=0)
    out = layer(IMG, training=True).numpy()
    assert out.shape == (3, 5, 7, 2)
    hits = [(t, l) for t in range(3) for l in range(5) if np.array_equal(out, IMG[:, t:t + 5, l:l + 7])]
    assert len(hits) == 1  # one window for the whole batch
    # inference: the largest centred 5:7 window (7 x 9 here: columns 1..9) resized to 5 x 7
    np.testing.assert_allclose(layer(IMG).numpy(), _resize_loop(IMG[:, :, 1:10].astype(np.float64), 5, 7), rtol=1e-5)
    small = np.random.default_rng(6).standard_normal((1, 4, 3, 1))  # smaller than the target: resized
    np.testing.assert_allclose(L.RandomCrop(5, 7)(small, training=True).numpy(),
                               _resize_loop(small[:, 1:3], 5, 7), rtol=1e-5)
    np.testing.assert_allclose(resize(Tensor(small), 7, 2).numpy(), _resize_loop(small, 7, 2), rtol=1e-12)


def test_seeds_unbatched_and_channels_first():
    a = L.RandomRotation(0.3, seed=11)(IMG, training=True).numpy()
    np.testing.assert_array_equal(a, L.RandomRotation(0.3, seed=11)(IMG, training=True).numpy())
    ember.set_seed(5)
    b = L.RandomZoom(0.2)(IMG, training=True).numpy()
    ember.set_seed(5)
    np.testing.assert_array_equal(b, L.RandomZoom(0.2)(IMG, training=True).numpy())
    one = L.RandomTranslation(0.3, 0.3, seed=2)(IMG[0], training=True).numpy()
    np.testing.assert_array_equal(one, L.RandomTranslation(0.3, 0.3, seed=2)(IMG[:1], training=True).numpy()[0])
    cf = L.RandomRotation(0.3, seed=4, data_format="channels_first")(np.moveaxis(IMG, -1, 1), training=True).numpy()
    np.testing.assert_allclose(np.moveaxis(cf, 1, -1), L.RandomRotation(0.3, seed=4)(IMG, training=True).numpy(),
                               rtol=1e-6)
    assert L.RandomCrop(4, 6, data_format="channels_first").compute_output_shape((None, 3, 9, 9)) == (None, 3, 4, 6)


@pytest.mark.parametrize("make", [lambda: L.RandomRotation(0.3, fill_mode="constant", fill_value=0.3, seed=1),
                                  lambda: L.RandomZoom(0.4, fill_mode="reflect", seed=2),
                                  lambda: L.RandomTranslation(0.3, 0.3, fill_mode="wrap", seed=3),
                                  lambda: L.RandomFlip(seed=4), lambda: L.RandomContrast(0.5, seed=5),
                                  lambda: L.RandomCrop(3, 4, seed=6)])
def test_gradients_flow_through_the_sampling(make):
    x = np.random.default_rng(7).uniform(10, 200, (2, 5, 6, 2))
    gradcheck(lambda t: make()(t, training=True), [x])   # a fresh seeded layer: the same draw each call
    gradcheck(lambda t: L.RandomCrop(3, 4)(t), [x])      # the inference path resizes


def test_augmentation_layers_survive_save_and_load(tmp_path):
    inp = ember.Input(shape=(7, 11, 2))
    stack = [L.RandomFlip("horizontal", seed=1), L.RandomRotation((-0.1, 0.2), fill_mode="constant", fill_value=2.0,
                                                                   interpolation="nearest", seed=2),
             L.RandomZoom(0.2, (-0.1, 0.3), fill_mode="wrap"), L.RandomTranslation(0.1, 0.2, fill_mode="nearest"),
             L.RandomContrast((0.1, 0.3), value_range=(0, 1)), L.RandomBrightness((-0.2, 0.1), value_range=(0, 2)),
             L.Resizing(9, 13, interpolation="nearest", pad_to_aspect_ratio=True, fill_value=1.0),
             L.CenterCrop(8, 8), L.RandomCrop(5, 7, seed=3)]
    y = inp
    for layer in stack:
        y = layer(y)
    model = ember.Model(inp, y)
    model.save(str(tmp_path / "aug.npz"))
    back = ember.models.load_model(str(tmp_path / "aug.npz"))
    for a, b in zip(stack, back.layers[1:]):
        assert type(a) is type(b) and json.dumps(a.get_config()) == json.dumps(b.get_config())
    np.testing.assert_array_equal(back.predict(IMG), model.predict(IMG))


def test_errors_name_the_layer_and_what_was_received():
    with pytest.raises(ValueError, match=r"RandomFlip layer .* expects images .*Received: shape=\(7, 11\)"):
        L.RandomFlip()(IMG[0, :, :, 0], training=True)
    with pytest.raises(ValueError, match=r"RandomFlip layer .*Received: mode='diagonal'"):
        L.RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"RandomRotation layer .*fill_mode must be one of .*Received: fill_mode='edge'"):
        L.RandomRotation(0.1, fill_mode="edge")
    with pytest.raises(ValueError, match=r"RandomTranslation layer .*height_factor must be within .*Received"):
        L.RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match=r"RandomZoom layer .*height_factor must be within .*Received"):
        L.RandomZoom((-1.5, 0.2))
    with pytest.raises(ValueError, match=r"RandomContrast layer .*factor must be a number in \[0, 1\].*Received"):
        L.RandomContrast(1.5)
    with pytest.raises(ValueError, match=r"RandomCrop layer .*positive integers. Received: height=0"):
        L.RandomCrop(0, 3)


def test_augmentation_runs_in_fit_only_inside_a_nested_sequential():
    """Keras' image-classification recipe: a Sequential of augmentation layers called on the
    Input of a functional model; fit augments, predict and evaluate do not."""
    flip = L.RandomFlip("horizontal")
    calls = []
    real = flip._augment
    flip._augment = lambda x: calls.append(x.shape[0]) or real(x)
    augment = ember.Sequential([flip, L.RandomRotation(0.1)])
    inp = ember.Input(shape=(8, 8, 3))
    x = L.SeparableConv2D(4, 3, padding="same", activation="relu")(L.Rescaling(1 / 255)(augment(inp)))
    model = ember.Model(inp, L.Dense(2, activation="softmax")(L.GlobalAveragePooling2D()(x)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    X = np.random.default_rng(8).uniform(0, 255, (12, 8, 8, 3)).astype(np.float32)
    model.predict(X, verbose=0)
    model.evaluate(X, np.arange(12) % 2, verbose=0)
    assert calls == []
    model.fit(X, np.arange(12) % 2, epochs=1, batch_size=4, verbose=0)
    assert calls == [4, 4, 4]


def _nearest_loop(x, h, w):
    H, W = x.shape[1:3]
    rows = [min(int((i + 0.5) * H / h), H - 1) for i in range(h)]
    cols = [min(int((j + 0.5) * W / w), W - 1) for j in range(w)]
    return x[:, rows][:, :, cols]


def test_brightness_shifts_each_image_and_clips():
    x = np.random.default_rng(9).uniform(0.3, 0.7, (6, 3, 4, 2))
    out = L.RandomBrightness(0.2, value_range=(0, 1), seed=1)(x, training=True).numpy()
    delta = out - x
    assert np.allclose(delta, delta[:, :1, :1, :1]) and np.all(np.abs(delta) <= 0.2 + 1e-12)
    assert np.ptp(delta[:, 0, 0, 0]) > 0
    bright = L.RandomBrightness((0.9, 1.0), value_range=(0, 1))(x, training=True).numpy()
    np.testing.assert_array_equal(bright, np.ones_like(x))


def test_resizing_and_center_crop():
    x = np.random.default_rng(10).standard_normal((2, 5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(L.Resizing(3, 11)(x).numpy(), _resize_loop(x, 3, 11), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(L.Resizing(8, 3, interpolation="nearest")(x).numpy(), _nearest_loop(x, 8, 3))
    np.testing.assert_allclose(L.Resizing(4, 4, crop_to_aspect_ratio=True)(x).numpy(),
                               _resize_loop(x[:, :, 1:6], 4, 4), rtol=1e-5, atol=1e-6)
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0)), constant_values=-3.0)  # 5x7 -> 7x7 for a square target
    np.testing.assert_allclose(L.Resizing(3, 3, pad_to_aspect_ratio=True, fill_value=-3.0)(x).numpy(),
                               _resize_loop(padded, 3, 3), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(L.CenterCrop(3, 4)(x).numpy(), x[:, 1:4, 1:5])
    np.testing.assert_allclose(L.CenterCrop(6, 3)(x).numpy(), _resize_loop(x[:, :, 2:4], 6, 3), rtol=1e-5, atol=1e-6)
    assert L.Resizing(6, 2).compute_output_shape((None, 5, 7, 3)) == (None, 6, 2, 3)
    gradcheck(lambda t: L.Resizing(4, 9)(t), [x])
    gradcheck(lambda t: L.Resizing(3, 3, pad_to_aspect_ratio=True)(t), [x])
    with pytest.raises(ValueError, match=r"Resizing layer .*interpolation must be .*Received: interpolation='area'"):
        L.Resizing(3, 3, interpolation="area")
    with pytest.raises(ValueError, match=r"CenterCrop layer .* expects images .*Received: shape=\(5, 7\)"):
        L.CenterCrop(3, 3)(x[0, :, :, 0])
