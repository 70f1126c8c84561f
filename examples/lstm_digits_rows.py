"""An LSTM that reads MNIST images row by row (28 steps of 28 pixels): >= 97 % test accuracy.

Data from ``ember.datasets.mnist.load_data()`` (``$EMBER_DATASETS/mnist``, ``./data/mnist``,
the cache, else a download); reports accuracy on the official 10,000 test images.
About 70 s on 2 cores (8 epochs; `--epochs 2` for a 20-second run), 98.4 % test accuracy.

    python examples/lstm_digits_rows.py [--epochs 8] [--steps N]
"""
import argparse
import sys
import time

import numpy as np

import ember
from ember.layers import LSTM, Dense

def load():
    """Real MNIST via ember's Keras-style loader; pixels scaled to [0, 1]."""
    try:
        (x_tr, y_tr), (x_te, y_te) = ember.datasets.mnist.load_data()
    except FileNotFoundError as e:  # no data and no network: the message says what to do
        sys.exit(str(e))
    return (x_tr.astype(np.float32) / 255.0, y_tr.astype(np.int64),
            x_te.astype(np.float32) / 255.0, y_te.astype(np.int64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None, help="batches per epoch (default: the whole training set)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--units", type=int, default=128)
    args = ap.parse_args()
    ember.set_seed(0)
    x_tr, y_tr, x_te, y_te = load()
    print(f"train {x_tr.shape}, test {x_te.shape}; each image is 28 time steps of 28 pixels")

    model = ember.Sequential([
        LSTM(args.units, input_shape=(28, 28)),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        if epoch == args.epochs - 2:  # a smaller step for the last epochs
            model.optimizer.learning_rate = 5e-4
        h = model.fit(x_tr, y_tr, epochs=1, batch_size=args.batch_size, steps_per_epoch=args.steps, verbose=0)
        loss, acc = model.evaluate(x_te, y_te, batch_size=500, verbose=0)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {h.history['loss'][-1]:.4f} "
              f"acc {h.history['accuracy'][-1]:.4f} | test loss {loss:.4f} acc {acc:.4f} "
              f"| {time.perf_counter() - t0:.0f} s", flush=True)
    loss, acc = model.evaluate(x_te, y_te, batch_size=500, verbose=0)
    print(f"test accuracy: {acc * 100:.2f} % on {len(x_te)} images ({time.perf_counter() - t0:.0f} s training)")


if __name__ == "__main__":
    main()
