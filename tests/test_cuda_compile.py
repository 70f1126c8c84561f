"""Every CUDA source of ember compiles for the GPUs it targets, without a GPU.

* NVRTC (what CuPy's RawModule runs at first use) with exactly ``runtime.OPTIONS`` plus the
  options CuPy adds (-arch, -ftz=true), for sm_80 and sm_90, through CuPy's private
  ``_NVRTCProgram`` (the public API asks the absent device for its arch): any warning fails;
* nvcc with ``-Werror all-warnings`` for the same archs;
* the conventions the emulator and the determinism rule rely on: no atomics, no warp
  intrinsics, no raw ``extern __shared__``, no host headers.
The package's kernels/*.cu are picked up automatically, beside tests/cuda_src/*.cu (test-only
kernels exercising the same patterns).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ember.backend.cuda import runtime

ARCHS = ("sm_80", "sm_90")
TEST_SRC = Path(__file__).parent / "cuda_src"
SOURCES = sorted(runtime.KERNELS_DIR.glob("*.cu")) + sorted(TEST_SRC.glob("*.cu"))
HEADERS = sorted(runtime.KERNELS_DIR.glob("*.cuh"))


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


def _nvrtc():
    try:
        from cupy.cuda import compiler
    except Exception as e:  # ImportError, or a CuPy that cannot load NVRTC
        pytest.skip(f"CuPy with NVRTC is not installed (pip install \"ember[cuda]\"): {e}")
    if not hasattr(compiler, "_NVRTCProgram"):
        pytest.skip("this CuPy has no cupy.cuda.compiler._NVRTCProgram (private API; the cuda "
                    "extra pins a CuPy version that has it)")
    return compiler


def test_sources_found():
    assert (runtime.KERNELS_DIR / "common.cuh").is_file()
    assert any(p.parent == TEST_SRC for p in SOURCES)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("path", SOURCES, ids=_id)
def test_nvrtc_compiles(path, arch):
    compiler = _nvrtc()
    code = runtime.inline_source(path)
    log = io.StringIO()
    try:
        prog = compiler._NVRTCProgram(code, path.name, method="cubin")
        cubin, _ = prog.compile(runtime.OPTIONS + (f"-arch={arch}", "-ftz=true"), log)
    except compiler.CompileException as e:
        pytest.fail(f"NVRTC ({arch}) rejected {path.name}:\n{e}")
    except Exception as e:  # NVRTC library missing (nvidia-cuda-nvrtc not installed)
        if "nvrtc" in f"{type(e).__name__} {e}".lower() and "compil" not in str(e).lower():
            pytest.skip(f"NVRTC is not loadable: {e}")
        raise
    assert cubin, "NVRTC returned an empty cubin"
    assert "warning" not in log.getvalue().lower(), log.getvalue()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("path", SOURCES, ids=_id)
def test_nvcc_compiles(path, arch, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    cmd = [nvcc, "-cubin", f"--gpu-architecture={arch}", "-std=c++17",
           f"-I{runtime.KERNELS_DIR}", "-Werror", "all-warnings",
           "-o", str(tmp_path / "out.cubin"), str(path)]
    # nvcc is not ember's code: keep a sanitizer runtime preloaded for ember's tests
    # (tools/asan_tests.sh) out of it (it segfaults under the preloaded ASan runtime)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"


def _code(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


FORBIDDEN = {
    r"\batomic\w*\s*\(": "atomics (results must not depend on thread timing)",
    r"\b__shfl\w*|\b__ballot\w*|\b__any_sync\b|\b__all_sync\b|\b__activemask\b"
    r"|\b__match\w*_sync\b|\b__reduce\w*_sync\b": "warp intrinsics (not emulated)",
    r"cooperative_groups|\bthis_grid\b|\bthis_thread_block\b": "cooperative groups",
    r"\b__ldg\s*\(": "__ldg (no emulation; const __restrict__ gives the same loads)",
    r"\bextern\s+__shared__": "raw extern __shared__ (use EMBER_DYNAMIC_SHARED)",
    r"#\s*include\s*<": "host/system headers (NVRTC has none)",
    r"\bINFINITY\b|\bNAN\b|\bFLT_MAX\b|\bDBL_MAX\b": "host macros (use ember_inf<T>() ...)",
}


@pytest.mark.parametrize("path", SOURCES + HEADERS, ids=_id)
def test_kernel_conventions(path):
    code = _code(path)
    if path.name == "common.cuh":  # the one place that declares the dynamic shared array
        code = code.replace("extern __shared__", "")
    for pattern, what in FORBIDDEN.items():
        m = re.search(pattern, code)
        assert m is None, f"{path.name} uses {what}: {m.group(0)!r}"
    if path.suffix == ".cu":
        assert re.search(r'^\s*#\s*include\s*"common.cuh"', code, re.M), \
            f"{path.name} must #include \"common.cuh\""


def test_conventions_check_catches_violations(tmp_path):
    bad = {"atomicAdd(p, 1.0f);": "atomics", "v = __shfl_down_sync(m, v, 1);": "warp",
           "extern __shared__ float s[];": "extern __shared__", "#include <cmath>": "headers",
           "x = INFINITY;": "host macros"}
    for snippet, what in bad.items():
        p = tmp_path / "bad.cu"
        p.write_text(f'#include "common.cuh"\n{snippet}\n')
        with pytest.raises(AssertionError, match=what):
            test_kernel_conventions(p)


def test_nvrtc_rejects_host_macro():
    """The NVRTC check is real: INFINITY (a host macro) is an error under NVRTC."""
    compiler = _nvrtc()
    code = 'extern "C" __global__ void k(float* x) { x[0] = INFINITY; }'
    with pytest.raises(compiler.CompileException, match="INFINITY"):
        compiler._NVRTCProgram(code, "k.cu", method="cubin").compile(
            runtime.OPTIONS + ("-arch=sm_90",))


def test_source_inlines_common_header():
    code = runtime.inline_source(TEST_SRC / "emu_selftest.cu")
    assert '#include "common.cuh"' not in code
    assert "ember_inf" in code and '#line 1 "common.cuh"' in code
