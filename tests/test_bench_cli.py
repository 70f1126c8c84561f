"""``python -m ember.bench``: the worker protocol, the table and the chart."""
import json
import subprocess
import sys

import pytest

import ember

from ember.bench import __main__ as cli
from ember.bench.suites import CASES, case_name


def test_worker_times_every_ember_case():
    r = subprocess.run([sys.executable, "-m", "ember.bench", "--worker", "ember", "--quick", "--reps", "1",
                        "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads([l for l in r.stdout.splitlines() if l.startswith("RESULT ")][0][7:])
    assert res.pop("__version__") == ember.__version__
    assert sorted(res) == sorted(case_name(c[0], True) for c in CASES)
    assert "matmul float32 512x512" in res and all(v > 0 for v in res.values())


def _meds():
    names = [case_name(c[0], True) for c in CASES]
    return {names[0]: {"ember": 2.0, "numpy": 4.0, "torch": 1.0}, names[1]: {"ember": 10.0, "numpy": 30.0},
            names[3]: {"ember": 5.0}}


def test_table_medians_and_ratios():
    rows = cli._table(_meds(), ["ember", "numpy", "torch"], quick=True)
    assert rows[0].split() == ["case", "ember", "ms", "numpy", "ms", "torch", "ms", "numpy/ember", "torch/ember"]
    first = rows[2].split()
    assert first[-5:] == ["2.00", "4.00", "1.00", "2.00", "0.50"]
    assert rows[3].split()[-5:] == ["10.00", "30.00", "-", "3.00", "-"]
    assert rows[4].split()[-5:] == ["-", "-", "-", "-", "-"]  # a case no library ran


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot draws with matplotlib (optional)")
    cli.plot(_meds(), ["ember", "numpy", "torch"], str(tmp_path / "b.png"), "test", quick=True)
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(RuntimeError, match="nothing to draw"):
        cli.plot({"x": {"ember": 1.0}}, ["ember", "numpy"], str(tmp_path / "c.png"), "t", quick=True)
