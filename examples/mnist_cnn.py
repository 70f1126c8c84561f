"""The first CNN of every tutorial, on real MNIST, unchanged from Keras but for the imports.

    python examples/mnist_cnn.py                  # data in ../shared/data/mnist beside the repo
    python examples/mnist_cnn.py --data DIR --epochs 5 --threads 2
    mpiexec -n 2 python examples/mnist_cnn.py --distribute   # data-parallel on 2 ranks (MPI)

Trains on the training images present (the shared file holds the first 22,699), reports
the per-epoch time and the accuracy on the official 10,000 test images.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import ember
from ember.datasets import mnist
from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "mnist"),
                    help="folder with the MNIST IDX files (default: ../shared/data/mnist beside the repo)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--distribute", action="store_true", help="data-parallel over the ranks of an MPI job")
    args = ap.parse_args()
    if args.distribute:  # fit / evaluate / predict on every rank; only rank 0 prints
        ember.distributed.set_distribution(ember.distributed.DataParallel())
        sys.stdout = sys.stdout if ember.distributed.rank() == 0 else open(os.devnull, "w")
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.set_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = mnist.load_data(args.data)
    x_train = (x_train.astype("float32") / 255.0)[..., None]
    x_test = (x_test.astype("float32") / 255.0)[..., None]
    y_train_1h = np.eye(10, dtype="float32")[y_train]
    y_test_1h = np.eye(10, dtype="float32")[y_test]
    print(f"train {x_train.shape}, test {x_test.shape}, threads {ember.get_num_threads()}")

    model = ember.Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        hist = model.fit(x_train, y_train_1h, batch_size=args.batch_size, epochs=1, verbose=0)
        dt = time.perf_counter() - t0
        loss = hist.history["loss"][-1]
        print(f"epoch {epoch + 1}/{args.epochs}: {dt:.2f} s, loss {loss:.4f}")
    probs = model.predict(x_test, batch_size=1000, verbose=0)
    acc = float(np.mean(np.argmax(np.asarray(probs), axis=1) == y_test))
    test_loss = model.evaluate(x_test, y_test_1h, batch_size=1000, verbose=0)
    print(f"test accuracy {acc * 100:.2f} % (evaluate: {test_loss})")


if __name__ == "__main__":
    main()
