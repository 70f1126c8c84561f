"""One training epoch (10,000 samples, batch 128, Adam) of the MNIST CNN and of an MLP
784-256-256-10: ember vs PyTorch vs TensorFlow-Keras, same model, same thread count.

Each framework runs in its own subprocess (two OpenMP runtimes in one process disturb each
other), and the frameworks are alternated: round r runs ember, PyTorch, TensorFlow one after
the other, so a change of machine load hits all of them alike. Seconds per epoch: the median
over rounds of each process's median of ``--reps`` epochs (after a warm-up epoch); peak
memory: the process's ru_maxrss.

    python bench/bench_train.py [--threads 1 2] [--models cnn mlp] [--rounds 3]
    python bench/bench_train.py --isa avx2      # every library capped to AVX2/FMA
    python bench/bench_train.py --tf-python /path/to/venv/bin/python   # TF in its own venv

``--isa avx2`` measures the AVX2 path on an AVX-512 machine, for all libraries at once:
ember through EMBER_DISABLE_AVX512=1, PyTorch through ATEN_CPU_CAPABILITY=avx2 (ATen's own
kernels), ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN: PyTorch's and TensorFlow's convolutions) and
MKL_ENABLE_INSTRUCTIONS=AVX2 (PyTorch's GEMM). ``--isa native`` (the default) lets each
library pick its best path. The kernel path each library ran is printed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

AVX2_ENV = {"EMBER_DISABLE_AVX512": "1", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}

CHILD = r'''
import json, os, resource, sys, time
import numpy as np
fw, model, threads, n, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(0)
x = rng.random((n, 28, 28, 1), dtype=np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
times, cpu = [], []
def clock():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime + r.ru_stime
if fw == "ember":
    import ember
    from ember import _C
    from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
    ember.set_num_threads(threads)
    path = "ember " + _C.kernel_path()
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
        t, c = clock()
        m.fit(x, y, batch_size=128, epochs=1, verbose=0)
        t1, c1 = clock()
        times.append(t1 - t)
        cpu.append(c1 - c)
elif fw in ("tf", "tf-nojit"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras = tf.keras
    path = (f"TensorFlow {tf.__version__} (Keras {keras.__version__}), jit_compile "
            f"{'auto (XLA)' if fw == 'tf' else 'False'}, oneDNN cap {os.environ.get('ONEDNN_MAX_CPU_ISA', 'none')}")
    L = keras.layers
    if model == "cnn":
        layers = [keras.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                  L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]
    else:
        x = x.reshape(n, 784)
        layers = [keras.Input((784,)), L.Dense(256, activation="relu"), L.Dense(256, activation="relu"),
                  L.Dense(10, activation="softmax")]
    m = keras.Sequential(layers)
    # Keras 3's default jit_compile="auto" compiles the step with XLA on TensorFlow;
    # "tf-nojit" is the same model with jit_compile=False (a tf.function graph)
    m.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile="auto" if fw == "tf" else False)
    m.fit(x[:1024], y[:1024], batch_size=128, epochs=1, verbose=0, shuffle=False)
    for _ in range(reps):
        t, c = clock()
        m.fit(x, y, batch_size=128, epochs=1, verbose=0)
        t1, c1 = clock()
        times.append(t1 - t)
        cpu.append(c1 - c)
else:
    import torch
    torch.set_num_threads(threads)
    path = f"PyTorch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}"
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
        t, c = clock()
        epoch(n)
        t1, c1 = clock()
        times.append(t1 - t)
        cpu.append(c1 - c)
print(json.dumps({"times": times, "cpu": cpu, "path": path,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

FRAMEWORKS = ("ember", "torch", "tf", "tf-nojit")


def run(fw, model, threads, n, reps, isa, python):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if isa == "avx2":
        env.update(AVX2_ENV)
    out = subprocess.run([python, "-c", CHILD, fw, model, str(threads), str(n), str(reps)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def available(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", default=["cnn", "mlp"])
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3, help="epochs timed per process")
    ap.add_argument("--rounds", type=int, default=3, help="alternated process rounds per library")
    ap.add_argument("--isa", choices=["native", "avx2"], default="native")
    ap.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=["ember", "torch", "tf"])
    ap.add_argument("--tf-python", default=sys.executable, help="interpreter with tensorflow installed")
    args = ap.parse_args()
    python = {"ember": sys.executable, "torch": sys.executable, "tf": args.tf_python, "tf-nojit": args.tf_python}
    mods = {"ember": "ember", "torch": "torch", "tf": "tensorflow", "tf-nojit": "tensorflow"}
    fws = [f for f in args.frameworks if f == "ember" or available(python[f], mods[f])]
    missing = sorted(set(args.frameworks) - set(fws))
    print(f"isa: {args.isa}; rounds: {args.rounds} x {args.reps} epochs; not installed: {missing or 'none'}")
    paths = {}
    rows = []
    for model in args.models:
        for t in args.threads:
            res = {f: [] for f in fws}
            cpus = {f: [] for f in fws}
            mem = {f: 0.0 for f in fws}
            errs = {}
            for _ in range(args.rounds):
                for f in fws:
                    r, err = run(f, model, t, args.samples, args.reps, args.isa, python[f])
                    if r is None:
                        errs[f] = err
                        continue
                    res[f].append(statistics.median(r["times"]))
                    cpus[f].append(statistics.median(r["cpu"]))
                    mem[f] = max(mem[f], r["maxrss_mb"])
                    paths[f] = r["path"]
            med = {f: statistics.median(v) if v else float("nan") for f, v in res.items()}
            rows.append((model, t, med, mem, errs))
            line = f"{model:5} {t:>3} thr | " + "  ".join(f"{f} {med[f]:.3f} s" for f in fws)
            line += " | " + "  ".join(f"ember/{f} {med['ember'] / med[f]:.2f}" for f in fws if f != "ember")
            # CPU seconds per wall second: how many cores a library really kept busy
            line += " | cores " + " ".join(f"{f} {statistics.median(cpus[f]) / med[f]:.2f}" for f in fws if cpus[f])
            line += " | MB " + " ".join(f"{f} {mem[f]:.0f}" for f in fws)
            print(line + "".join(f"   {f} error: {e}" for f, e in errs.items()), flush=True)
    for f, p in paths.items():
        print(f"{f}: {p}")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
