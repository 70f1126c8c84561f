"""Run under ``mpiexec -n 2``: the ranks pass different numbers of samples; fit must say so."""
import numpy as np, ember, ember.distributed as dist
m = ember.Sequential([ember.layers.Dense(1, input_shape=(2,))]); m.compile(optimizer="sgd", loss="mse")
n = 10 + dist.rank()
m.fit(np.ones((n, 2)), np.ones((n, 1)), verbose=0, distribute=True)
