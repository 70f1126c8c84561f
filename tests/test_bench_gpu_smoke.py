"""bench/bench_gpu.py runs end to end without a GPU: ``--emulate --tiny`` times every case's
ember side on tiny shapes on the emulated device (the real figures come from a lent GPU,
tools/gpu_check.sh)."""
import os
import shutil
import subprocess
import sys

import pytest

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)
pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench", "bench_gpu.py")


def test_bench_gpu_emulate_tiny_prints_every_case(tmp_path):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k not in ("EMBER_DEVICE", "EMBER_CUDA_EMULATION")}
    r = subprocess.run([sys.executable, BENCH, "--emulate", "--tiny", "--json", str(out)], capture_output=True,
                       text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ember: ember ") and "emulated" in lines[0], r.stdout
    sys.path.insert(0, os.path.dirname(BENCH))
    try:
        import bench_gpu
    finally:
        sys.path.pop(0)
    for case in bench_gpu.CASES:
        row = [ln for ln in lines if ln.split()[:1] == [case]]
        assert len(row) == 1, f"{case} missing from:\n{r.stdout}"
        ember_ms = float(row[0].split("|")[1].split()[0])
        assert ember_ms > 0, row[0]  # a time, not nan: the ember side ran
    import json
    rows = json.loads(out.read_text())
    assert [x["case"] for x in rows] == list(bench_gpu.CASES)
    assert all(not x["errors"] and len(x["ember_times"]) == 1 for x in rows), rows


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_wheelhouse.sh"])
def test_gpu_scripts_parse(script):
    """The lent GPU runs tools/gpu_check.sh once, unattended: a syntax error there costs a
    whole device session, so bash checks it here."""
    r = subprocess.run(["bash", "-n", os.path.join(ROOT, "tools", script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
