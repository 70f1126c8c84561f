"""An LSTM that reads MNIST images row by row (28 steps of 28 pixels): >= 97 % test accuracy.

Trains on the 22,699 real MNIST training images in ../shared/data/mnist (beside the
project checkout) and reports accuracy on the official 10,000 test images.

    python examples/lstm_digits_rows.py [--data DIR] [--epochs N]
"""
import argparse
import os
import time

import numpy as np

import ember
from ember.layers import LSTM, Dense

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ../shared/data/mnist beside the checkout (one level further up for a git worktree)
_CANDIDATES = [os.path.join(REPO, *([".."] * k), "shared", "data", "mnist") for k in (1, 2)]
DEFAULT_DATA = next((os.path.normpath(p) for p in _CANDIDATES if os.path.isdir(p)), os.path.normpath(_CANDIDATES[0]))


def load(data_dir: str):
    """Real MNIST from its IDX files via ember's loader; pixels scaled to [0, 1]."""
    (x_tr, y_tr), (x_te, y_te) = ember.datasets.mnist.load_data(data_dir)
    return (x_tr.astype(np.float32) / 255.0, y_tr.astype(np.int64),
            x_te.astype(np.float32) / 255.0, y_te.astype(np.int64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with the MNIST IDX files")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--units", type=int, default=128)
    args = ap.parse_args()
    ember.set_seed(0)
    x_tr, y_tr, x_te, y_te = load(args.data)
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
        h = model.fit(x_tr, y_tr, epochs=1, batch_size=args.batch_size, verbose=0)
        loss, acc = model.evaluate(x_te, y_te, batch_size=500, verbose=0)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {h.history['loss'][-1]:.4f} "
              f"acc {h.history['accuracy'][-1]:.4f} | test loss {loss:.4f} acc {acc:.4f} "
              f"| {time.perf_counter() - t0:.0f} s", flush=True)
    loss, acc = model.evaluate(x_te, y_te, batch_size=500, verbose=0)
    print(f"test accuracy: {acc * 100:.2f} % on {len(x_te)} images ({time.perf_counter() - t0:.0f} s training)")


if __name__ == "__main__":
    main()
