"""The classic XOR with a GradientTape loop and BinaryCrossentropy(from_logits=True) on a
sigmoid output: on TensorFlow the loss uses the pre-sigmoid logits (with a warning), so
the network learns XOR."""
import numpy as np
import ember as keras  # was: import keras
import ember as tf  # was: import tensorflow as tf (for tf.GradientTape)

keras.utils.set_random_seed(42)

x_train = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y_train = np.array([[0], [1], [1], [0]], dtype=np.float32)

model = keras.Sequential([
    keras.Input(shape=(2,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
optimizer = keras.optimizers.Adam(learning_rate=0.05)

for epoch in range(500):
    with tf.GradientTape() as tape:
        predictions = model(x_train, training=True)
        loss = loss_fn(y_train, predictions)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    if epoch % 100 == 0:
        print(f"Epoch {epoch}, Loss: {loss.numpy():.4f}")

pred = model.predict(x_train, verbose=0)
print("predictions", np.round(pred.ravel(), 3))
assert float(loss) < 0.1, float(loss)
assert (np.round(pred) == y_train).all()
print("xor_gradient_tape ok")
