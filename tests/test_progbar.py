"""Progress display: the redrawn bar with ETA and time per step on a terminal (driven
through a pseudo-terminal in a subprocess), one clean line per epoch anywhere else."""
import io
import os
import pty
import re
import subprocess
import sys
import time

import pytest

from ember.utils.progbar import Progbar, format_eta, format_logs, format_time_per_unit

SCRIPT = r"""
import time
import numpy as np
import ember
from ember.layers import Dense
ember.set_seed(0)

class Slow(ember.callbacks.Callback):  # a step long enough for the bar to be redrawn mid-epoch
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.02)

x = np.random.default_rng(0).normal(size=(640, 4)).astype("float32")
y = (x[:, :1] > 0).astype("float32")
m = ember.Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
m.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=1, callbacks=[Slow()])
print("EVALUATE")
m.evaluate(x, y, batch_size=32, verbose=1)
print("PREDICT")
m.predict(x, batch_size=32, verbose=1)
print("DONE")
"""

STEP_LINE = re.compile(r"20/20 - \d+s - \d+(?:us|ms|s)/step")


def _script(epochs: int) -> str:
    return SCRIPT.replace("EPOCHS", str(epochs))


def _run_in_pty(code: str, timeout: float = 60.0) -> str:
    """Run ``python -c code`` with stdout and stderr on a pseudo-terminal; all it wrote."""
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONIOENCODING="utf-8", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                            env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        rc = proc.wait(timeout=timeout)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert rc == 0, out
    return out


def test_terminal_bar_with_eta_and_final_line():
    out = _run_in_pty(_script(2))
    fit_part, rest = out.split("EVALUATE")
    eval_part, pred_part = rest.split("PREDICT")
    bar = r"[━─=.]{20}"
    logs = r"(?: - (?:accuracy|loss): [\d.]+){2}"
    # while running: "k/20 <bar> <eta> <time>/step - accuracy: ... - loss: ..." redrawn after a \r
    running = re.findall(r"\r\s*(\d+)/20 " + bar + r" (\d+s|\d+:\d\d) \d+(?:us|ms|s)/step" + logs,
                         fit_part)
    assert running and any(int(k) < 20 for k, _ in running), fit_part
    # the final line of each epoch: the full bar, the elapsed time, the time per step, the logs
    finals = re.findall(r"20/20 [━=]{20} \d+s \d+(?:us|ms|s)/step" + logs + r" *\r?\n", fit_part)
    assert len(finals) == 2, fit_part
    assert "Epoch 1/2" in fit_part and "Epoch 2/2" in fit_part
    assert re.search(r"20/20 [━=]{20} \d+s \d+(?:us|ms|s)/step" + logs + r" *\r?\n", eval_part), eval_part
    assert re.search(r"20/20 [━=]{20} \d+s \d+(?:us|ms|s)/step *\r?\n", pred_part), pred_part
    assert re.search(r"━+─+ ", fit_part)  # a partly filled bar was drawn
    assert pred_part.strip().endswith("DONE")


def test_one_line_per_epoch_without_terminal():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _script(3)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "\r" not in out and "\b" not in out and "\x1b" not in out
    fit_part = out.split("EVALUATE")[0]
    lines = [l for l in fit_part.splitlines() if l]
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"], lines
    assert len(lines) == 6 and all(STEP_LINE.match(l) and "- accuracy: " in l and "- loss: " in l
                                   for l in lines[1::2]), lines
    eval_lines = [l for l in out.split("EVALUATE")[1].split("PREDICT")[0].splitlines() if l]
    assert len(eval_lines) == 1 and STEP_LINE.match(eval_lines[0]) and "loss: " in eval_lines[0]
    pred_lines = [l for l in out.split("PREDICT")[1].splitlines() if l]
    assert len(pred_lines) == 2 and STEP_LINE.fullmatch(pred_lines[0]) and pred_lines[1] == "DONE"


def test_formats_as_keras():
    assert format_time_per_unit(2.4) == "2s/step" and format_time_per_unit(0.0213) == "21ms/step"
    assert format_time_per_unit(0.00085, "sample") == "850us/sample" and format_time_per_unit(0) == "0s/step"
    assert format_eta(7.9) == "7s" and format_eta(125) == "2:05" and format_eta(3725) == "1:02:05"
    assert format_logs({"loss": 0.123456, "accuracy": 1.0}) == "loss: 0.1235 - accuracy: 1.0000"
    assert format_logs({"loss": 0.00012345}) == "loss: 1.2345e-04"


def test_progbar_interactive_stream_and_eta():
    class Tty(io.StringIO):
        encoding = "ascii"  # cannot encode Keras' bar character: falls back to = and .

        def isatty(self):
            return True

    s = Tty()
    bar = Progbar(4, verbose=1, stream=s, interval=0.0)
    calls = []
    for k in range(1, 4):
        time.sleep(0.01)
        bar.update(k, lambda: calls.append(k) or {"loss": 1.0 / k})
    bar.finish({"loss": 0.25})
    out = s.getvalue()
    assert calls == [1, 2, 3]  # logs computed only when drawn
    assert re.search(r"\r2/4 =====+\.{5,} \d+s \d+ms/step - loss: 0\.5000", out), out
    assert out.endswith("\n") and re.search(r"\r4/4 ={20} \d+s \d+ms/step - loss: 0\.2500 *\n$", out), out
    quiet = io.StringIO()
    bar = Progbar(4, verbose=1, stream=quiet)
    bar.update(2, lambda: pytest.fail("logs computed for a stream that is not a terminal"))
    bar.add(1, [("loss", 0.5)])  # Keras' form: (name, value) pairs
    bar.finish({"loss": 0.5})
    assert re.fullmatch(r"4/4 - \d+s - \d+(us|ms|s)/step - loss: 0\.5000\n", quiet.getvalue())


def test_adapt_draws_a_bar_on_a_terminal_only():
    code = ("import numpy as np, ember\n"
            "n = ember.layers.Normalization()\n"
            "n.adapt(np.arange(600, dtype='float32').reshape(300, 2), batch_size=10)\n"
            "print('MEAN', n.mean.numpy().ravel().tolist())\n")
    out = _run_in_pty(code)
    assert re.search(r"30/30 [━=]{20} \d+s \d+(?:us|ms|s)/batch *\r?\n", out), out
    assert "MEAN [299.0, 300.0]" in out
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout == "MEAN [299.0, 300.0]\n", res.stdout + res.stderr
