"""Every Keras program in tests/keras_programs/ (written from Keras 3's guides and examples,
changed only in their imports: ``import ember as keras``, ``from ember import layers``, and
in their data, made small) runs to the end on ember, each in its own process, within a
time limit, and prints its final line ``<program name> ok`` after checking what it
learned."""
import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_programs")
PROGRAMS = sorted(f for f in os.listdir(HERE) if f.endswith(".py"))


def test_the_folder_holds_the_programs():
    assert len(PROGRAMS) >= 8, PROGRAMS


@pytest.mark.parametrize("name", PROGRAMS)
def test_keras_program_runs(name):
    env = dict(os.environ, PYTHONWARNINGS="default")
    res = subprocess.run([sys.executable, os.path.join(HERE, name)], capture_output=True, text=True,
                         timeout=180, cwd=HERE, env=env)
    assert res.returncode == 0, f"{name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    lines = res.stdout.strip().splitlines()
    want = f"{name[:-3]} ok"
    assert lines and lines[-1].strip() == want, f"{name}: last line {lines[-1:]!r}, expected {want!r}"
