"""Whether tests/gpu run emulated (``EMBER_GPU_TESTS_EMULATE=1``; see conftest.py). A module of
its own: test files import it by name, which a second ``conftest`` module could shadow."""
import os

EMULATE = os.environ.get("EMBER_GPU_TESTS_EMULATE", "").strip().lower() in ("1", "true", "yes", "on")
