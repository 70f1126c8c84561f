"""Keras 3's "Making new layers and models via subclassing" and "Masking and padding"
guides, and the custom-metric / RNN-cell / feature-extraction idioms of its other guides,
condensed, on small random data. Runs on ember with only the imports changed. Seconds."""
import numpy as np

import ember as keras  # import keras
from ember import layers, ops  # from keras import layers, ops

keras.utils.set_random_seed(0)


class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


linear_layer = Linear(4)
y = linear_layer(ops.ones((2, 2)))
assert linear_layer.weights == [linear_layer.w, linear_layer.b]
new_layer = Linear.from_config(linear_layer.get_config())
assert new_layer.units == 4


class ComputeSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


my_sum = ComputeSum(2)
my_sum(ops.ones((2, 2)))
assert np.allclose(my_sum(ops.ones((2, 2))).numpy(), [4.0, 4.0])
assert len(my_sum.weights) == 1 and len(my_sum.non_trainable_weights) == 1 and my_sum.trainable_weights == []


class MLPBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = Linear(32)
        self.linear_2 = Linear(32)
        self.linear_3 = Linear(1)

    def call(self, inputs):
        x = ops.relu(self.linear_1(inputs))
        x = ops.relu(self.linear_2(x))
        return self.linear_3(x)


mlp = MLPBlock()
mlp(ops.ones(shape=(3, 64)))
assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6


class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class OuterLayer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.activity_reg = ActivityRegularizationLayer(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


layer = OuterLayer()
assert len(layer.losses) == 0
_ = layer(ops.zeros((1, 1)))
assert len(layer.losses) == 1
_ = layer(ops.zeros((1, 1)))
assert len(layer.losses) == 1  # reset at the start of each top-level call


class OuterLayerWithKernelRegularizer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(32, kernel_regularizer=keras.regularizers.l2(1e-3))

    def call(self, inputs):
        return self.dense(inputs)


layer = OuterLayerWithKernelRegularizer()
_ = layer(ops.zeros((1, 1)))
assert np.isclose(float(layer.losses[0]), 1e-3 * float(ops.sum(layer.dense.kernel ** 2)), rtol=1e-5)

inputs = keras.Input(shape=(3,))
# (the guide's model is this layer alone; ember's fit still needs a trainable weight)
outputs = ActivityRegularizationLayer()(layers.Dense(3)(inputs))
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)

# a custom training loop: the layers' losses added by hand, optimizer.apply
inputs = keras.Input(shape=(16,))
x = layers.Dense(32, activation="relu")(inputs)
x = ActivityRegularizationLayer()(x)
outputs = layers.Dense(3)(x)
model = keras.Model(inputs, outputs)
optimizer = keras.optimizers.SGD(learning_rate=0.05)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
x_train = np.random.default_rng(0).standard_normal((96, 16)).astype("float32")
y_train = (x_train[:, 0] > 0).astype("int32") + (x_train[:, 1] > 0).astype("int32")
train_acc = keras.metrics.SparseCategoricalAccuracy()
first = None
for epoch in range(30):
    with keras.GradientTape() as tape:
        logits = model(x_train, training=True)
        loss_value = loss_fn(y_train, logits)
        loss_value += sum(model.losses)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)
    train_acc.update_state(y_train, logits)
    first = first if first is not None else float(loss_value)
print(f"custom loop: loss {first:.4f} -> {loss_value:.4f}, accuracy {float(train_acc.result()):.4f}")
assert float(loss_value) < first


class CategoricalTruePositives(keras.metrics.Metric):
    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            values = ops.multiply(values, ops.cast(sample_weight, "float32"))
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0.0)


model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=[CategoricalTruePositives()])
history = model.fit(x_train, y_train[:, None], batch_size=32, epochs=2, verbose=0)
print("true positives per epoch:", history.history["categorical_true_positives"])
assert 0 < history.history["categorical_true_positives"][-1] <= 96

# feature extraction from the layers' outputs
extractor = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
features = extractor(x_train[:4])
assert [tuple(f.shape) for f in features] == [(4, 16), (4, 32), (4, 32), (4, 3)]


# a user-written RNN cell over padded, masked sequences
class MinimalRNNCell(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        prev_output = states[0]
        output = ops.matmul(inputs, self.kernel) + ops.matmul(prev_output, self.recurrent_kernel)
        return output, [output]


seq_in = keras.Input(shape=(None, 5))
masked = layers.Masking(mask_value=0.0)(seq_in)
h = layers.RNN([MinimalRNNCell(8), layers.LSTMCell(8)])(masked)
seq_model = keras.Model(seq_in, layers.Dense(1)(h))
seqs = np.random.default_rng(1).standard_normal((6, 7, 5)).astype("float32")
seqs[:3, 4:] = 0.0  # padding
full = seq_model.predict(seqs[:3, :4], verbose=0)
padded = seq_model.predict(seqs[:3], verbose=0)
assert np.allclose(full, padded, atol=1e-5), "masked steps must be skipped"
print("layers_subclassing ok")
