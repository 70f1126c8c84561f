"""One training epoch (10,000 samples, batch 128, Adam) of the MNIST CNN and of an MLP
784-256-256-10: ember vs PyTorch, same model, same thread count. Each framework runs in its
own subprocess (two OpenMP runtimes in one process disturb each other); seconds per epoch
are the median of 3 epochs after a warm-up, peak memory is the process's ru_maxrss.

    python bench/bench_train.py [--threads 1 2] [--models cnn mlp] [--samples 10000]
"""
import argparse
import json
import subprocess
import sys

CHILD = r'''
import json, os, resource, sys, time
import numpy as np
fw, model, threads, n, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(0)
x = rng.random((n, 28, 28, 1), dtype=np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
times = []
if fw == "ember":
    import ember
    from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
    ember.set_num_threads(threads)
    if model == "cnn":
        layers = [Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)), Flatten(),
                  Dense(128, activation="relu"), Dense(10, activation="softmax")]
    else:
        x = x.reshape(n, 784)
        layers = [Dense(256, activation="relu", input_shape=(784,)), Dense(256, activation="relu"),
                  Dense(10, activation="softmax")]
    m = ember.Sequential(layers)
    m.compile(optimizer="adam", loss="categorical_crossentropy")
    m.fit(x[:1024], y[:1024], batch_size=128, epochs=1, verbose=0, shuffle=False)
    for _ in range(reps):
        t = time.perf_counter()
        m.fit(x, y, batch_size=128, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
else:
    import torch
    torch.set_num_threads(threads)
    nn = torch.nn
    if model == "cnn":
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 128),
                            nn.ReLU(), nn.Linear(128, 10))
        xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
    else:
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        xt = torch.tensor(x.reshape(n, 784))
    yt = torch.tensor(y.argmax(1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    lossf = nn.CrossEntropyLoss()  # softmax + categorical cross-entropy, fused as PyTorch does it
    def epoch(k):
        perm = torch.randperm(k)
        for i in range(0, k, 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = lossf(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    epoch(1024)
    for _ in range(reps):
        t = time.perf_counter()
        epoch(n)
        times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run(fw, model, threads, n, reps):
    env = dict(__import__("os").environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", CHILD, fw, model, str(threads), str(n), str(reps)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=["cnn", "mlp"])
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    import statistics
    print(f"{'model':6} {'thr':>3} | {'ember s/epoch':>13} {'torch s/epoch':>13} {'ratio':>6} | "
          f"{'ember MB':>8} {'torch MB':>8}")
    for model in args.models:
        for t in args.threads:
            e, err = run("ember", model, t, args.samples, args.reps)
            p, perr = run("torch", model, t, args.samples, args.reps) if have_torch else (None, "not installed")
            es = statistics.median(e["times"]) if e else float("nan")
            ps = statistics.median(p["times"]) if p else float("nan")
            print(f"{model:6} {t:>3} | {es:13.3f} {ps:13.3f} {es / ps:6.2f} | "
                  f"{e['maxrss_mb'] if e else float('nan'):8.0f} {p['maxrss_mb'] if p else float('nan'):8.0f}"
                  + (f"   ember error: {err}" if err else "") + (f"   torch: {perr}" if perr else ""))


if __name__ == "__main__":
    main()
