"""ember.distributed: the API in one process (size 1, with or without mpi4py), and real
``mpiexec -n 2`` / ``-n 3`` jobs showing that N ranks train exactly as one process.

The MPI tests skip (with the reason) only when mpi4py or mpiexec is missing; CI installs
both (``.ci/run``: mpi4py and the mpich wheel)."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.distributed as dist
from ember import _shard
from ember import random as erandom
from ember.layers import BatchNormalization, Dense, Dropout, SyncBatchNormalization

PROGRAMS = Path(__file__).parent / "mpi_programs"


# -- one process -----------------------------------------------------------------------

def test_single_process_api():
    assert dist.rank() == 0 and dist.size() == 1 and dist.local_rank() == 0 and dist.local_size() == 1
    dist.barrier()
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(dist.allreduce(a, op="sum"), a)
    np.testing.assert_array_equal(dist.allreduce(a), a)
    assert dist.allreduce(3, op="max") == 3
    np.testing.assert_array_equal(dist.broadcast(a), a)
    assert dist.broadcast({"k": 1}) == {"k": 1}
    w = ember.Tensor(np.ones(3))
    dist.broadcast_variables([w])
    np.testing.assert_array_equal(w.data, np.ones(3))


def test_api_errors():
    with pytest.raises(ValueError, match="op must be one of"):
        dist.allreduce(np.ones(2), op="prod")
    with pytest.raises(TypeError, match="expected numbers"):
        dist.allreduce(np.array(["a"]))
    with pytest.raises(ValueError, match="root must be a rank"):
        dist.broadcast(np.ones(2), root=3)
    with pytest.raises(TypeError, match="distribute must be"):
        ember.Sequential([Dense(1, input_shape=(2,))]).predict(np.ones((2, 2)), distribute="yes")
    with pytest.raises(TypeError, match="set_distribution"):
        dist.set_distribution("data")


def test_batch_draw_keeps_this_ranks_rows_of_the_global_draw():
    full = np.random.default_rng(5).random((10, 3), dtype=np.float32)
    rng = np.random.default_rng(5)
    prev = _shard.set_current(_shard.Shard(10, 3, 6, False, lambda a: a))
    try:
        part = erandom.batch_draw(rng, "random", (3, 3))
        other = erandom.batch_draw(rng, "random", (4, 3))  # not this shard's rows: drawn as asked
    finally:
        _shard.set_current(prev)
    np.testing.assert_array_equal(part, full[3:6])
    ref = np.random.default_rng(5)
    ref.random((10, 3), dtype=np.float32)
    np.testing.assert_array_equal(other, ref.random((4, 3), dtype=np.float32))


def _sync_bn_vs_kernel(dt, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dt) * 3 + 1
    g = rng.standard_normal(shape).astype(dt)
    out = []
    for sync in (False, True):
        bn = BatchNormalization(synchronized=True, dtype=dt, momentum=0.5)
        xt = ember.Tensor(x.copy(), requires_grad=True)
        bn.build(shape)
        bn.gamma.data[...] = np.linspace(0.5, 2, shape[-1]).astype(dt)
        prev = _shard.set_current(_shard.Shard(shape[0], 0, shape[0], False, lambda a: a) if sync else None)
        try:
            y = bn(xt, training=True)
            grads = ember.grad((y * ember.Tensor(g)).sum(), [xt, bn.gamma, bn.beta])
        finally:
            _shard.set_current(prev)
        out.append([y.data] + [np.asarray(getattr(a, "data", a)) for a in grads]
                   + [bn.moving_mean.data.copy(), bn.moving_variance.data.copy()])
    return out


@pytest.mark.parametrize("dt,tol", [("float64", 1e-13), ("float32", 1e-5)])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 4, 6)])
def test_sync_batch_norm_equals_the_kernel_on_one_rank(dt, tol, shape):
    ref, got = _sync_bn_vs_kernel(dt, shape)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


def test_sync_batch_norm_layer_spellings():
    bn = SyncBatchNormalization()
    assert bn.synchronized and bn.get_config()["synchronized"] is True
    assert "synchronized" not in BatchNormalization().get_config()
    assert BatchNormalization.from_config(bn.get_config()).synchronized


def _model(dt="float64", heads=1):
    ember.set_seed(3)
    inp = ember.Input((6,), dtype=dt)
    h = Dense(8, activation="relu", dtype=dt, kernel_regularizer="l2")(inp)
    h = SyncBatchNormalization(dtype=dt)(h)
    h = Dropout(0.3, dtype=dt)(h)
    outs = [Dense(3, activation="softmax", dtype=dt, name=f"out{i}")(h) for i in range(heads)]
    return ember.Model(inp, outs if heads > 1 else outs[0])


def test_fit_distribute_on_one_rank_equals_plain_fit():
    """The data-parallel path (shares of the global loss, one packed reduction, metric
    states) run on one rank, with two outputs, loss weights, sample weights and a loss
    with a data-dependent divisor (ignore_class)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((29, 6))
    y0 = rng.integers(0, 3, 29)
    y1 = np.eye(3)[rng.integers(0, 3, 29)]
    sw = rng.random(29)
    runs = []
    for distribute in (False, True):
        m = _model(heads=2)
        m.compile(optimizer=ember.optimizers.SGD(0.1, momentum=0.9),
                  loss=[ember.losses.SparseCategoricalCrossentropy(ignore_class=1), "categorical_crossentropy"],
                  loss_weights=[0.7, 1.3], metrics=[["accuracy"], ["mse", "auc"]])
        h = m.fit(x, [y0, y1], sample_weight=sw, batch_size=8, epochs=3, verbose=0, distribute=distribute,
                  validation_data=(x[:9], [y0[:9], y1[:9]]))
        runs.append((m.get_weights(), h.history, m.predict(x, distribute=distribute),
                     m.evaluate(x, [y0, y1], verbose=0, distribute=distribute)))
    (w0, h0, p0, e0), (w1, h1, p1, e1) = runs
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    assert sorted(h0) == sorted(h1)
    for k in h0:
        np.testing.assert_allclose(h1[k], h0[k], rtol=1e-12, atol=1e-13)
    for a, b in zip(p0, p1):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(e1, e0, rtol=1e-12)


