"""The CUDA emulator (g++ + cuda_emu.h) and the emulated device arrays (EmuArray, fakecupy).

Kernels: the test-only tests/cuda_src/emu_selftest.cu against NumPy on odd sizes, with results
(bit for bit) independent of the grid size, and of the block size where the kernel's order
of operations does not depend on it. Argument checks, launch-configuration checks, the
divergent-barrier report, compile errors and the on-disk cache. EmuArray: every refusal of an
implicit host conversion, and the explicit transfers.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from ember.backend.cuda import runtime
from ember.backend.cuda.emu import EmuArray, EmuCompileError, EmuLaunchError, EmuModule
from ember.backend.cuda.emu import fakecupy as cp

if sys.platform != "linux":
    pytest.skip("the CUDA emulator is built for Linux (g++, mmap)", allow_module_level=True)

SRC = Path(__file__).parent / "cuda_src" / "emu_selftest.cu"
OPTIONS = runtime.OPTIONS


@pytest.fixture(scope="module")
def mod():
    return EmuModule(runtime.inline_source(SRC), options=OPTIONS, name="emu_selftest")


@pytest.fixture(scope="module")
def mod_ucontext():
    """The portable (ucontext) fiber switch, used on non-x86-64 hosts."""
    return EmuModule(runtime.inline_source(SRC), options=OPTIONS + ("-DEMBER_EMU_UCONTEXT",),
                     name="emu_selftest_ucontext")


SIZES = (1, 7, 255, 256, 257, 1031)
LAUNCHES = ((1, 1), (1, 32), (3, 64), (5, 96), (64, 256), (1000, 1024))


# ---- kernels against NumPy ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype,suffix", [(np.float32, "f32"), (np.float64, "f64")])
@pytest.mark.parametrize("n", SIZES)
def test_axpy_matches_numpy_for_any_launch(mod, dtype, suffix, n):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    alpha = dtype(0.75)
    want = alpha * x + y
    for grid, block in LAUNCHES:
        dy = cp.asarray(y)
        mod.get_function(f"axpy_{suffix}")(grid, block, (np.int64(n), alpha, cp.asarray(x), dy))
        np.testing.assert_array_equal(dy.get(), want, err_msg=f"grid {grid} block {block}")


@pytest.mark.parametrize("dtype,suffix,tol", [(np.float32, "f32", 1e-5), (np.float64, "f64", 1e-12)])
@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 301), (13, 1024), (3, 1500)])
def test_row_sum_tree_reduction(mod, dtype, suffix, tol, rows, cols):
    a = np.random.default_rng(rows * cols).standard_normal((rows, cols)).astype(dtype)
    da = cp.asarray(a)
    fn = mod.get_function(f"row_sum_{suffix}")
    for block in (1, 32, 128, 1024):
        by_grid = []
        for grid in (1, 2, rows, rows + 5):
            out = cp.empty(rows, dtype=dtype)
            fn(grid, block, (da, out, np.int32(rows), np.int32(cols)))
            by_grid.append(out.get())
        for r in by_grid[1:]:  # grid-size independent, bit for bit
            np.testing.assert_array_equal(r, by_grid[0])
        np.testing.assert_allclose(by_grid[0], a.astype(np.float64).sum(1), rtol=tol, atol=tol * cols)


@pytest.mark.parametrize("dtype,suffix", [(np.float32, "f32"), (np.float64, "f64")])
def test_row_max_dynamic_shared_nan_inf(mod, dtype, suffix):
    rows, cols = 6, 37
    a = np.random.default_rng(0).standard_normal((rows, cols)).astype(dtype)
    a[1, 5] = np.nan
    a[2, :] = -np.inf
    a[3, 36] = np.inf
    a[4, 0] = np.nan
    want = a.max(axis=1)
    fn = mod.get_function(f"row_max_{suffix}")
    for grid, block in ((1, 1), (2, 8), (6, 64), (9, 256)):
        out = cp.empty(rows, dtype=dtype)
        fn(grid, block, (cp.asarray(a), out, np.int32(rows), np.int32(cols)),
           shared_mem=block * a.itemsize)
        np.testing.assert_array_equal(out.get(), want)


def test_two_dimensional_launch(mod):
    rows, cols = 19, 11
    a = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    want = a.T + np.arange(cols, dtype=np.float32)[:, None]
    for block in ((4, 4), (16, 8), (1, 32), (32, 1, 1)):
        grid = ((rows + block[0] - 1) // block[0], (cols + block[1] - 1) // block[1])
        out = cp.zeros((cols, rows), dtype=np.float32)
        mod.get_function("transpose_plus_row_f32")(grid, block, (cp.asarray(a), out, np.int32(rows),
                                                                 np.int32(cols)))
        np.testing.assert_array_equal(out.get(), want)


def test_special_values(mod):
    x = np.array([0.0, -np.inf, np.inf, np.nan, 1.0, 800.0, -1e-320])
    out = cp.empty(7)
    mod.get_function("exp_or_nan_f64")(2, 3, (np.int64(7), cp.asarray(x), np.float64(700.0), out))
    with np.errstate(over="ignore"):
        want = np.where(x > 700.0, np.nan, np.exp(x))  # inf > limit: NaN by the kernel's rule
    np.testing.assert_array_equal(out.get(), want)


def test_ucontext_switch_matches(mod, mod_ucontext):
    a = np.random.default_rng(1).standard_normal((5, 333))
    outs = []
    for m in (mod, mod_ucontext):
        out = cp.empty(5)
        m.get_function("row_sum_f64")(3, 128, (cp.asarray(a), out, np.int32(5), np.int32(333)))
        outs.append(out.get())
    np.testing.assert_array_equal(outs[0], outs[1])
    with pytest.raises(EmuLaunchError, match="__syncthreads"):
        mod_ucontext.get_function("divergent_barrier_f32")(1, 8, (cp.zeros(5, np.float32), np.int32(5)))


def test_divergent_barrier_is_an_error_and_module_recovers(mod):
    x = cp.zeros(5, dtype=np.float32)
    with pytest.raises(EmuLaunchError, match=r"reached by 5 of 8 threads of block \(0, 0, 0\)"):
        mod.get_function("divergent_barrier_f32")(1, 8, (x, np.int32(5)))
    # a full block is fine, and the abandoned fibers do not disturb later launches
    mod.get_function("divergent_barrier_f32")(1, 8, (cp.zeros(8, np.float32), np.int32(8)))
    test_row_sum_tree_reduction(mod, np.float64, "f64", 1e-12, 7, 301)


def test_concurrent_launches_are_serialised(mod):
    a = np.random.default_rng(2).standard_normal((40, 500))
    want = None
    results, errors = [], []

    def work():
        try:
            out = cp.empty(40)
            mod.get_function("row_sum_f64")(7, 64, (cp.asarray(a), out, np.int32(40), np.int32(500)))
            results.append(out.get())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    want = results[0]
    for r in results:
        np.testing.assert_array_equal(r, want)


# ---- argument and launch checks -----------------------------------------------------------------
def _axpy_args(n=4, dtype=np.float32):
    return (np.int64(n), dtype(1), cp.zeros(n, dtype), cp.zeros(n, dtype))


@pytest.mark.parametrize("args,match", [
    ((np.int64(4), np.float32(1), np.zeros(4, np.float32), cp.zeros(4, np.float32)),
     r"parameter const float\* x: expected a device array of float32. Received: a host NumPy array"),
    ((np.int64(4), np.float32(1), cp.zeros(4, np.float64), cp.zeros(4, np.float32)),
     r"const float\* x: expected a device array of float32. Received: an array of float64"),
    ((4, np.float32(1), cp.zeros(4, np.float32), cp.zeros(4, np.float32)),
     r"long long n: expected a numpy.int64 scalar .* Received: int 4"),
    ((np.int32(4), np.float32(1), cp.zeros(4, np.float32), cp.zeros(4, np.float32)),
     r"long long n: expected a numpy.int64 scalar"),
    ((np.int64(4), 1.0, cp.zeros(4, np.float32), cp.zeros(4, np.float32)),
     r"float alpha: expected a numpy.float32 scalar"),
    ((np.int64(4), np.float64(1), cp.zeros(4, np.float32), cp.zeros(4, np.float32)),
     r"float alpha: expected a numpy.float32 scalar"),
    ((np.int64(4), np.float32(1), cp.zeros((4, 2), np.float32)[:, 0], cp.zeros(4, np.float32)),
     r"must be C-contiguous"),
    ((np.int64(4), np.float32(1), cp.zeros(4, np.float32), cp.broadcast_to(cp.zeros(4, np.float32), (4,))),
     r"float\* y: .*read-only"),
    ((np.int64(4), np.float32(1), cp.zeros(4, np.float32)), r"takes 4 arguments"),
    ([np.int64(4), np.float32(1), cp.zeros(4, np.float32), cp.zeros(4, np.float32)],
     r"args must be a tuple"),
])
def test_kernel_argument_errors(mod, args, match):
    with pytest.raises(TypeError, match=f"kernel axpy_f32.*{match}|{match}"):
        mod.get_function("axpy_f32")(1, 32, args)


@pytest.mark.parametrize("grid,block,shared,match", [
    (0, 32, 0, "grid"), (1, 0, 0, "block"), (1, 1025, 0, "block"), (1, (32, 33), 0, "1024 threads"),
    (1, (1, 1, 65), 0, "block"), ((1, 65536), 1, 0, "grid"), (1, 32, 48 * 1024 + 1, "shared_mem"),
    ((1, 2, 3, 4), 1, 0, "grid"), (1.5, 1, 0, "grid"),
])
def test_launch_configuration_errors(mod, grid, block, shared, match):
    with pytest.raises(EmuLaunchError, match=match):
        mod.get_function("axpy_f32")(grid, block, _axpy_args(), shared_mem=shared)


def test_unknown_kernel(mod):
    with pytest.raises(RuntimeError, match="no kernel 'axpy_f16'"):
        mod.get_function("axpy_f16")


def test_compile_error_carries_gxx_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code = '#include "common.cuh"\nextern "C" __global__ void broken(float* x) { x[0] = undefined_name; }\n'
    with pytest.raises(EmuCompileError, match=r"(?s)'broken_mod'.*undefined_name.*not declared"):
        EmuModule(code, options=OPTIONS, name="broken_mod")
    assert not list((tmp_path / "ember" / "cuda-emu").glob("*.so"))
    with pytest.raises(EmuCompileError, match="no extern"):
        EmuModule("int x;", options=OPTIONS)
    with pytest.raises(EmuCompileError, match="cannot parse parameter"):
        EmuModule('extern "C" __global__ void k(float** x) {}', options=OPTIONS)
    with pytest.raises(EmuCompileError, match="type the emulator does not pass"):
        EmuModule('extern "C" __global__ void k(short x) {}', options=OPTIONS)


_TINY = '#include "common.cuh"\nextern "C" __global__ void fill_f32(float* x, long long n, float v) { EMBER_GRID_STRIDE(i, n) x[i] = v; }\n'


def test_cache_reuse_and_parallel_builds(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    script = ("import numpy as np; from ember.backend.cuda import runtime; "
              "from ember.backend.cuda.emu import EmuModule, fakecupy as cp; "
              f"m = EmuModule({_TINY!r}, options=runtime.OPTIONS, name='tiny'); "
              "x = cp.empty(9, np.float32); m.get_function('fill_f32')(2, 4, (x, np.int64(9), np.float32(3))); "
              "assert (x.get() == 3).all()")
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    libs = list((tmp_path / "ember" / "cuda-emu").glob("tiny-*.so"))
    assert len(libs) == 1
    assert not list((tmp_path / "ember" / "cuda-emu").glob(".build-*"))
    mtime = libs[0].stat().st_mtime_ns
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 0
    assert libs[0].stat().st_mtime_ns == mtime  # reused, not rebuilt
    # a different source is a different entry
    script2 = script.replace("x[i] = v", "x[i] = v + 0.0f").replace("== 3", "== 3")
    assert subprocess.run([sys.executable, "-c", script2], env=env).returncode == 0
    assert len(list((tmp_path / "ember" / "cuda-emu").glob("tiny-*.so"))) == 2


# ---- EmuArray: refusals -----------------------------------------------------------------------
def _dev():
    return cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))


IMPLICIT = "Implicit conversion to a NumPy array is not allowed"


@pytest.mark.parametrize("action", [
    lambda d, h: np.asarray(d),
    lambda d, h: np.array(d),
    lambda d, h: np.ascontiguousarray(d),
    lambda d, h: d + h,
    lambda d, h: h + d,
    lambda d, h: d * h,
    lambda d, h: h @ d.T,
    lambda d, h: d == h,
    lambda d, h: np.add(h, d),
    lambda d, h: np.concatenate([h, d]),
    lambda d, h: np.copyto(h, d),
    lambda d, h: cp.exp(h),
    lambda d, h: cp.add(d, h),
    lambda d, h: cp.concatenate([d, h]),
    lambda d, h: cp.where(d > 0, h, d),
    lambda d, h: cp.zeros_like(h),
    lambda d, h: cp.ascontiguousarray(h),
    lambda d, h: cp.matmul(d, h.T),
    lambda d, h: d.__setitem__((0,), h[0]),
    lambda d, h: d.__setitem__(slice(None), [1.0, 2.0, 3.0]),
    lambda d, h: d[np.array([0, 1])],
    lambda d, h: d[[0, 1]],
    lambda d, h: d.tolist(),
    lambda d, h: d.tobytes(),
    lambda d, h: d.__iadd__(h),
], ids=lambda f: "")
def test_implicit_conversion_refused(action):
    d, h = _dev(), np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match=IMPLICIT):
        action(d, h)


@pytest.mark.parametrize("fn", [float, int, complex])
def test_scalar_conversion_of_arrays_refused(fn):
    with pytest.raises(TypeError, match="only 0-d arrays"):
        fn(cp.ones(1, np.float32))
    with pytest.raises(TypeError, match="only 0-d arrays"):
        fn(_dev())
    assert fn(cp.ones((), np.float32)) == fn(1.0)


def test_bool_and_index():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(_dev())
    with pytest.raises(TypeError, match="only 0-d"):
        bool(cp.ones(1))
    assert bool(cp.asarray(np.float32(2.0))) is True
    with pytest.raises(TypeError, match="0-d integer"):
        [1, 2][cp.ones((), np.float32)]
    assert [1, 2][cp.asarray(np.int64(1))] == 2


@pytest.mark.parametrize("name", ["errstate", "insert", "spacing", "geomspace", "frombuffer",
                                  "fromfile", "load", "matrix", "__foo__"])
def test_names_cupy_lacks_are_absent(name):
    """fakecupy exposes only CuPy's names: code that passes in emulation runs on CuPy."""
    with pytest.raises(AttributeError):
        getattr(cp, name)
    assert callable(cp.exp) and cp.float32 is np.float32 and cp.newaxis is None
    with pytest.raises(AttributeError):
        cp.linalg.multi_dot
    assert cp.asanyarray(np.ones(2)).get().tolist() == [1.0, 1.0]
    d = cp.ones(3)
    with pytest.raises(TypeError):
        np.insert(d, 0, 1.0)  # NumPy function CuPy lacks: no implementation for device arrays
    with pytest.raises(TypeError):
        np.spacing(d)


