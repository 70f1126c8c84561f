"""ember on a CUDA GPU against PyTorch CUDA eager on the same device: one training epoch of
the seed CNN and of an MLP 784-256-256-10 (10,000 samples, batch 128, Adam), a float32 GEMM,
attention forward + backward and an LSTM forward + backward. Each library runs in its own
subprocess, the two alternated ``--rounds`` times; every figure is the median of ``--reps``
timed runs after a warm-up (which also pays NVRTC's first compile), synchronised on the
device. Prints a table (milliseconds, ratio ember / torch) and, with ``--json``, writes it.

    python bench/bench_gpu.py [--cases cnn mlp gemm attention lstm] [--reps 5] [--rounds 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r'''
import json, os, sys, time
import numpy as np
lib, case, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
N = int(os.environ.get("BENCH_GPU_SAMPLES", "10000"))
# BENCH_GPU_SMALL=1 (tests, with EMBER_CUDA_EMULATION=1): tiny shapes that check the code path
SMALL = os.environ.get("BENCH_GPU_SMALL") == "1"
G, AT, LT = (64, (2, 2, 16, 8), (4, 6, 8, 16)) if SMALL else (4096, (8, 8, 512, 64), (64, 100, 128, 256))


def mnist(n):
    root = os.environ.get("EMBER_DATASETS")
    if root and os.path.isdir(os.path.join(root, "mnist")):
        import ember
        (x, y), _ = ember.datasets.mnist.load_data()
        if len(x) >= n:
            return (x[:n, :, :, None] / 255.0).astype(np.float32), y[:n].astype(np.int64)
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def timed(fn, sync, reps, warm=2):
    for _ in range(warm):
        fn()
    sync()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


if lib == "ember":
    import ember
    from ember import functional as F
    from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
    ember.set_device("cuda")
    if ember.backend.cuda.runtime.emulating():
        sync = lambda: None  # noqa: E731  (the emulator runs each launch to completion)
    else:
        import cupy
        sync = cupy.cuda.Device().synchronize
    if case in ("cnn", "mlp"):
        x, y = mnist(N)
        if case == "cnn":
            layers = [Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                      Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")]
        else:
            x = x.reshape(len(x), 784)
            layers = [Dense(256, activation="relu", input_shape=(784,)), Dense(256, activation="relu"),
                      Dense(10, activation="softmax")]
        m = ember.Sequential(layers)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x[:1024], y[:1024], batch_size=128, epochs=1, verbose=0)
        times = timed(lambda: m.fit(x, y, batch_size=128, epochs=1, verbose=0), sync, reps, warm=1)
    else:
        rng = np.random.default_rng(0)
        def dev(*s):  # a leaf on the device
            return ember.Tensor(ember.backend.to_device(rng.standard_normal(s).astype(np.float32), "cuda"),
                                requires_grad=True)
        if case == "gemm":
            a, b = dev(G, G), dev(G, G)
            with ember.no_grad():
                times = timed(lambda: a @ b, sync, reps)
        elif case == "attention":
            q, k, v = dev(*AT), dev(*AT), dev(*AT)
            def step():
                F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
            times = timed(step, sync, reps)
        else:  # lstm
            B, T, I, U = LT
            xs, W, R, bias = dev(B, T, I), dev(I, 4 * U), dev(U, 4 * U), dev(4 * U)
            def step():
                y, h, c = F.lstm(xs, W, R, bias)
                y.sum().backward()
            times = timed(step, sync, reps)
else:
    import torch
    assert torch.cuda.is_available(), "PyTorch sees no CUDA device"
    d = torch.device("cuda")
    sync = torch.cuda.synchronize
    nn = torch.nn
    if case in ("cnn", "mlp"):
        x, y = mnist(N)
        if case == "cnn":
            net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 128),
                                nn.ReLU(), nn.Linear(128, 10)).to(d)
            xh = torch.tensor(x).permute(0, 3, 1, 2).contiguous().pin_memory()
        else:
            net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                nn.Linear(256, 10)).to(d)
            xh = torch.tensor(x.reshape(len(x), 784)).pin_memory()
        yh = torch.tensor(y).pin_memory()
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        lossf = nn.CrossEntropyLoss()
        def epoch(k=len(x)):
            perm = torch.randperm(k)
            for i in range(0, k, 128):  # host batches copied per step, as ember's fit does
                idx = perm[i:i + 128]
                xb = xh[idx].to(d, non_blocking=True)
                yb = yh[idx].to(d, non_blocking=True)
                opt.zero_grad()
                lossf(net(xb), yb).backward()
                opt.step()
        epoch(1024)
        times = timed(epoch, sync, reps, warm=1)
    else:
        torch.manual_seed(0)
        dev = lambda *s: torch.randn(*s, device=d, requires_grad=True)
        if case == "gemm":
            a, b = dev(G, G), dev(G, G)
            with torch.no_grad():
                times = timed(lambda: a @ b, sync, reps)
        elif case == "attention":
            q, k, v = dev(*AT), dev(*AT), dev(*AT)
            def step():
                torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
            times = timed(step, sync, reps)
        else:
            B, T, I, U = LT
            lstm = nn.LSTM(I, U, batch_first=True).to(d)
            xs = dev(B, T, I)
            def step():
                y, _ = lstm(xs)
                y.sum().backward()
            times = timed(step, sync, reps)
print(json.dumps({"times": times}))
'''

CASES = ("cnn", "mlp", "gemm", "attention", "lstm")
WHAT = {"cnn": "seed CNN epoch (10k, b128, Adam)", "mlp": "MLP epoch (10k, b128, Adam)",
        "gemm": "GEMM 4096^3 float32", "attention": "attention fwd+bwd 8x8x512x64 causal",
        "lstm": "LSTM fwd+bwd B64 T100 128->256"}


def run(lib: str, case: str, reps: int, timeout: float):
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, lib, case, str(reps)], capture_output=True, text=True,
                             timeout=timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if out.returncode != 0:
        lines = (out.stderr or "failed").strip().splitlines()
        return None, lines[-1] if lines else "failed"
    return json.loads(out.stdout.strip().splitlines()[-1])["times"], None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="alternations of the two libraries per case")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per subprocess")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'case':10} {'what':38} | {'ember ms':>9} {'torch ms':>9} {'ratio':>6}")
    for case in args.cases:
        times = {"ember": [], "torch": []}
        errors = {}
        for _ in range(args.rounds):
            for lib in ("ember", "torch"):
                if lib in errors:
                    continue
                t, err = run(lib, case, args.reps, args.timeout)
                if err:
                    errors[lib] = err
                else:
                    times[lib] += t
        med = {k: statistics.median(v) * 1e3 if v else float("nan") for k, v in times.items()}
        ratio = med["ember"] / med["torch"] if med["torch"] == med["torch"] and med["torch"] else float("nan")
        note = "; ".join(f"{k}: {v}" for k, v in errors.items())
        print(f"{case:10} {WHAT[case]:38} | {med['ember']:9.2f} {med['torch']:9.2f} {ratio:6.2f}  {note}", flush=True)
        rows.append({"case": case, "what": WHAT[case], "ember_ms": med["ember"], "torch_ms": med["torch"],
                     "ratio": ratio, "ember_times": times["ember"], "torch_times": times["torch"], "errors": errors})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