def test_set_distribution_is_used_by_fit():
    x = np.random.default_rng(1).standard_normal((10, 6))
    y = np.eye(3)[np.arange(10) % 3]
    m = _model()
    m.compile(optimizer="sgd", loss="categorical_crossentropy")
    dist.set_distribution(dist.DataParallel())
    try:
        assert isinstance(dist.distribution(), dist.DataParallel)
        calls = []
        orig = dist.DataParallel._train_step

        def spy(self, *a):
            calls.append(1)
            return orig(self, *a)
        dist.DataParallel._train_step = spy
        try:
            m.fit(x, y, batch_size=4, epochs=1, verbose=0)
            assert len(calls) == 3
            m.fit(x, y, batch_size=4, epochs=1, verbose=0, distribute=False)
            assert len(calls) == 3
        finally:
            dist.DataParallel._train_step = orig
    finally:
        dist.set_distribution(None)
    assert dist.distribution() is None


def test_distributed_optimizer_steps_like_its_optimizer():
    v1, v2 = ember.Tensor(np.ones(4), requires_grad=True), ember.Tensor(np.ones(4), requires_grad=True)
    g = np.array([0.5, -1.0, 2.0, 0.0])
    plain = ember.optimizers.Adam(0.1, global_clipnorm=1.0)
    wrapped = dist.DistributedOptimizer(ember.optimizers.Adam(0.1, global_clipnorm=1.0))
    for _ in range(3):
        plain.apply_gradients([(g, v1)])
        wrapped.apply_gradients([(g, v2)])
    np.testing.assert_array_equal(v1.data, v2.data)
    assert wrapped.iterations == 3
    wrapped.learning_rate = 0.5
    assert wrapped.optimizer.learning_rate == 0.5
    m = ember.Sequential([Dense(1, input_shape=(2,))])
    m.compile(optimizer=wrapped, loss="mse")  # compile accepts the wrapper
    m.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0,
          callbacks=[dist.callbacks.BroadcastGlobalVariablesCallback(0)])
    with pytest.raises(ValueError, match="op must be"):
        dist.DistributedOptimizer("sgd", op="max")


