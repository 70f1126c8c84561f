"""A 2-layer softmax classifier written with keras.ops (relu, softmax cross-entropy,
one_hot, argmax, top_k ...) and keras.random (shuffle, dropout with a SeedGenerator),
trained with a custom GradientTape loop. Runs on ember with only the imports changed.
About two seconds."""
import ember as keras  # import keras
import ember as tf  # import tensorflow as tf: only tf.GradientTape is used
from ember import ops  # from keras import ops

keras.utils.set_random_seed(1)
num_classes, dim, n = 4, 6, 800

# Gaussian blobs around random centres, labels as int32
centres = keras.random.normal((num_classes, dim), stddev=2.5, seed=7)
labels = keras.random.randint((n,), 0, num_classes, seed=8)
x = ops.take(centres, labels, axis=0) + keras.random.normal((n, dim), seed=9)
y = ops.one_hot(labels, num_classes)


class MLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(32)
        self.out = keras.layers.Dense(num_classes)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs, training=False):
        h = ops.relu(self.hidden(inputs))
        if training:
            h = keras.random.dropout(h, 0.1, seed=self.seed_generator)
        return self.out(h)


model = MLP()
optimizer = keras.optimizers.Adam(learning_rate=0.01)


def train_step(xb, yb):
    with tf.GradientTape() as tape:
        logits = model(xb, training=True)
        loss = ops.mean(ops.categorical_crossentropy(yb, logits, from_logits=True))
        # the same loss through log_softmax, to check the two agree
        loss2 = -ops.mean(ops.sum(yb * ops.log_softmax(logits, axis=-1), axis=-1))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, loss2


data = ops.concatenate([x, y], axis=1)
for epoch in range(15):
    shuffled = keras.random.shuffle(data, seed=epoch)
    for chunk in ops.split(shuffled, 10):
        xb, yb = chunk[:, :dim], chunk[:, dim:]
        loss, loss2 = train_step(xb, yb)
        assert abs(float(loss) - float(loss2)) < 1e-4

logits = model(x)
probs = ops.softmax(logits)
pred = ops.argmax(probs, axis=-1)
acc = float(ops.mean(ops.cast(ops.equal(pred, labels), "float32")))
_, top2 = ops.top_k(logits, 2)
top2_acc = float(ops.mean(ops.cast(ops.any(ops.equal(top2, ops.expand_dims(labels, -1)), axis=-1), "float32")))
print(f"loss={float(loss):.4f} accuracy={acc:.3f} top2={top2_acc:.3f}")
assert acc > 0.9, acc
assert top2_acc >= acc
print("ops_classifier ok")
