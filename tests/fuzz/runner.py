"""Runs fuzz cases in a child process and tallies them in the parent.

The child (``python -c <boot> tests/ --child ...``) draws cases with hypothesis, one
function at a time in rounds, and prints one line before each call (S: the function and a
description of its arguments) and one after (E: the outcome). A crash kills only the
child: the parent sees the S line with no E line, records a crash naming the function and
the arguments, and starts a new child (another seed) for the time left.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ("tried", "matched", "raised", "ran", "wrong", "crash")


# ---------------------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------------------

def _emit(*fields) -> None:
    sys.stdout.write("\t".join(str(f).replace("\n", " ").replace("\t", " ") for f in fields) + "\n")
    sys.stdout.flush()


def _execute(case, path: str) -> None:
    from ember import _C

    from .core import ALLOWED, Mismatch, describe_case, snapshot
    before = snapshot(case.args)
    _emit("S", case.fn, describe_case(case))
    outcome, detail = "matched", ""
    try:
        res = getattr(_C, case.fn)(**case.args)
    except ALLOWED as e:
        outcome = "raised"
        if case.expect != "error":
            outcome, detail = "wrong", f"rejected a valid call: {type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - any other exception type is a defect
        outcome, detail = "wrong", f"unexpected exception {type(e).__name__}: {e}"
    else:
        if case.expect == "error":
            outcome, detail = "wrong", "accepted an invalid call"
        elif case.check is None or (case.nan_planted and not case.ref_nan):
            outcome = "ran"
        else:
            try:
                case.check(before, case.args, res)
            except Mismatch as e:
                outcome, detail = "wrong", str(e)
            except Exception as e:  # noqa: BLE001 - the harness' own reference failed
                outcome, detail = "wrong", f"HARNESS: the reference raised {type(e).__name__}: {e}"
    finally:
        if case.fn == "set_num_threads":
            _C.set_num_threads(0)
        elif case.fn == "set_kernel_path":
            _C.set_kernel_path(path)
    _emit("E", case.fn, outcome, detail)


def child_main(path: str, seconds: float, seed: int, names: List[str], per_round: int) -> None:
    import numpy as np
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from ember import _C

    from . import specs_conv_pool, specs_dense, specs_spatial  # noqa: F401 - they register the specs
    from .core import SPECS, mutate
    np.seterr(all="ignore")
    _C.set_kernel_path(path)
    deadline = time.monotonic() + seconds
    rnd = 0
    def batch(name: str, batch_seed: int):
        @settings(max_examples=per_round, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @hseed(batch_seed)
        @given(st.data())
        def one(data):
            case = SPECS[name](data.draw, name)
            if case.expect == "ok":
                mutate(case, data.draw)
            _execute(case, path)
        one()

    while time.monotonic() < deadline:
        for name in names:
            if time.monotonic() >= deadline:
                break
            batch(name, seed * 7919 + rnd * 104729 + zlib.crc32(name.encode()))
        rnd += 1

# ---------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.counts: Dict[str, Counter] = defaultdict(Counter)
        self.failures: List[str] = []   # "crash/wrong: description" (the first few per function)
        self.children = 0

    def add_failure(self, kind: str, fn: str, text: str) -> None:
        self.counts[fn][kind] += 1
        if sum(1 for f in self.failures if f.split(" ", 2)[1] == fn) < 3:
            self.failures.append(f"{kind} {fn} {text}")

    def total(self, key: str) -> int:
        return sum(c[key] for c in self.counts.values())

    def table(self, title: str) -> str:
        rows = [f"{title}", f"{'function':28s}" + "".join(f"{k:>9s}" for k in OUTCOMES)]
        for fn in sorted(self.counts):
            rows.append(f"{fn:28s}" + "".join(f"{self.counts[fn][k]:9d}" for k in OUTCOMES))
        rows.append(f"{'total':28s}" + "".join(f"{self.total(k):9d}" for k in OUTCOMES))
        rows.append("(tried: calls made; matched: result equal to the float64 NumPy reference; raised: a "
                    "TypeError/ValueError/... for an invalid call; ran: returned, reference not comparable "
                    "(NaN planted in a backward op); wrong: wrong result, accepted invalid call, rejected "
                    "valid call or unexpected exception; crash: the process died)")
        return "\n".join(rows + [f"  {f}" for f in self.failures])


def run(path: str, seconds: float, names: List[str], seed: int = 0, per_round: int = 10,
        report: Optional[Report] = None) -> Report:
    """Fuzz `names` on kernel path `path` for about `seconds`, restarting after crashes."""
    rep = report or Report()
    end = time.monotonic() + seconds
    # the child imports the harness as the regular package `fuzz` from tests/ (first on its
    # path), not as tests.fuzz: an installed distribution's own `tests` package would win over
    # the namespace package tests/
    boot = ("import sys; sys.path.insert(0, sys.argv[1]); from fuzz.__main__ import main; "
            "sys.exit(main(sys.argv[2:]))")
    while end - time.monotonic() > 1:
        left = end - time.monotonic()
        with tempfile.TemporaryFile("w+") as err:
            cmd = [sys.executable, "-c", boot, str(ROOT / "tests"), "--child", "--path", path,
                   "--seconds", f"{left:.1f}", "--seed", str(seed), "--per-round", str(per_round),
                   "--functions", ",".join(names)]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
            rep.children += 1
            # a call that never returns is a defect too: kill the child well after its time
            timer = threading.Timer(left + 60, proc.kill)
            timer.start()
            last = None
            for line in proc.stdout:
                f = line.rstrip("\n").split("\t")
                if f[0] == "S" and len(f) >= 3:
                    last = (f[1], f[2])
                    rep.counts[f[1]]["tried"] += 1
                elif f[0] == "E" and len(f) >= 3:
                    if f[2] == "wrong":
                        rep.add_failure("wrong", f[1], f"{last[1] if last else ''}: {f[3] if len(f) > 3 else ''}")
                    else:
                        rep.counts[f[1]][f[2]] += 1
                    last = None
            rc = proc.wait()
            timer.cancel()
            err.seek(0)
            text = err.read()
            tail = text[-1500:]
            # a sanitizer's own line says what it found; the stack below it is long
            found = [ln for ln in text.splitlines() if "runtime error:" in ln or "ERROR: AddressSanitizer" in ln
                     or "SUMMARY:" in ln or "Fatal Python error" in ln]
        if rc != 0:
            if last is None:  # a Python error of the harness itself, not of a call
                raise RuntimeError(f"fuzz child failed outside a call (rc {rc}): {tail}")
            rep.add_failure("crash", last[0], f"{last[1]}: exit status {rc}; " +
                            (" | ".join(found[:3]) if found else f"stderr: {tail[-600:]}"))
        seed += 1
    return rep


def all_names() -> List[str]:
    from ember import _C
    return sorted(n for n in dir(_C) if not n.startswith("_"))
