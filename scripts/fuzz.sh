#!/usr/bin/env bash
# Fuzzes each of cnnc's readers of untrusted bytes with libFuzzer (Fuzz/, one target each) for
# SECONDS seconds (default 60), under AddressSanitizer with leak detection. Fails on the first
# crash, leak, trap, per-input timeout (10 s) or memory blow-up (2 GiB); libFuzzer prints the
# input that did it and saves it as crash-*/leak-*/timeout-* in the current folder.
# New inputs found go to .build-fuzz/corpus/<target>; the committed seeds stay in Fuzz/Corpus.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzSpec FuzzSafeTensors FuzzIDX FuzzNumPy FuzzNumPyReader FuzzONNX FuzzFolderWalk)

# Swift's -sanitize=fuzzer adds no coverage counters to optimised code, so they are asked for.
(cd Fuzz && swift build -c release --build-path ../.build-fuzz \
  --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing \
  -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table)

export LSAN_OPTIONS="suppressions=$PWD/.ci/lsan.supp"
for target in "${targets[@]}"; do
  corpus=".build-fuzz/corpus/$target"
  mkdir -p "$corpus"
  echo "== $target: ${seconds} s"
  log=".build-fuzz/$target.log"
  status=0
  ".build-fuzz/release/$target" "$corpus" "Fuzz/Corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E "^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "$target failed (exit $status); whole log: $log" >&2
    exit 1
  fi
done
