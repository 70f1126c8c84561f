"""Run under ``mpiexec -n N``: data-parallel training must equal one process's.

Every rank builds the same models; rank 0 also trains each one alone (distribute=False)
as the reference. Rank 0 writes a JSON report to argv[1]: per case, the largest weight
difference, the largest history difference and the largest predict difference.
Small data and an uneven last batch of one row (so some ranks hold no rows of it).
"""
import json
import sys

import numpy as np

import ember
import ember.distributed as dist
from ember.layers import (LSTM, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D,
                          SyncBatchNormalization)


def mlp(dt, sync_bn):
    layers = [Dense(16, activation="relu", input_shape=(10,), dtype=dt, kernel_regularizer="l2")]
    if sync_bn:
        layers += [BatchNormalization(synchronized=True, dtype=dt), Dropout(0.3, dtype=dt)]
    return layers + [Dense(3, activation="softmax", dtype=dt)]


def cnn(dt, sync_bn):
    # the seed CNN of examples/mnist_cnn.py
    layers = [Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1), dtype=dt)]
    if sync_bn:
        layers += [SyncBatchNormalization(dtype=dt)]
    layers += [MaxPooling2D((2, 2), dtype=dt), Flatten(dtype=dt)]
    if sync_bn:
        layers += [Dropout(0.25, dtype=dt)]
    return layers + [Dense(128, activation="relu", dtype=dt), Dense(10, activation="softmax", dtype=dt)]


def rnn(dt, sync_bn):
    # input and recurrent dropout: masks over the batch axis, drawn for the global batch
    return [LSTM(8, dropout=0.2, recurrent_dropout=0.2, input_shape=(5, 3), dtype=dt),
            Dense(3, activation="softmax", dtype=dt)]


def data(kind, dt):
    rng = np.random.default_rng(123)
    if kind == "rnn":
        n, c = 8 * 3 + 1, 3
        x = rng.standard_normal((n, 5, 3))
    elif kind == "mlp":
        n, c = 8 * 6 + 1, 3
        x = rng.standard_normal((n, 10))
    else:
        n, c = 8 * 2 + 1, 10
        x = rng.random((n, 28, 28, 1))
    y = np.eye(c)[rng.integers(0, c, n)]
    return x.astype(dt), y.astype(dt)


def build(kind, dt, sync_bn, clip):
    ember.set_seed(7)
    m = ember.Sequential({"mlp": mlp, "cnn": cnn, "rnn": rnn}[kind](dt, sync_bn), dtype=dt)  # data kept in dt
    # a training that converges: a diverging one amplifies the rounding of partial sums
    lr = 0.001 if kind == "cnn" else 0.01
    opt = ember.optimizers.SGD(lr, momentum=0.9, global_clipnorm=0.5 if clip else None)
    m.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy", "mse", "auc"])
    return m


def run(kind, dt, sync_bn, clip, alone):
    x, y = data(kind, dt)
    m = build(kind, dt, sync_bn, clip)
    h = m.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x[:11], y[:11]),
              distribute=False if alone else dist.DataParallel())
    p = m.predict(x, batch_size=5, distribute=False if alone else True)
    return m.get_weights(), h.history, p


def main():
    out = {}
    for kind in ("mlp", "cnn", "rnn"):
        for dt in ("float64", "float32"):
            for sync_bn in ((False, True) if kind != "rnn" else (False,)):
                clip = kind == "mlp" and not sync_bn
                name = f"{kind}-{dt}" + ("-syncbn-dropout" if sync_bn else "") + ("-clip" if clip else "") \
                    + ("-dropout" if kind == "rnn" else "")
                ref = run(kind, dt, sync_bn, clip, alone=True) if dist.rank() == 0 else None
                got = run(kind, dt, sync_bn, clip, alone=False)
                if ref is None:
                    continue
                # weights above 1 in magnitude (BN's moving variance) compared relatively
                wdiff = max(float(np.max(np.abs(a.astype(np.float64) - b) / np.maximum(1.0, np.abs(a))))
                            for a, b in zip(ref[0], got[0]))
                hdiff = max(abs(a - b) / max(1.0, abs(a)) for k in ref[1] for a, b in zip(ref[1][k], got[1][k]))
                pdiff = float(np.max(np.abs(ref[2].astype(np.float64) - got[2])))
                out[name] = {"weights": wdiff, "loss": got[1]["loss"][-1], "history": hdiff, "predict": pdiff,
                             "keys": sorted(ref[1]) == sorted(got[1]), "epochs": len(got[1]["loss"])}
    if dist.rank() == 0:
        with open(sys.argv[1], "w") as f:
            json.dump({"size": dist.size(), "cases": out}, f)


if __name__ == "__main__":
    main()
