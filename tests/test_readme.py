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


def _two_commands():
    text = README.read_text()
    m = re.search(r"## The two commands\n.*?```bash\n(.*?)```", text, re.S)
    assert m, "README has no '## The two commands' bash block"
    return [l.split("#")[0].strip() for l in m.group(1).splitlines() if l.split("#")[0].strip()]


@pytest.mark.skipif(not README.exists(), reason="README.md not beside the tests (installed copy)")
def test_two_commands_are_what_ci_runs():
    """Exactly two commands; the second installs exactly the [test] extras (named, so that pip
    does not build ember again); .ci/run runs both verbatim."""
    cmds = _two_commands()
    assert len(cmds) == 2, cmds
    assert cmds[0].startswith("pip install . && python examples/mnist_cnn.py"), cmds[0]
    root = README.parent
    pyproject = (root / "pyproject.toml").read_text()
    extras = re.search(r"^test = \[(.*?)\]", pyproject, re.M).group(1)
    names = sorted(re.split(r"[<>=!~ ]", s.strip().strip('"'))[0] for s in extras.split(","))
    m = re.fullmatch(r"pip install ([\w\- ]+) && python -m pytest tests -q", cmds[1])
    assert m and sorted(m.group(1).split()) == names, (cmds[1], names)
    ci = (root / ".ci" / "run").read_text()
    for c in cmds:
        assert f"time ({c})" in ci, c
