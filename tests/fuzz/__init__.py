"""Fuzzing harness for ember._C: every binding, random valid and broken calls, each
in a child process (see runner.py); `python -m tests.fuzz --help`."""
