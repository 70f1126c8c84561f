"""The layer-API Keras program in tests/keras_programs/ (layers_*.py) runs to the end on
ember in its own process."""
import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_programs")
PROGRAMS = {"layers_subclassing.py": "layers_subclassing ok"}


def test_every_layers_program_is_listed():
    assert sorted(f for f in os.listdir(HERE) if f.startswith("layers_") and f.endswith(".py")) == sorted(PROGRAMS)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_layers_program_runs(name):
    res = subprocess.run([sys.executable, os.path.join(HERE, name)], capture_output=True, text=True,
                         timeout=120, cwd=HERE)
    assert res.returncode == 0, f"{name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    assert PROGRAMS[name] in res.stdout, res.stdout
