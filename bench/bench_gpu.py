"""ember on a CUDA GPU against PyTorch CUDA eager on the same device.

Cases: one training epoch of the seed CNN and of an MLP 784-256-256-10 (10,000 MNIST
samples, batch 128, Adam; host batches copied to the device each step, as ``fit`` does),
float32 GEMM 4096^3 and 8192^3, causal attention forward + backward (B8 H8 T1024 D64) and
an LSTM forward + backward (B64 T100, 256 -> 512). Each library runs in its own process
(``--child``), the two alternated ``--rounds`` times; a figure is the median of all timed
runs (``--reps`` per round, after a warm-up that also pays NVRTC's first compile), each
timed between two device synchronisations. Prints the GPU, CuPy / CUDA / driver versions
and torch's, then milliseconds and the ratio ember / torch.

    python bench/bench_gpu.py [--cases cnn mlp ...] [--reps 5] [--rounds 3] [--json out.json]
    python bench/bench_gpu.py --emulate --tiny   # smoke test without a GPU: ember only, emulated
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = ("cnn", "mlp", "sgemm4096", "sgemm8192", "attention", "lstm")
WHAT = {"cnn": "seed CNN epoch (10k, b128, Adam)", "mlp": "MLP 784-256-256-10 epoch (10k, b128)",
        "sgemm4096": "SGEMM 4096^3 float32", "sgemm8192": "SGEMM 8192^3 float32",
        "attention": "attention fwd+bwd B8 H8 T1024 D64 causal", "lstm": "LSTM fwd+bwd B64 T100 256->512"}
# full and --tiny sizes: samples per epoch, GEMM n, attention (B, H, T, D), LSTM (B, T, I, U)
FULL = {"samples": 10000, "sgemm4096": 4096, "sgemm8192": 8192, "attention": (8, 8, 1024, 64),
        "lstm": (64, 100, 256, 512)}
TINY = {"samples": 256, "sgemm4096": 48, "sgemm8192": 64, "attention": (2, 2, 19, 8), "lstm": (4, 7, 6, 10)}
BATCH = 128


# ---- child side: one library, one case ---------------------------------------------------------
def mnist(n: int):
    import numpy as np
    root = os.environ.get("EMBER_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        import ember
        (x, y), _ = ember.datasets.mnist.load_data()
        if len(x) >= n:
            return (x[:n, :, :, None] / 255.0).astype(np.float32), y[:n].astype(np.int64)
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def timed(fn, sync, reps: int, warm: int = 2) -> list:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


def ember_info(emulate: bool) -> dict:
    import ember
    if emulate:
        return {"ember": ember.__version__, "device": "emulated CUDA (EMBER_CUDA_EMULATION, kernels on the CPU)"}
    import cupy
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]

    def ver(v):
        return f"{v // 1000}.{v % 1000 // 10}"
    return {"ember": ember.__version__, "gpu": name, "cupy": cupy.__version__,
            "cuda_runtime": ver(rt.runtimeGetVersion()), "driver": ver(rt.driverGetVersion()),
            "memory_gib": round(props["totalGlobalMem"] / 2 ** 30, 1)}


def ember_case(case: str, reps: int, sizes: dict, emulate: bool) -> list:
    import numpy as np

    import ember
    from ember import functional as F
    from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from ember.backend.cuda import runtime
    if emulate:
        runtime.use_emulation(True)
    ember.set_device("cuda")
    ember.set_seed(0)
    xp = runtime.xp()
    sync = xp.cuda.runtime.deviceSynchronize if emulate else xp.cuda.Device().synchronize
    if case in ("cnn", "mlp"):
        x, y = mnist(sizes["samples"])
        if case == "cnn":
            layers = [Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                      Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")]
        else:
            x = x.reshape(len(x), 784)
            layers = [Dense(256, activation="relu", input_shape=(784,)), Dense(256, activation="relu"),
                      Dense(10, activation="softmax")]
        m = ember.Sequential(layers)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        warm = 4 * BATCH + 16  # compiles every kernel, a short last batch's too
        m.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0)
        return timed(lambda: m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0), sync, reps, warm=0)
    rng = np.random.default_rng(0)

    def dev(*shape, grad=True):
        return ember.Tensor(xp.asarray(rng.standard_normal(shape).astype(np.float32)), requires_grad=grad)
    if case.startswith("sgemm"):
        n = sizes[case]
        a, b = dev(n, n, grad=False), dev(n, n, grad=False)
        with ember.no_grad():
            return timed(lambda: a @ b, sync, reps)
    if case == "attention":
        q, k, v = (dev(*sizes["attention"]) for _ in range(3))
        return timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward(), sync, reps)
    B, T, I, U = sizes["lstm"]
    xs, W, R, bias = dev(B, T, I), dev(I, 4 * U), dev(U, 4 * U), dev(4 * U)
    return timed(lambda: F.lstm(xs, W, R, bias)[0].sum().backward(), sync, reps)


def torch_info() -> dict:
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError(f"PyTorch {torch.__version__} sees no CUDA device")
    return {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0)}


def torch_case(case: str, reps: int, sizes: dict) -> list:
    import torch
    torch_info()
    d, nn = torch.device("cuda"), torch.nn
    sync = torch.cuda.synchronize
    torch.manual_seed(0)
    if case in ("cnn", "mlp"):
        x, y = mnist(sizes["samples"])
        if case == "cnn":
            net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 128),
                                nn.ReLU(), nn.Linear(128, 10)).to(d)
            xh = torch.tensor(x).permute(0, 3, 1, 2).contiguous().pin_memory()
        else:
            net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                nn.Linear(256, 10)).to(d)
            xh = torch.tensor(x.reshape(len(x), 784)).pin_memory()
        yh = torch.tensor(y).pin_memory()
        opt, lossf = torch.optim.Adam(net.parameters(), 1e-3), nn.CrossEntropyLoss()

        def epoch(k=len(x)):
            perm = torch.randperm(k)
            for i in range(0, k, BATCH):  # host batches copied each step, as ember's fit does
                idx = perm[i:i + BATCH]
                xb, yb = xh[idx].to(d, non_blocking=True), yh[idx].to(d, non_blocking=True)
                opt.zero_grad()
                lossf(net(xb), yb).backward()
                opt.step()
        epoch(4 * BATCH)
        return timed(epoch, sync, reps, warm=0)

    def dev(*shape, grad=True):
        return torch.randn(*shape, device=d, requires_grad=grad)
    if case.startswith("sgemm"):
        n = sizes[case]
        a, b = dev(n, n, grad=False), dev(n, n, grad=False)
        with torch.no_grad():
            return timed(lambda: a @ b, sync, reps)
    if case == "attention":
        q, k, v = (dev(*sizes["attention"]) for _ in range(3))
        return timed(lambda: nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward(),
                     sync, reps)
    B, T, I, U = sizes["lstm"]
    lstm, xs = nn.LSTM(I, U, batch_first=True).to(d), dev(B, T, I)
    return timed(lambda: lstm(xs)[0].sum().backward(), sync, reps)


def child(lib: str, case: str, reps: int, tiny: bool, emulate: bool) -> dict:
    sizes = TINY if tiny else FULL
    if case == "info":
        return ember_info(emulate) if lib == "ember" else torch_info()
    times = ember_case(case, reps, sizes, emulate) if lib == "ember" else torch_case(case, reps, sizes)
    return {"times": times}


# ---- parent side: alternate the libraries, report medians and ratios ---------------------------
def run_child(lib: str, case: str, args) -> tuple:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", lib, case, "--reps", str(args.reps)]
    cmd += ["--tiny"] * args.tiny + ["--emulate"] * args.emulate
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return None, f"timed out after {args.timeout:.0f} s"
    if out.returncode != 0:
        lines = (out.stderr or out.stdout or "failed").strip().splitlines()
        return None, lines[-1][:200] if lines else f"exit status {out.returncode}"
    try:
        return json.loads(out.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, f"no result: {out.stdout[-200:]!r}"


def median_ms(ts) -> float:
    return statistics.median(ts) * 1e3 if ts else float("nan")


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--reps", type=int, help="timed runs per process (default 5; 1 with --emulate)")
    ap.add_argument("--rounds", type=int, help="alternations of the two libraries per case (default 3; 1 with "
                    "--emulate)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per subprocess")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (a smoke test, not a measurement)")
    ap.add_argument("--emulate", action="store_true", help="ember only, on the emulated device (no GPU, no torch)")
    ap.add_argument("--child", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.reps = args.reps or (1 if args.emulate else 5)
    args.rounds = args.rounds or (1 if args.emulate else 3)
    if args.child:
        print(json.dumps(child(*args.child, args.reps, args.tiny, args.emulate)))
        return []
    libs = ("ember",) if args.emulate else ("ember", "torch")
    for lib in libs:
        info, err = run_child(lib, "info", args)
        print(f"{lib}: " + (", ".join(f"{k} {v}" for k, v in info.items()) if info else f"unavailable ({err})"))
    if args.tiny or args.emulate:
        print(f"smoke test ({'tiny shapes' if args.tiny else 'full shapes'}"
              f"{', emulated device, no torch' if args.emulate else ''}): not a measurement")
    print(f"{'case':10} {'what':42} | {'ember ms':>9} {'torch ms':>9} {'ratio':>6}", flush=True)
    rows = []
    for case in args.cases:
        times, errors = {lib: [] for lib in libs}, {}
        for r in range(args.rounds):
            for lib in (libs if r % 2 == 0 else libs[::-1]):  # alternate who goes first
                if lib in errors:
                    continue
                res, err = run_child(lib, case, args)
                if err:
                    errors[lib] = err
                else:
                    times[lib] += res["times"]
        med = {lib: median_ms(times.get(lib)) for lib in ("ember", "torch")}
        ratio = med["ember"] / med["torch"] if med["torch"] == med["torch"] and med["torch"] > 0 else float("nan")
        note = "; ".join(f"{k}: {v}" for k, v in errors.items())
        print(f"{case:10} {WHAT[case]:42} | {med['ember']:9.2f} {med['torch']:9.2f} {ratio:6.2f}  {note}",
              flush=True)
        rows.append({"case": case, "what": WHAT[case], "ember_ms": med["ember"], "torch_ms": med["torch"],
                     "ratio": ratio, "ember_times": times.get("ember", []), "torch_times": times.get("torch", []),
                     "errors": errors})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    # exit status 1 when ember's side of any case did not run (an error, not a slow figure)
    sys.exit(1 if any("ember" in r["errors"] for r in main()) else 0)
