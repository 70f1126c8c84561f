"""Callbacks for training under MPI with a plain ``fit`` (Horovod's names)."""
from __future__ import annotations

from .. import callbacks as cbks


class BroadcastGlobalVariablesCallback(cbks.Callback):
    """At the start of training, overwrite every rank's weights and optimizer state with
    rank ``root_rank``'s, so that ranks that initialised differently
    start alike (Horovod's ``hvd.callbacks.BroadcastGlobalVariablesCallback(0)``). Use it
    with :class:`ember.distributed.DistributedOptimizer` and a plain ``fit`` on per-rank
    data; ``fit(distribute=...)`` broadcasts by itself."""

    def __init__(self, root_rank: int = 0):
        super().__init__()
        self.root_rank = int(root_rank)

    def on_train_begin(self, logs=None):
        from ._data_parallel import sync_model
        sync_model(self.model, self.root_rank, random_state=False)
