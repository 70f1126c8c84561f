"""Keras guide "Training & evaluation with the built-in methods": fit / evaluate / predict
with validation data, custom losses (a function and a Loss subclass), class and sample
weights, a PyDataset with workers, a Python generator, callbacks (EarlyStopping, a custom
Callback), a learning-rate schedule. Data: Gaussian clusters instead of MNIST (small)."""
import numpy as np
import ember as keras  # was: import keras
from ember import layers  # was: from keras import layers
from ember import ops  # was: from keras import ops

rng = np.random.default_rng(0)
centers = rng.normal(scale=3.0, size=(10, 32))
y_all = rng.integers(0, 10, size=1400)
x_all = (centers[y_all] + rng.normal(size=(1400, 32))).astype("float32")
# Reserve 200 samples for validation, 200 for test
x_train, y_train = x_all[:1000], y_all[:1000]
x_val, y_val = x_all[1000:1200], y_all[1000:1200]
x_test, y_test = x_all[1200:], y_all[1200:]


def get_uncompiled_model():
    inputs = keras.Input(shape=(32,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def get_compiled_model():
    model = get_uncompiled_model()
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


# API overview: a first end-to-end example
model = get_compiled_model()
print("Fit model on training data")
history = model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=2,
    # We pass some validation for
    # monitoring validation loss and metrics
    # at the end of each epoch
    validation_data=(x_val, y_val),
    verbose=0,
)
print(history.history)
assert set(history.history) == {"loss", "sparse_categorical_accuracy", "val_loss",
                                "val_sparse_categorical_accuracy"}
results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
print("test loss, test acc:", results)
predictions = model.predict(x_test[:3], verbose=0)
print("predictions shape:", predictions.shape)
assert predictions.shape == (3, 10)


# Custom losses
def custom_mean_squared_error(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


model = get_uncompiled_model()
model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
# We need to one-hot encode the labels to use MSE
y_train_one_hot = ops.one_hot(y_train, num_classes=10)
model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)


class CustomMSE(keras.losses.Loss):
    def __init__(self, regularization_factor=0.1, name="custom_mse"):
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
        return mse + reg * self.regularization_factor


model = get_uncompiled_model()
model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
h = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
assert np.isfinite(h.history["loss"][0])

# Class weights
class_weight = {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0,
                # Set weight "2" for class "5",
                # making this class 2x more important
                5: 2.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0}
print("Fit with class weight")
model = get_compiled_model()
model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1, verbose=0)

# Sample weights
sample_weight = np.ones(shape=(len(y_train),))
sample_weight[y_train == 5] = 2.0
print("Fit with sample weight")
model = get_compiled_model()
model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1, verbose=0)


# Using a PyDataset for training & evaluation
class ExamplePyDataset(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x = x
        self.y = y
        self.batch_size = batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, idx):
        batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
        return batch_x, batch_y


train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32, workers=4)
val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32)
model = get_compiled_model()
model.fit(train_py_dataset, validation_data=val_py_dataset, epochs=1, verbose=0)
print("PyDataset evaluate:", model.evaluate(val_py_dataset, verbose=0))


# A Python generator, with steps_per_epoch
def generator(x, y, batch_size):
    while True:
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]


model = get_compiled_model()
model.fit(generator(x_train, y_train, 64), steps_per_epoch=16, epochs=2, verbose=0,
          validation_data=generator(x_val, y_val, 50), validation_steps=4)


# Callbacks
class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs):
        self.per_batch_losses = []

    def on_batch_end(self, batch, logs):
        self.per_batch_losses.append(logs.get("loss"))


loss_history = LossHistory()
model = get_compiled_model()
callbacks = [
    keras.callbacks.EarlyStopping(
        # Stop training when `val_loss` is no longer improving
        monitor="val_loss",
        # "no longer improving" being defined as "no better than 1e-2 less"
        min_delta=1e-2,
        # "no longer improving" being further defined as "for at least 2 epochs"
        patience=2,
        verbose=1,
    ),
    loss_history,
]
history = model.fit(x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks, validation_split=0.2,
                    verbose=0)
print("epochs run:", len(history.history["loss"]), "batches seen:", len(loss_history.per_batch_losses))
assert len(loss_history.per_batch_losses) == 13 * len(history.history["loss"])

# Learning-rate schedule
initial_learning_rate = 0.1
lr_schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
)
optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)

model = get_compiled_model()
model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
acc = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["sparse_categorical_accuracy"]
print("test accuracy", acc)
assert acc > 0.9, acc
print("builtin_training ok")
