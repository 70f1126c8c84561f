"""Run under ``mpiexec -n 2``: rank 1 raises while rank 0 waits in a collective; the
excepthook installed by ember.distributed must end the whole job (MPI_Abort)."""
import time

import numpy as np

import ember.distributed as dist

dist.init()
dist.barrier()
if dist.rank() == 1:
    time.sleep(0.2)
    raise RuntimeError("rank 1 fails on purpose")
dist.allreduce(np.ones(3), op="sum")  # never completes: rank 1 is gone
print("rank 0 finished: the job was not aborted", flush=True)
