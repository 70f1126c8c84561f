"""Keras guide "Writing a training loop from scratch" (TensorFlow version): a GradientTape
loop with optimizer.apply, SparseCategoricalCrossentropy(from_logits=True) and
SparseCategoricalAccuracy metrics updated, read and reset by hand, and a validation loop.
Data: 10 Gaussian clusters in 20 dimensions instead of MNIST (small, seconds)."""
import time

import numpy as np
import ember as keras  # was: import keras
import ember as tf  # was: import tensorflow as tf


def get_model():
    inputs = keras.Input(shape=(20,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


model = get_model()

# Instantiate an optimizer.
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
# Instantiate a loss function.
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# Prepare the training dataset.
batch_size = 32
rng = np.random.default_rng(0)
centers = rng.normal(scale=3.0, size=(10, 20))
y_all = rng.integers(0, 10, size=3000)
x_all = (centers[y_all] + rng.normal(size=(3000, 20))).astype("float32")
x_train, y_train = x_all[:2000], y_all[:2000]
x_val, y_val = x_all[2000:], y_all[2000:]


def batches(x, y, batch_size, shuffle=False):
    # was: tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(batch_size)
    idx = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    for i in range(0, len(x), batch_size):
        j = idx[i:i + batch_size]
        yield x[j], y[j]


# Prepare the metrics.
train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()

epochs = 3
for epoch in range(epochs):
    print(f"\nStart of epoch {epoch}")
    start_time = time.time()

    # Iterate over the batches of the dataset.
    for step, (x_batch_train, y_batch_train) in enumerate(batches(x_train, y_train, batch_size, True)):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train, training=True)
            loss_value = loss_fn(y_batch_train, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)

        # Update training metric.
        train_acc_metric.update_state(y_batch_train, logits)

        # Log every 20 batches.
        if step % 20 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss_value):.4f}")
            print(f"Seen so far: {(step + 1) * batch_size} samples")

    # Display metrics at the end of each epoch.
    train_acc = train_acc_metric.result()
    print(f"Training acc over epoch: {float(train_acc):.4f}")

    # Reset training metrics at the end of each epoch
    train_acc_metric.reset_state()

    # Run a validation loop at the end of each epoch.
    for x_batch_val, y_batch_val in batches(x_val, y_val, 64):
        val_logits = model(x_batch_val, training=False)
        # Update val metrics
        val_acc_metric.update_state(y_batch_val, val_logits)
    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(f"Validation acc: {float(val_acc):.4f}")
    print(f"Time taken: {time.time() - start_time:.2f}s")

assert float(val_acc) > 0.9, float(val_acc)
print("training_loop_from_scratch ok")
