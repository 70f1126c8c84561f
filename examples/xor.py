"""XOR with a 2-8-1 MLP: trains to 100 % accuracy in a second.

    python examples/xor.py
"""
import numpy as np

import ember
from ember.layers import Dense

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
history = model.fit(x, y, epochs=300, batch_size=4, verbose=0)

pred = model.predict(x)
for inp, p in zip(x, pred[:, 0]):
    print(f"{inp.astype(int).tolist()} -> {p:.4f} ({int(p > 0.5)})")
loss, acc = model.evaluate(x, y, verbose=0)
print(f"final loss {loss:.4f}, accuracy {acc * 100:.0f} %")
