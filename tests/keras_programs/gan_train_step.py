"""Keras guide "Customizing what happens in fit()", part "Wrapping up: an end-to-end GAN
example": a model with two optimizers passed to its own compile, its own metrics and a
train_step that trains the discriminator and then the generator. The data: 8x8 "digits"
(a bright bar) instead of MNIST, and a smaller network, so that it runs in seconds."""
import numpy as np
import ember as keras  # was: import keras
import ember as tf  # was: import tensorflow as tf
from ember import layers  # was: from keras import layers
from ember import ops  # was: from keras import ops

# Create the discriminator
discriminator = keras.Sequential(
    [
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ],
    name="discriminator",
)

# Create the generator
latent_dim = 16
generator = keras.Sequential(
    [
        keras.Input(shape=(latent_dim,)),
        # We want to generate 32 coefficients to reshape into a 2x2x8 map
        layers.Dense(2 * 2 * 8),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((2, 2, 8)),
        layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
    ],
    name="generator",
)


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1337)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        # Sample random points in the latent space
        batch_size = ops.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )

        # Decode them to fake images
        generated_images = self.generator(random_latent_vectors)

        # Combine them with real images
        combined_images = ops.concatenate([generated_images, real_images], axis=0)

        # Assemble labels discriminating real from fake images
        labels = ops.concatenate(
            [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
        )
        # Add random noise to the labels - important trick!
        labels += 0.05 * keras.random.uniform(
            ops.shape(labels), seed=self.seed_generator
        )

        # Train the discriminator
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(
            zip(grads, self.discriminator.trainable_weights)
        )

        # Sample random points in the latent space
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )

        # Assemble labels that say "all real images"
        misleading_labels = ops.zeros((batch_size, 1))

        # Train the generator (note that we should *not* update the weights
        # of the discriminator)!
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        # Update metrics and return their value.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {
            "d_loss": self.d_loss_tracker.result(),
            "g_loss": self.g_loss_tracker.result(),
        }


# Prepare the dataset: "digits" that are a bright vertical bar at a random column
rng = np.random.default_rng(0)
all_digits = np.zeros((512, 8, 8, 1), dtype="float32")
for i, c in enumerate(rng.integers(1, 7, size=512)):
    all_digits[i, 1:7, c, 0] = 1.0
batch_size = 64


# was: tf.data.Dataset.from_tensor_slices(all_digits).shuffle(1024).batch(batch_size)
class Digits(keras.utils.PyDataset):
    def __init__(self, images, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.images, self.batch_size = images, batch_size

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, idx):
        return self.images[idx * self.batch_size:(idx + 1) * self.batch_size]


dataset = Digits(all_digits, batch_size, workers=2)

gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
gan.compile(
    d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
)

d_before = [w.numpy().copy() for w in discriminator.trainable_weights]
g_before = [w.numpy().copy() for w in generator.trainable_weights]
history = gan.fit(dataset, epochs=3, verbose=0)
print({k: [round(v, 4) for v in vals] for k, vals in history.history.items()})
assert set(history.history) == {"d_loss", "g_loss"}
assert all(np.isfinite(v) for vals in history.history.values() for v in vals)
assert all((a != w.numpy()).any() for a, w in zip(d_before, discriminator.trainable_weights))
assert all((a != w.numpy()).any() for a, w in zip(g_before, generator.trainable_weights))
print("gan_train_step ok")
