"""``python -m ember.bench``: ember against NumPy (and PyTorch / TensorFlow when installed)
on a few everyday operations and the seed CNN's training step. Each library runs in its
own process (two OpenMP runtimes in one process disturb each other), the processes
alternate over several rounds, and the table shows medians and ratios; ``--plot FILE``
draws the ratios. See ``python -m ember.bench --help``."""
