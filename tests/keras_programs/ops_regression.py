"""A linear regression written with keras.ops and keras.random only, trained in a custom
GradientTape loop (the pattern of Keras' "writing a training loop from scratch" guide).
Runs on ember with only the imports changed. About a second."""
import numpy as np

import ember as keras  # import keras
import ember as tf  # import tensorflow as tf: only tf.GradientTape is used
from ember import ops  # from keras import ops

keras.utils.set_random_seed(0)
seed = keras.random.SeedGenerator(42)

true_w = ops.convert_to_tensor([[2.0], [-3.0], [0.5]])
true_b = 1.25
x = keras.random.normal((512, 3), seed=seed)
noise = 0.05 * keras.random.normal((512, 1), seed=seed)
y = ops.matmul(x, true_w) + true_b + noise


class Linear(keras.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units), initializer="random_normal")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return ops.add(ops.matmul(inputs, self.w), self.b)


model = Linear(1)
optimizer = keras.optimizers.SGD(learning_rate=0.1)

for epoch in range(30):
    perm = ops.argsort(keras.random.uniform((512,), seed=seed))  # a shuffled order, as indices
    for batch in ops.split(perm, 8):
        xb, yb = ops.take(x, batch, axis=0), ops.take(y, batch, axis=0)
        with tf.GradientTape() as tape:
            pred = model(xb)
            loss = ops.mean(ops.square(ops.subtract(pred, yb)))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))

w = ops.convert_to_numpy(model.w).ravel()
b = float(ops.convert_to_numpy(model.b)[0])
err = float(ops.norm(ops.subtract(model.w, true_w)))
print(f"w={np.round(w, 3).tolist()} b={b:.3f} |w - w_true|={err:.4f} loss={float(loss):.5f}")
assert err < 0.02, err
assert abs(b - true_b) < 0.02, b
print("ops_regression ok")
