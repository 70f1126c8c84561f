"""Data-parallel training on MPI on this machine: one epoch of the seed CNN (the MNIST CNN
of examples/mnist_cnn.py; 10,000 samples, global batch 128, Adam) with 1 rank x 2 threads
(a plain fit) against 2 ranks x 1 thread (fit(distribute=True) under mpiexec), the share
of the step time spent in the gradient Allreduce, the bytes each step reduces, and what
those bytes would cost on real cluster links.

    python bench/bench_distributed.py [--samples 10000] [--reps 3] [--ranks 2]

Needs mpi4py and an mpiexec (pip install mpi4py mpich). Seconds per epoch are the median
of ``reps`` epochs after a warm-up. The Allreduce time measured inside a step includes
waiting for the slower rank; the "bare" figure reduces the same buffer right after a
barrier (median of 20), which is the transfer alone.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import json, sys, time
import numpy as np
import ember
import ember.distributed as dist
from ember.layers import Conv2D, Dense, Flatten, MaxPooling2D
n, reps, distribute = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
rng = np.random.default_rng(0)
x = rng.random((n, 28, 28, 1), dtype=np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
ember.set_seed(0)
m = ember.Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                      Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")])
m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
dp = dist.DataParallel() if distribute else False
m.fit(x[:1024], y[:1024], batch_size=128, epochs=1, verbose=0, distribute=dp)
times, shares = [], []
for _ in range(reps):
    if dp:
        dp.stats.update(steps=0, allreduce_seconds=0.0)
        dist.barrier()
    t = time.perf_counter()
    m.fit(x, y, batch_size=128, epochs=1, verbose=0, distribute=dp)
    times.append(time.perf_counter() - t)
    if dp:
        shares.append(dp.stats["allreduce_seconds"] / times[-1])
out = {"times": times, "threads": ember.get_num_threads()}
if dp:
    buf = np.ones(dp.stats["bytes_per_step"] // 4, dtype=np.float32)
    bare = []
    for _ in range(20):
        dist.barrier()
        t = time.perf_counter()
        dist.allreduce(buf, op="sum")
        bare.append(time.perf_counter() - t)
    out.update(shares=shares, bytes_per_step=dp.stats["bytes_per_step"], steps=dp.stats["steps"],
               bare_allreduce_ms=1e3 * float(np.median(bare)), allreduce_share=float(np.median(shares)))
if dist.rank() == 0:
    print("RESULT " + json.dumps(out))
'''

# Link speeds of common cluster interconnects (bytes / s, nominal) for the estimate; a
# ring allreduce moves 2 (N - 1) / N times the buffer through each rank's link.
LINKS = {"10 GbE": 1.25e9, "25 GbE": 3.125e9, "100 Gb/s InfiniBand EDR": 12.5e9, "200 Gb/s InfiniBand HDR": 25e9}


def run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ranks", type=int, default=2)
    args = ap.parse_args()
    beside = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(beside) if beside.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("no mpiexec found (pip install mpi4py mpich)")
    common = [sys.executable, "-c", CHILD, str(args.samples), str(args.reps)]
    one = run(common + ["0"], threads=args.ranks)
    many = run([mpiexec, "-n", str(args.ranks)] + common + ["1"], threads=1)
    t1, tn = median(one["times"]), median(many["times"])
    steps = -(-args.samples // 128)
    print(f"seed CNN, {args.samples} samples, global batch 128 ({steps} steps), Adam; median of {args.reps} epochs")
    print(f"1 rank x {one['threads']} threads (plain fit)        : {t1:6.2f} s/epoch")
    print(f"{args.ranks} ranks x {many['threads']} thread (fit(distribute=True)): {tn:6.2f} s/epoch  "
          f"({t1 / tn:.2f}x)")
    b = many["bytes_per_step"]
    print(f"Allreduce per step: {b / 1e6:.2f} MB (one packed float32 buffer: gradients + loss + metric state); "
          f"{many['allreduce_share'] * 100:.1f} % of the step time inside fit (waiting for the slower rank "
          f"included); bare {many['bare_allreduce_ms']:.2f} ms after a barrier (shared memory)")
    per_step = tn / steps
    print(f"On a cluster ({args.ranks} ranks, ring allreduce moves {2 * (args.ranks - 1) / args.ranks:.1f}x "
          f"the buffer per link; step time here ~{per_step * 1e3:.0f} ms):")
    for name, bw in LINKS.items():
        ms = 2 * (args.ranks - 1) / args.ranks * b / bw * 1e3
        print(f"  {name:26s}: {ms:6.2f} ms per step ({ms / (per_step * 1e3) * 100:5.1f} % of the step)")


if __name__ == "__main__":
    main()
