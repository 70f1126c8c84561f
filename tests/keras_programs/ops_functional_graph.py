"""keras.ops on symbolic tensors while building a functional model (Keras 3 records them
as graph nodes): scaling and a channel axis added with ops, a small convnet, global mean
pooling written as ops.mean, an ops.concatenate of two feature paths and slicing. The
task: which of two bars (vertical or horizontal) an image holds. Trained with fit, saved
and loaded again. Runs on ember with only the imports changed; a few seconds."""
import os
import tempfile

import numpy as np

import ember as keras  # was: import keras
from ember import layers, ops  # was: from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def make_images(n):
    x = rng.integers(0, 40, size=(n, 16, 16)).astype("float32")
    y = rng.integers(0, 2, size=(n,))
    pos = rng.integers(2, 14, size=(n,))
    for i in range(n):
        if y[i]:
            x[i, :, pos[i]] = 255.0  # a vertical bar
        else:
            x[i, pos[i], :] = 255.0  # a horizontal bar
    return x, y


x_train, y_train = make_images(512)
x_test, y_test = make_images(128)

inputs = keras.Input(shape=(16, 16), name="image")
x = ops.expand_dims(inputs, -1) / 255.0 - 0.5
x = layers.Conv2D(8, 3, activation="relu")(x)
x = layers.Conv2D(8, 3, activation="relu")(x)
pooled = ops.mean(x, axis=(1, 2))
peak = ops.max(x, axis=(1, 2))
features = ops.concatenate([pooled, peak * 0.5], axis=-1)
logits = layers.Dense(2)(features)
outputs = ops.softmax(logits[:, :2], axis=-1)
model = keras.Model(inputs, outputs, name="bars")
model.summary()

model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=32, epochs=8, verbose=0)
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss={loss:.4f} accuracy={acc:.3f}")
assert acc > 0.9, acc

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bars.npz")  # ember's own format: keras.ops nodes included
    model.save(path)
    restored = keras.models.load_model(path)
np.testing.assert_allclose(restored.predict(x_test, verbose=0), model.predict(x_test, verbose=0), rtol=1e-5)
print("ops_functional_graph ok")