def test_not_a_numpy_array():
    d = _dev()
    assert not isinstance(d, np.ndarray)
    with pytest.raises(AttributeError, match="no attribute 'tostring'"):
        d.tostring()
    assert cp.get_array_module(d) is cp and cp.get_array_module(np.ones(2)) is np
    assert cp.ndarray is EmuArray


# ---- EmuArray: what works ----------------------------------------------------------------------
def test_explicit_transfers_copy():
    h = np.arange(4, dtype=np.float64)
    d = cp.asarray(h)
    h[0] = 99.0  # the device copy is independent of the host array
    assert d.get()[0] == 0.0 and isinstance(d.get(), np.ndarray)
    g = d.get()
    g[1] = -1.0
    assert float(d[1]) == 1.0
    assert cp.asarray(d) is d and cp.asarray(d, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(cp.asnumpy(d), [0, 1, 2, 3])
    d.set(np.full(4, 7.0))
    np.testing.assert_array_equal(cp.asnumpy(d), 7.0)
    out = np.empty(4)
    assert d.get(out=out) is out
    assert cp.array([1, 2, 3], dtype=np.int32).dtype == np.int32


def test_operators_and_functions_stay_on_device():
    a = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    d = cp.asarray(a)
    checks = {
        "add": (d + 1, a + 1), "radd": (2 * d, 2 * a), "np.exp": (np.exp(d), np.exp(a)),
        "cp.exp": (cp.exp(d), np.exp(a)), "matmul": (d @ d.T, a @ a.T),
        "sum": (d.sum(axis=1), a.sum(axis=1)), "cp.sum": (cp.sum(d), a.sum()),
        "np.sum": (np.sum(d), a.sum()), "max": (d.max(), a.max()),
        "where": (cp.where(d > 0, d, 0), np.where(a > 0, a, 0)),
        "concat": (cp.concatenate([d, d], axis=0), np.concatenate([a, a])),
        "einsum": (cp.einsum("ij,kj->ik", d, d), np.einsum("ij,kj->ik", a, a)),
        "reshape": (d.reshape(4, 3), a.reshape(4, 3)), "T": (d.T, a.T),
        "astype": (d.astype(np.float64), a.astype(np.float64)), "neg": (-d, -a),
        "cmp": (d >= 0, a >= 0), "getitem": (d[1:, ::2], a[1:, ::2]),
        "maximum.reduce": (cp.maximum.reduce(d, axis=0), np.maximum.reduce(a, axis=0)),
        "linalg.norm": (cp.linalg.norm(d), np.linalg.norm(a)),
        "argmax": (d.argmax(axis=1), a.argmax(axis=1)),
    }
    for name, (got, want) in checks.items():
        assert isinstance(got, EmuArray), name
        np.testing.assert_allclose(got.get(), want, rtol=1e-6, err_msg=name)
    assert cp.sum(d).ndim == 0  # reductions are 0-d device arrays, as CuPy's
    out = cp.empty((3, 4), np.float32)
    assert cp.multiply(d, 2, out=out) is out
    np.testing.assert_array_equal(out.get(), a * 2)


def test_views_share_memory_with_kernels(mod):
    d = cp.zeros((2, 8), np.float32)
    row = d[1]  # a contiguous view
    mod.get_function("axpy_f32")(1, 4, (np.int64(8), np.float32(2), cp.ones(8, np.float32), row))
    np.testing.assert_array_equal(d.get(), np.vstack([np.zeros(8), np.full(8, 2.0)]))
    d += 1
    d[0, :3] = cp.full(3, 5.0, np.float32)
    d[1, 0] = np.float32(-1)
    assert d.get()[0, :4].tolist() == [5, 5, 5, 1] and d.get()[1, 0] == -1


def test_empty_is_visibly_uninitialised():
    assert np.isnan(cp.empty(5).get()).all()
    assert np.isnan(cp.empty_like(cp.zeros(3, np.float32)).get()).all()
    assert (cp.empty(3, np.int32).get() == -1).all()
    assert np.isnan(EmuArray((2, 2), np.float32).get()).all()


def test_random_is_seeded():
    cp.random.seed(5)
    a = cp.random.rand(4)
    cp.random.seed(5)
    b = cp.random.rand(4)
    assert isinstance(a, EmuArray)
    np.testing.assert_array_equal(a.get(), b.get())
    g1, g2 = cp.random.default_rng(7), cp.random.default_rng(7)
    np.testing.assert_array_equal(g1.standard_normal(3, dtype=np.float32).get(),
                                  g2.standard_normal(3, dtype=np.float32).get())
    ember_rng = np.random.default_rng(11)  # a host generator seeds device draws, as with CuPy
    with pytest.raises(TypeError, match="draw an integer seed"):
        cp.random.default_rng(ember_rng)
    seed = int(ember_rng.integers(2**63))
    np.testing.assert_array_equal(cp.random.default_rng(seed).random(2).get(),
                                  cp.random.default_rng(seed).random(2).get())
    with pytest.raises(AttributeError, match="Generator"):
        cp.random.Generator


def test_copy_and_pickle():
    import pickle
    d = _dev()
    for c in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        assert isinstance(c, EmuArray)
        np.testing.assert_array_equal(c.get(), d.get())
        c[0, 0] = 42
        assert float(d[0, 0]) == 0.0


def test_cuda_stubs_and_runtime_switch(monkeypatch):
    with cp.cuda.Stream() as s:
        s.synchronize()
    e1, e2 = cp.cuda.Event(), cp.cuda.Event()
    e1.record()
    e2.record()
    assert cp.cuda.get_elapsed_time(e1, e2) >= 0
    buf = np.frombuffer(cp.cuda.alloc_pinned_memory(16), np.float32, 4)
    assert buf.shape == (4,)
    monkeypatch.setattr(runtime, "_emulation", None)
    monkeypatch.setenv("EMBER_CUDA_EMULATION", "1")
    assert runtime.emulating() and runtime.xp() is cp
    runtime.use_emulation(False)
    assert not runtime.emulating()
    with runtime.emulation():
        assert runtime.emulating()
        with runtime.emulation(False):
            assert not runtime.emulating()
        assert runtime.emulating()
    assert not runtime.emulating()
    with pytest.raises(TypeError):
        runtime.use_emulation("yes")


def test_runtime_kernel_lookup(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_emulation", True)
    with pytest.raises(ValueError, match="no CUDA kernel family 'nope'"):
        runtime.kernel("nope", "k")
    families = sorted(p.stem for p in runtime.KERNELS_DIR.glob("*.cu"))
    for fam in families:  # every shipped family builds in emulation
        mod = runtime.module(fam)
        assert mod.kernel_names
        name = mod.kernel_names[0]
        assert runtime.kernel(fam, name) is runtime.kernel(fam, name)


def test_blocks_for():
    assert runtime.blocks_for(0) == 1 and runtime.blocks_for(1) == 1
    assert runtime.blocks_for(257) == 2 and runtime.blocks_for(257, 128) == 3
    assert runtime.blocks_for(10**9) == runtime.MAX_BLOCKS


def test_is_available_message():
    reason = runtime.unavailable_reason()
    assert runtime.is_available() == (reason is None)
    if reason is not None:
        assert "CuPy" in reason


def test_out_of_bounds_write_is_caught(mod):
    fn = mod.get_function("off_by_one_f32")
    for alloc in (cp.empty, cp.zeros, lambda n: cp.asarray(np.zeros(n, np.float32)),
                  lambda n: cp.zeros_like(cp.ones(n, np.float32)), lambda n: cp.full(n, 2.0, np.float32)):
        x = alloc(7) if alloc not in (cp.empty, cp.zeros) else alloc(7, np.float32)
        with pytest.raises(EmuLaunchError, match=r"off_by_one_f32 .*wrote outside parameter float\* x: "
                                                 r"bytes after the end"):
            fn(1, 32, (x, np.int32(7)))
        fn(1, 32, (x, np.int32(6)))  # guards restored, a correct launch passes
        assert (x.get() == 1).all()
    assert all(cp.empty(n, np.float64).data.ptr % 16 == 0 for n in (1, 3, 17))
    whole = cp.zeros((3, 7), np.float32)
    with pytest.raises(EmuLaunchError, match="bytes after the end"):  # through a view
        fn(1, 32, (whole[2], np.int32(7)))
    fn(1, 32, (whole[1], np.int32(7)))  # a row in the middle: the next row, not a guard
    with pytest.raises(EmuLaunchError, match="bytes after the end"):
        fn(1, 32, (whole.reshape(-1), np.int32(21)))
