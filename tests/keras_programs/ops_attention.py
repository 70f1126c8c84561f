"""A one-head causal self-attention model written with keras.ops (arange positions,
einsum scores, a triangular mask, softmax, sparse cross-entropy) learns to output the
previous token of a random sequence, trained in a custom GradientTape loop. The
TokenAndPositionEmbedding idiom of Keras' Transformer examples. Runs on ember with only
the imports changed. A few seconds."""
import numpy as np

import ember as keras  # import keras
import ember as tf  # import tensorflow as tf: only tf.GradientTape is used
from ember import layers  # from keras import layers
from ember import ops  # from keras import ops

keras.utils.set_random_seed(3)
vocab, maxlen, dim = 8, 6, 32


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        return self.token_emb(x) + self.pos_emb(positions)


class CausalAttentionModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = TokenAndPositionEmbedding(maxlen, vocab, dim)
        self.q = layers.Dense(dim)
        self.k = layers.Dense(dim)
        self.v = layers.Dense(dim)
        self.out = layers.Dense(vocab)

    def call(self, x):
        h = self.embed(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        scores = ops.einsum("btd,bsd->bts", q, k) / ops.sqrt(ops.cast(dim, "float32"))
        n = ops.shape(x)[1]
        i = ops.arange(n)[:, None]
        j = ops.arange(n)
        causal = ops.greater_equal(i, j)  # query t sees keys s <= t
        scores = ops.where(causal[None, :, :], scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        return self.out(ops.einsum("bts,bsd->btd", weights, v) + h)


def batch(n, seed):
    tokens = keras.random.randint((n, maxlen), 1, vocab, seed=seed)
    target = ops.concatenate([ops.zeros((n, 1), dtype="int32"), tokens[:, :-1]], axis=1)  # the previous token
    return tokens, target


model = CausalAttentionModel()
optimizer = keras.optimizers.Adam(learning_rate=0.01)
gen = keras.random.SeedGenerator(0)
for step in range(200):
    x, y = batch(32, gen)
    with tf.GradientTape() as tape:
        logits = model(x)
        loss = ops.mean(ops.sparse_categorical_crossentropy(y, logits, from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

x, y = batch(256, 123)
pred = ops.argmax(model(x), axis=-1)
acc = float(ops.mean(ops.cast(ops.equal(pred, y), "float32")))
print(f"loss={float(loss):.4f} previous-token accuracy={acc:.3f}")
assert np.isfinite(float(loss))
assert acc > 0.95, acc
print("ops_attention ok")
