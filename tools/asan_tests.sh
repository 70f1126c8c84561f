#!/usr/bin/env bash
# Build ember._C with AddressSanitizer + UndefinedBehaviorSanitizer into a separate venv and
# run the test suite and the fuzz harness under them; prints the counts and any report.
# Usage: bash tools/asan_tests.sh [fuzz minutes per kernel path, default 2] [pytest args...]
# (from anywhere; tens of minutes on two cores). Exit status 1 if a sanitizer reported.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ_MIN=${1:-2}; shift || true
VENV=${ASAN_VENV:-/tmp/ember-asan-venv}
LOG=${ASAN_LOG:-build/asan-logs}
mkdir -p "$LOG"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q numpy pytest hypothesis scikit-learn scikit-build-core pybind11 ninja cmake || exit 2
"$VENV/bin/pip" install -q --no-build-isolation \
  -Ccmake.define.EMBER_ASAN=ON -Cbuild-dir=build/asan . || exit 2
# The sanitizer runtimes must be loaded before anything else: python is not built with
# them, and libasan must come first to intercept malloc. libstdc++ is preloaded too:
# ASan's __cxa_throw interceptor must find the real one at start-up or every C++
# exception (our ValueErrors) aborts.
PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so) $(g++ -print-file-name=libstdc++.so)"
# Python itself leaks by design at exit: we look for memory errors and UB, not leaks.
# abort_on_error: a report kills the process with SIGABRT, which the fuzz harness counts
# as a crash naming the call.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
export LD_PRELOAD="$PRELOAD"
"$VENV/bin/python" -m pytest tests -q -p no:cacheprovider "$@" 2>&1 | tee "$LOG/pytest.log"
pytest_rc=${PIPESTATUS[0]}
"$VENV/bin/python" -m tests.fuzz --minutes "$FUZZ_MIN" --path all 2>&1 | tee "$LOG/fuzz.log"
fuzz_rc=${PIPESTATUS[0]}
unset LD_PRELOAD
# A report in the test process shows in its log; one in a fuzz child kills that child
# (abort_on_error), which the harness lists as a "crash" line with the sanitizer's message.
reports=$(cat "$LOG"/*.log | grep -c -E "ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer|^  crash ")
echo "== sanitizer summary: pytest exit $pytest_rc, fuzz exit $fuzz_rc, sanitizer reports and crashes: $reports (logs in $LOG)"
grep -E "^[0-9]+ (passed|failed)|passed|^total " "$LOG/pytest.log" "$LOG/fuzz.log" | tail -6
[ "$reports" -eq 0 ] || exit 1
