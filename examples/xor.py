"""XOR with a 2-8-1 MLP: trains to 100 % accuracy in about a second.

    python examples/xor.py [--epochs 300]
"""
import argparse

import numpy as np

import ember
from ember.layers import Dense

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--epochs", type=int, default=300)
args = ap.parse_args()
ember.set_seed(0)
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)

model = ember.Sequential([
    Dense(8, activation="tanh", input_shape=(2,)),
    Dense(1, activation="sigmoid"),
])
model.compile(optimizer=ember.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
              metrics=["accuracy"])
model.summary()
history = model.fit(x, y, epochs=args.epochs, batch_size=4, verbose=0)

pred = model.predict(x)
for inp, p in zip(x, pred[:, 0]):
    print(f"{inp.astype(int).tolist()} -> {p:.4f} ({int(p > 0.5)})")
loss, acc = model.evaluate(x, y, verbose=0)
print(f"final loss {loss:.4f}, accuracy {acc * 100:.0f} %")
