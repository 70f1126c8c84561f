"""bench/bench_gpu.py runs end to end: its ember side on tiny shapes against the emulated
CUDA backend (the real figures come from a lent GPU, tools/gpu_check.sh)."""
import importlib.util
import os
import shutil

import pytest

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)
pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_gpu_ember_side_runs_emulated(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_gpu", os.path.join(ROOT, "bench", "bench_gpu.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setenv("EMBER_CUDA_EMULATION", "1")
    monkeypatch.setenv("BENCH_GPU_SMALL", "1")
    monkeypatch.setenv("BENCH_GPU_SAMPLES", "128")
    rows = mod.main(["--reps", "1", "--rounds", "1", "--timeout", "300"])
    assert [r["case"] for r in rows] == list(mod.CASES)
    for r in rows:
        assert "ember" not in r["errors"], r["errors"]
        assert r["ember_ms"] > 0 and len(r["ember_times"]) == 1
    assert "seed CNN epoch" in capsys.readouterr().out
