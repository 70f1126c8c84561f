"""The README's example must run as written (keeps the README true)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(not README.exists(), reason="README.md not beside the tests (installed copy)")
def test_readme_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python example"
    ns = {}
    exec(compile(blocks[0], str(README), "exec"), ns)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "[0. 1. 1. 0.]" in out  # the example's XOR predictions
