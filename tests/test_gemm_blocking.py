"""The GEMM's cache blocking is derived from the CPU's cache sizes at run time.

EMBER_CACHE_SIZES stands in for another CPU, in a child process (the sizes are read once).
The expected values are the blockings measured best on Zen 3 (32 KiB L1d, 512 KiB L2) and
Zen 5 (48 KiB L1d, 1 MiB L2), see csrc/gemm_avx2.cpp and csrc/gemm_avx512.cpp.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ember import _C

CHILD = ("import json; from ember import _C; out = {}\n"
         "for p in _C.kernel_paths():\n"
         "    _C.set_kernel_path(p); out[p] = [_C.gemm_blocking('float32'), _C.gemm_blocking('float64')]\n"
         "print(json.dumps(out))")


def blocking_for(sizes):
    env = dict(os.environ, EMBER_CACHE_SIZES=sizes)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_blocking_follows_cache_sizes():
    zen3 = blocking_for("32K,512K,32M")
    zen5 = blocking_for("48K,1M,32M")
    small = blocking_for("32K,256K,4M")
    if "avx2" in zen3:
        f3, f5 = zen3["avx2"][0], zen5["avx2"][0]
        assert (f3["mr"], f3["nr"], f3["kc"], f3["mc"], f3["nc"]) == (6, 16, 256, 144, 4080)
        assert (f5["kc"], f5["mc"], f5["nc"]) == (512, 96, 4080)
        s = small["avx2"][0]
        # half the L2: half the A block; a 4 MiB L3 bounds the B block to 1 MiB
        assert (s["kc"], s["mc"]) == (256, 72) and s["nc"] * s["kc"] * 4 <= 1 << 20
    if "avx512" in zen5:
        f5 = zen5["avx512"][0]
        assert (f5["mr"], f5["nr"], f5["kc"], f5["mc"], f5["nc"]) == (8, 32, 256, 144, 4096)
        assert zen3["avx512"][0]["kc"] == 128
    for res in (zen3, zen5, small):
        for path, (f32, f64) in res.items():
            for b, elem in ((f32, 4), (f64, 8)):
                assert b["mc"] % b["mr"] == 0 and b["nc"] % b["nr"] == 0, (path, b)
                if path != "portable":  # the B + A micro-panels fit in L1d
                    assert (b["mr"] + b["nr"]) * b["kc"] * elem <= b["l1d"], (path, b)


@pytest.mark.parametrize("bad", ["", "garbage", "32K,512K", "0,0,0", "-1,2,3"])
def test_malformed_override_falls_back_to_detection(bad):
    env_res = blocking_for(bad)
    plain = json.loads(subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                                      check=True, env={k: v for k, v in os.environ.items()
                                                       if k != "EMBER_CACHE_SIZES"}).stdout)
    assert env_res == plain


@pytest.mark.parametrize("sizes", ["32K,512K,32M", "48K,1M,32M", "32K,256K,4M"])
def test_products_are_right_under_each_blocking(sizes):
    """A product spanning several K, M and N blocks under each blocking, vs float64 NumPy."""
    code = ("import numpy as np, sys; from ember import _C\n"
            "rng = np.random.default_rng(0)\n"
            "for p in _C.kernel_paths():\n"
            "    _C.set_kernel_path(p)\n"
            "    for dt in (np.float32, np.float64):\n"
            "        a = rng.standard_normal((301, 1100)).astype(dt); b = rng.standard_normal((1100, 4133)).astype(dt)\n"
            "        c = _C.gemm(a, b); ref = a.astype(np.float64) @ b.astype(np.float64)\n"
            "        tol = 2e-4 if dt == np.float32 else 1e-11\n"
            "        err = np.abs(c - ref).max() / np.abs(ref).max()\n"
            "        assert err < tol, (p, dt, err)\n")
    env = dict(os.environ, EMBER_CACHE_SIZES=sizes)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def test_gemm_blocking_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gemm_blocking"):
        _C.gemm_blocking("float16")
    with pytest.raises(ValueError, match="gemm_blocking"):
        _C.gemm_blocking("float32", 0)
    b = _C.gemm_blocking("float32", 5)
    assert b["l1d"] > 0 and b["l2"] > 0 and b["l3"] > 0
    assert np.all([b[k] > 0 for k in ("mr", "nr", "mc", "kc", "nc")])
