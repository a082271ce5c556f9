#!/usr/bin/env bash
# bench/bgqueue.sh - what host->enqueue costs its caller (issue 6: "a
# benchmark shows its cost in microseconds"): p50/p99/max ns per enqueue,
# with one thread and trivial handlers, with a full queue and slow handlers, and with no
# thread serving it. usage: bench/bgqueue.sh (BUILD=dir)
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init dx-bench-bg
taskset -c "$CLIENT_CPU" "$BUILD/tests/unit/bench_bgqueue"
