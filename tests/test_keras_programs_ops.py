"""The keras.ops programs in tests/keras_programs/ (ops_*.py) run to the end on ember, each
in its own process, and print their results."""
import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_programs")
PROGRAMS = {"ops_regression.py": "ops_regression ok", "ops_classifier.py": "ops_classifier ok",
            "ops_attention.py": "ops_attention ok"}


def test_every_ops_program_is_listed():
    assert sorted(f for f in os.listdir(HERE) if f.startswith("ops_") and f.endswith(".py")) == sorted(PROGRAMS)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_ops_program_runs(name):
    res = subprocess.run([sys.executable, os.path.join(HERE, name)], capture_output=True, text=True,
                         timeout=120, cwd=HERE)
    assert res.returncode == 0, f"{name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    assert PROGRAMS[name] in res.stdout, res.stdout