def test_without_mpi4py_the_job_is_one_process():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import numpy as np, ember, ember.distributed as d\n"
            "from ember.distributed import _comm\n"
            "assert d.size() == 1 and d.rank() == 0 and _comm.mpi() is None\n"
            "m = ember.Sequential([ember.layers.Dense(2, input_shape=(3,)), ember.layers.Dropout(0.5),"
            " ember.layers.Dense(1)])\n"
            "m.compile(optimizer=d.DistributedOptimizer('sgd'), loss='mse', metrics=['mae'])\n"
            "h = m.fit(np.ones((5, 3)), np.ones((5, 1)), batch_size=2, epochs=2, verbose=0, distribute=True)\n"
            "assert m.predict(np.ones((3, 3)), distribute=True).shape == (3, 1)\n"
            "print('ok', d.allreduce(np.ones(2), op='sum').tolist())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok [1.0, 1.0]"


# -- real MPI jobs ---------------------------------------------------------------------

def _mpiexec():
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install mpi4py mpich, or ember[mpi] with the site's MPI)")
    beside = Path(sys.executable).parent / "mpiexec"
    exe = str(beside) if beside.exists() else shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec on PATH or beside the Python interpreter (pip install mpich)")
    return exe


def _run(n, program, *args, timeout=120, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [_mpiexec(), *extra, "-n", str(n), sys.executable, str(PROGRAMS / program), *map(str, args)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.perf_counter() - t0


@pytest.mark.parametrize("n", [2, 3])
def test_n_ranks_train_as_one(n, tmp_path):
    out = tmp_path / "report.json"
    proc, _ = _run(n, "dp_equal.py", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["size"] == n
    cases = report["cases"]
    assert len(cases) == 10
    for name, c in cases.items():
        tol = 1e-12 if "float64" in name else 1e-6
        assert c["keys"] and c["epochs"] == 3, name
        assert c["weights"] <= tol, (name, c)
        assert c["history"] <= tol, (name, c)  # every loss, metric and val_ entry per epoch
        assert c["predict"] <= tol, (name, c)


def test_a_raising_rank_aborts_the_job():
    proc, seconds = _run(2, "abort_on_raise.py", timeout=60)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr
    assert "rank 0 finished" not in proc.stdout
    assert seconds < 10


def test_only_rank_zero_prints_and_writes_files(tmp_path):
    proc, _ = _run(2, "rank0_io.py", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in (tmp_path / "rank0").iterdir()) == ["ckpt.weights.h5", "log.csv"]
    assert list((tmp_path / "rank1").iterdir()) == []
    rank0 = (tmp_path / "stdout0.txt").read_text().splitlines()
    rank1 = (tmp_path / "stdout1.txt").read_text().splitlines()
    assert any(l.startswith("Epoch 1/5") for l in rank0), rank0
    assert rank1 == ["RESULT rank=1 epochs=2 max=2 min=2 verbose_restored=1"], rank1


def test_ranks_with_different_data_sizes_get_a_clear_error():
    proc, seconds = _run(2, "uneven_data.py", timeout=60)
    assert proc.returncode != 0 and seconds < 10
    assert "the ranks hold different numbers of samples (from 10 to 11)" in proc.stderr


MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def test_mnist_cnn_example_runs_on_two_ranks():
    """examples/mnist_cnn.py, unchanged but for --distribute, on 2 ranks (one epoch, ~5 s)."""
    if not (MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found at {MNIST} (the repo's ../shared/data/mnist)")
    example = Path(__file__).resolve().parents[1] / "examples" / "mnist_cnn.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", EMBER_DATASETS=str(MNIST.parent))
    proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(example), "--distribute", "--epochs", "1",
                           "--min-accuracy", "0.9"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(l.startswith("Epoch 1/1") for l in lines) == 1  # rank 0 only
    acc = float(next(l for l in lines if l.startswith("test accuracy")).split()[2])
    assert acc > 90.0, lines


def test_horovod_style_custom_data_keeps_ranks_in_step():
    proc, _ = _run(2, "horovod_style.py", timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # by pattern, not by line: mpiexec may interleave the two ranks' output mid-line
    spreads = [float(v) for v in re.findall(r"SPREAD ([-+0-9.e]+)", proc.stdout)]
    assert spreads == [0.0, 0.0]
