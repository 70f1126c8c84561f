"""The cases of ``python -m ember.bench`` and their implementation in each library. A
worker process imports one library only and times every case with ``med``; the same
shapes and the same float32 data for all."""
from typing import Callable, Dict, List, Tuple

import numpy as np

from . import reference
from ._timing import med

# name -> (kind, quick size, full size); "{n}" in a name is the size of the run
CASES: List[Tuple[str, str, tuple, tuple]] = [
    ("matmul float32 {n}x{n}", "matmul", (512,), (1024,)),
    ("conv2d 3x3 f+b 128x28x28x1->32", "conv", (128, 28, 28, 1, 32), (128, 28, 28, 1, 32)),
    ("softmax xent f+b 4096x1000", "xent", (4096, 1000), (4096, 1000)),
    ("seed CNN train step, batch 128", "cnn", (128,), (128,)),
]


def _data(kind: str, size: tuple):
    rng = np.random.default_rng(0)
    if kind == "matmul":
        n = size[0]
        return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    if kind == "conv":
        n, h, w, c, oc = size
        return (rng.standard_normal((n, h, w, c), dtype=np.float32),
                rng.standard_normal((3, 3, c, oc), dtype=np.float32) * 0.1)
    if kind == "xent":
        n, c = size
        return rng.standard_normal((n, c), dtype=np.float32) * 3, rng.integers(0, c, n)
    n = size[0]
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def ember_case(kind: str, size: tuple, threads: int) -> Callable[[], object]:
    import ember
    import ember.functional as F
    from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
    ember.set_num_threads(threads)
    a, b = _data(kind, size)
    if kind == "matmul":
        return lambda: ember._C.gemm(a, b)
    if kind == "conv":
        x, w = ember.Tensor(a), ember.Tensor(b, requires_grad=True)

        def conv():
            F.relu(F.conv2d(x, w)).sum().backward()
            w.grad = None
        return conv
    if kind == "xent":
        t = ember.Tensor(a, requires_grad=True)

        def xent():
            F.sparse_softmax_cross_entropy(t, b).sum().backward()
            t.grad = None
        return xent
    m = ember.Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(), Flatten(),
                          Dense(128, activation="relu"), Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return lambda: m.train_on_batch(a, b)


def numpy_case(kind: str, size: tuple, threads: int):
    a, b = _data(kind, size)
    if kind == "matmul":
        out = np.empty_like(a)
        return lambda: np.matmul(a, b, out=out)
    if kind == "conv":
        def conv():
            col, y = reference.conv3x3(a, b, 0)
            return reference.conv3x3_backward(a, b, col, (y > 0).astype(np.float32), 0)
        return conv
    if kind == "xent":
        return lambda: reference.softmax_xent(a, b)
    return None  # NumPy has no autograd: no training step to compare


def torch_case(kind: str, size: tuple, threads: int):
    import torch
    torch.set_num_threads(threads)
    a, b = _data(kind, size)
    if kind == "matmul":
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return lambda: torch.matmul(ta, tb)
    if kind == "conv":
        x = torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
        w = torch.from_numpy(b).permute(3, 2, 0, 1).contiguous().requires_grad_(True)

        def conv():
            torch.relu(torch.nn.functional.conv2d(x, w)).sum().backward()
            w.grad = None
        return conv
    if kind == "xent":
        t, lab = torch.from_numpy(a).requires_grad_(True), torch.from_numpy(b)

        def xent():
            torch.nn.functional.cross_entropy(t, lab, reduction="sum").backward()
            t.grad = None
        return xent
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 128),
                        nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.from_numpy(a).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(b)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return step


def tensorflow_case(kind: str, size: tuple, threads: int):
    import tensorflow as tf
    a, b = _data(kind, size)
    if kind == "matmul":
        ta, tb = tf.constant(a), tf.constant(b)
        return lambda: tf.linalg.matmul(ta, tb).numpy()
    if kind == "conv":
        x, w = tf.constant(a), tf.Variable(b)

        @tf.function
        def conv():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, w, 1, "VALID")))
            return tape.gradient(loss, w)
        return lambda: conv().numpy()
    if kind == "xent":
        t, lab = tf.Variable(a), tf.constant(b)

        @tf.function
        def xent():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(lab, t))
            return tape.gradient(loss, t)
        return lambda: xent().numpy()
    import keras
    from keras import layers
    m = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                          layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return lambda: m.train_on_batch(a, b)


LIBRARIES: Dict[str, Callable] = {"ember": ember_case, "numpy": numpy_case, "torch": torch_case,
                                  "tensorflow": tensorflow_case}


def run_worker(lib: str, quick: bool, threads: int, reps: int) -> Dict[str, float]:
    """Median ms of every case this library implements (run inside the worker process), and
    the library's version under ``__version__``."""
    out = {"__version__": __import__(lib).__version__}
    for name, kind, qsize, fsize in CASES:
        fn = LIBRARIES[lib](kind, qsize if quick else fsize, threads)
        if fn is not None:
            fn()  # first call: graph tracing, allocations
            out[case_name(name, quick)] = med(fn, reps)
    return out


def case_name(name: str, quick: bool) -> str:
    """The case's name with its size for this run (quick or full)."""
    for n, _, qsize, fsize in CASES:
        if n == name:
            return name.format(n=(qsize if quick else fsize)[0])
    raise KeyError(name)
