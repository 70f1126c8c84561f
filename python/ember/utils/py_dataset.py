"""``PyDataset``: Keras 3's ``keras.utils.PyDataset`` (formerly ``Sequence``), a dataset of
batches indexed ``0 .. len(ds) - 1`` that fit / evaluate / predict accept as ``x``."""
from __future__ import annotations

import concurrent.futures
from collections import deque
from typing import Iterable, Iterator


class PyDataset:
    """Subclass it and define ``__len__`` (batches per epoch) and ``__getitem__(index)``
    (one batch: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``), optionally
    ``on_epoch_end``; call ``super().__init__(**kwargs)`` in your ``__init__``.

    ``workers``: with more than 1, that many threads load the next batches
    (``max_queue_size`` of them ahead) while the model trains; batches still arrive in
    order. ``use_multiprocessing=True`` is accepted and loads with threads too: worker
    processes would have to fork a process whose OpenMP runtime (ember's kernels) is
    already running, which is not safe, or pickle the dataset into spawned interpreters;
    NumPy loading code releases the GIL, so threads overlap it with training.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        if int(workers) < 1 or int(max_queue_size) < 1:
            raise ValueError(f"PyDataset: workers and max_queue_size must be >= 1. Received: workers={workers}, "
                             f"max_queue_size={max_queue_size}")
        self._workers = int(workers)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @property
    def num_batches(self):
        return len(self)

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset must define __getitem__(index)")

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass

    def _iterate(self, indices: Iterable[int]) -> Iterator:
        """The batches at ``indices``, in order; loaded ahead by ``workers`` threads."""
        indices = list(indices)
        if self.workers <= 1:
            for i in indices:
                yield self[i]
            return
        ahead = max(self.max_queue_size, self.workers)
        with concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="PyDataset") as pool:
            pending = deque()
            it = iter(indices)
            try:
                for i in it:
                    pending.append(pool.submit(self.__getitem__, i))
                    if len(pending) >= ahead:
                        break
                while pending:
                    yield pending.popleft().result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.append(pool.submit(self.__getitem__, nxt))
            finally:
                for f in pending:
                    f.cancel()


Sequence = PyDataset  # Keras 2's name
