"""Keras example "Variational AutoEncoder" (keras.io/examples/generative/vae, TensorFlow
version): a Sampling layer with a SeedGenerator, an encoder and a decoder, and a VAE model
whose train_step computes the reconstruction and KL losses with trackers; then the same
KL term through Layer.add_loss in a functional VAE trained by the built-in fit. Data:
8x8 "digits" (bars) instead of MNIST, a smaller network, so that it runs in seconds."""
import numpy as np
import ember as keras  # was: import keras
import ember as tf  # was: import tensorflow as tf
from ember import layers  # was: from keras import layers
from ember import ops  # was: from keras import ops


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


latent_dim = 2

encoder_inputs = keras.Input(shape=(8, 8, 1))
x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
x = layers.Flatten()(x)
x = layers.Dense(16, activation="relu")(x)
z_mean = layers.Dense(latent_dim, name="z_mean")(x)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

latent_inputs = keras.Input(shape=(latent_dim,))
x = layers.Dense(2 * 2 * 16, activation="relu")(latent_inputs)
x = layers.Reshape((2, 2, 16))(x)
x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(
                    keras.losses.binary_crossentropy(data, reconstruction),
                    axis=(1, 2),
                )
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


# was: (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
rng = np.random.default_rng(0)
digits = np.zeros((256, 8, 8, 1), dtype="float32")
for i, c in enumerate(rng.integers(1, 7, size=256)):
    digits[i, 1:7, c, 0] = 1.0

vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01))
history = vae.fit(digits, epochs=8, batch_size=32, verbose=0)
print({k: [round(v, 3) for v in vals] for k, vals in history.history.items()})
assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


# The KL term through add_loss, and the built-in fit (Keras' functional-API VAE idiom)
class KLDivergenceLayer(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(0.01 * kl)
        return inputs


inputs = keras.Input(shape=(64,))
h = layers.Dense(16, activation="relu")(inputs)
zm = layers.Dense(latent_dim)(h)
zlv = layers.Dense(latent_dim)(h)
zm, zlv = KLDivergenceLayer()([zm, zlv])
zz = Sampling()([zm, zlv])
outputs = layers.Dense(64, activation="sigmoid")(layers.Dense(16, activation="relu")(zz))
vae2 = keras.Model(inputs, outputs)
vae2.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
flat = digits.reshape(len(digits), 64)
h2 = vae2.fit(flat, flat, epochs=8, batch_size=32, verbose=0)
print("add_loss VAE", [round(v, 4) for v in h2.history["loss"]])
assert h2.history["loss"][-1] < 0.8 * h2.history["loss"][0]
assert len(vae2.losses) == 1  # the KL term of the last call
print("vae_train_step ok")
