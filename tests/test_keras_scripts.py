"""Keras scripts that run on ember with only the imports changed."""
import os
import subprocess
import sys
import textwrap

import pytest

SEQUENTIAL = """
import numpy as np
import ember
from ember import Sequential
from ember.layers import Dense

rng = np.random.default_rng(0)
x = rng.standard_normal((256, 2)).astype("float32")
y = (x[:, 0] * x[:, 1] > 0).astype("float32")   # XOR of the signs

ember.utils.set_random_seed(0)
model = Sequential([Dense(16, activation="relu", input_shape=(2,)), Dense(16, activation="relu"), Dense(1)])
model.compile(optimizer=ember.optimizers.Adam(learning_rate=0.01),
              loss=ember.losses.BinaryCrossentropy(from_logits=True),
              metrics=["accuracy"])
history = model.fit(x, y, batch_size=32, epochs=40, verbose=0)
print("first loss", history.history["loss"][0], "last loss", history.history["loss"][-1])
assert history.history["loss"][-1] < history.history["loss"][0]
assert history.history["accuracy"][-1] > 0.9, history.history["accuracy"][-1]
logits = model.predict(x[:5])
assert logits.shape == (5, 1)
print("ok")
"""

TAPE = """
import numpy as np
import ember
from ember import layers

rng = np.random.default_rng(1)
x_train = rng.standard_normal((128, 8)).astype("float32")
y_train = (x_train[:, :3].sum(1) > 0).astype("int64") + (x_train[:, 3] > 1).astype("int64")

model = ember.Sequential([layers.Dense(32, activation="relu"), layers.Dense(3)])
loss_fn = ember.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = ember.optimizers.SGD(learning_rate=0.1, momentum=0.9)
losses = []
for epoch in range(20):
    for i in range(0, 128, 32):
        x, y = x_train[i:i + 32], y_train[i:i + 32]
        with ember.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    losses.append(float(loss.numpy()))
assert losses[-1] < losses[0] * 0.5, losses
print("ok")
"""

FUNCTIONAL = """
import numpy as np
import ember
from ember import layers

ember.utils.set_random_seed(0)  # keras.utils.set_random_seed(0)
inputs = ember.Input(shape=(10,))
x = layers.Dense(32, activation="relu")(inputs)
x = layers.Dropout(0.2)(x)
outputs = layers.Dense(4, activation="softmax")(x)
model = ember.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
rng = np.random.default_rng(2)
data = rng.random((200, 10)).astype("float32")
labels = ember.utils.to_categorical(data[:, :4].argmax(1), num_classes=4)
callback = ember.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
history = model.fit(data, labels, epochs=15, batch_size=16, validation_split=0.2, callbacks=[callback], verbose=0)
assert "val_accuracy" in history.history
loss, acc = model.evaluate(data, labels, verbose=0)
assert acc > 0.5, acc
print("ok")
"""


# A clean environment, but for the sanitizer settings (tools/asan_tests.sh runs this too).
_ENV = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
        **{k: os.environ[k] for k in ("LD_PRELOAD", "ASAN_OPTIONS") if k in os.environ}}


@pytest.mark.parametrize("script", [SEQUENTIAL, TAPE, FUNCTIONAL], ids=["sequential", "gradient_tape", "functional"])
def test_keras_script_runs(script):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120,
                       env=_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("ok")
