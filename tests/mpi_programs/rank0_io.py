"""Run under ``mpiexec -n 2`` with a folder argument: each rank works in <folder>/rank<k>
and fits with verbose=1, ModelCheckpoint and CSVLogger; only rank 0 may write files
and print progress. Rank 0 also checks early stopping stops every rank alike."""
import os
import sys

import numpy as np

import ember
import ember.distributed as dist
from ember.layers import Dense

base = sys.argv[1]
# Each rank's standard output into its own file (at the descriptor, so nothing escapes):
# mpiexec interleaves the ranks' chunks mid-line, which would blur whose output is whose.
_out = open(os.path.join(base, f"stdout{dist.rank()}.txt"), "w")
sys.stdout.flush()
os.dup2(_out.fileno(), 1)
here = os.path.join(base, f"rank{dist.rank()}")
os.makedirs(here, exist_ok=True)
os.chdir(here)
ember.set_seed(dist.rank())  # different seeds: fit must broadcast rank 0's state
rng = np.random.default_rng(0)
x = rng.standard_normal((30, 4)).astype("float32")
y = (x[:, :1] > 0).astype("float32")
m = ember.Sequential([Dense(4, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
stop = ember.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0, verbose=1)
h = m.fit(x, y, batch_size=8, epochs=5, verbose=1, distribute=True,
          callbacks=[ember.callbacks.ModelCheckpoint("ckpt.weights.h5", save_weights_only=True, verbose=1),
                     ember.callbacks.CSVLogger("log.csv"), stop])
epochs = dist.allreduce(np.array([len(h.history["loss"])]), op="max")
same = dist.allreduce(np.array([len(h.history["loss"])]), op="min")
print(f"RESULT rank={dist.rank()} epochs={len(h.history['loss'])} max={int(epochs[0])} min={int(same[0])} "
      f"verbose_restored={stop.verbose}", flush=True)
