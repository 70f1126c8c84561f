"""Run under ``mpiexec -n 2``: Horovod-style training, each rank on its own data and seed,
with DistributedOptimizer and BroadcastGlobalVariablesCallback: the weights must stay
identical on every rank."""
import numpy as np, ember, ember.distributed as d
d.init(); ember.set_seed(d.rank())
rng = np.random.default_rng(d.rank())
x = rng.standard_normal((16, 3)).astype("float32"); y = x[:, :1] * 2
m = ember.Sequential([ember.layers.Dense(4, input_shape=(3,)), ember.layers.Dense(1)])
m.compile(optimizer=d.DistributedOptimizer(ember.optimizers.SGD(0.05)), loss="mse")
m.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[d.callbacks.BroadcastGlobalVariablesCallback(0)])
w = np.concatenate([a.ravel() for a in m.get_weights()])
print("SPREAD", float(np.max(np.abs(d.allreduce(w, op="max") - d.allreduce(w, op="min")))), flush=True)
