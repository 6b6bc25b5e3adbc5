#!/usr/bin/env bash
# The whole test suite (after scripts/setup.sh --packages):
#   - swift-format's lint over the Swift sources;
#   - the Swift tests, in release (one counts heap allocations, meaningful only optimised);
#   - multi-process training under mpirun, over shared memory and TCP, and as two hosts in two
#     network namespaces (that one needs root; skipped, saying so, otherwise);
#   - `cnnc compile` on every shipped MNIST model: GCC and Clang without a warning, the
#     self-tests natively and under qemu-arm, Cortex-M4 sizes, LeNet over the MNIST test set;
#   - the spec's JSON Schema against the shipped specs and the docs' examples; ONNX export and
#     import against ONNX Runtime, random pooling layers and convolutions, the
#     .npy/.npz files NumPy writes, and pooling gradients against PyTorch (pip installs onnx,
#     onnxruntime, numpy and torch; a check whose packages cannot be installed says so);
#   - the library's documentation, every symbol link resolving.
# With --sanitizers, the Swift tests again under AddressSanitizer and ThreadSanitizer (optimised
# builds); with --fuzz SECONDS, each reader of untrusted bytes under libFuzzer. .ci/run passes
# both.
#   scripts/test.sh [--sanitizers] [--fuzz SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=false
fuzz_seconds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitizers) sanitizers=true ;;
    --fuzz) fuzz_seconds="$2"; shift ;;
    *) echo "usage: scripts/test.sh [--sanitizers] [--fuzz SECONDS]" >&2; exit 64 ;;
  esac
  shift
done

skipped=()
# Formatting first (seconds): swift-format, which ships with the toolchain, by the committed
# .swift-format; the generated ONNX bindings are left as protoc wrote them.
find Sources Tests Fuzz Benchmarks -name '*.swift' -not -path '*/Generated/*' -not -path '*/.build*' \
  -print0 | xargs -0 swift-format lint --strict
swift test -c release -Xswiftc -enable-testing
# Multi-process training under mpirun -np 2, over shared memory and over TCP.
scripts/mpi-check.sh
# Two ranks in two network namespaces, as two hosts joined by a switch.
if [ "$(id -u)" -eq 0 ]; then
  scripts/mpi-two-hosts.sh
else
  echo "skipped scripts/mpi-two-hosts.sh: network namespaces need root"
  skipped+=(mpi-two-hosts.sh)
fi

# Every shipped MNIST model compiled to C, built and checked natively, for 32-bit ARM and for
# a Cortex-M4.
scripts/compile-check.sh

# The spec language's JSON Schema against every shipped spec and the documentation's examples.
if python3 -m pip install -q jsonschema pyyaml; then
  python3 scripts/schema-check.py
else
  echo "skipped scripts/schema-check.py: pip could not install jsonschema and pyyaml"
  skipped+=(schema-check.py)
fi
# PyTorch first: the ONNX check below also imports PyTorch's own export when torch is there.
torch=false
python3 -m pip install -q torch numpy && torch=true
# Every shipped MNIST model exported to ONNX and run by the real ONNX Runtime.
if python3 -m pip install -q onnx onnxruntime numpy; then
  python3 scripts/onnx-export-check.py
  # Random pooling layers and convolutions through cnnc import, run and export, against ONNX Runtime.
  python3 scripts/onnx-pooling-check.py
  # .npy and .npz files written by NumPy itself train as the IDX files they came from.
  python3 scripts/data-formats-check.py
  # Every shipped MNIST model's int8 checkpoint exported as QDQ: ONNX Runtime's argmax against cnnc's.
  python3 scripts/onnx-int8-check.py
else
  echo "skipped scripts/onnx-export-check.py, onnx-pooling-check.py, data-formats-check.py and onnx-int8-check.py: pip could not install onnx, onnxruntime and numpy"
  skipped+=(onnx-export-check.py onnx-pooling-check.py data-formats-check.py onnx-int8-check.py)
fi

# Random pooling layers' gradients against PyTorch's, through one SGD step.
if $torch; then
  python3 scripts/pooling-gradient-check.py
else
  echo "skipped scripts/pooling-gradient-check.py: pip could not install torch"
  skipped+=(pooling-gradient-check.py)
fi

# The library's documentation builds, every symbol link resolving (Sources/CNNC/CNNC.docc).
swift package generate-documentation --target CNNC --warnings-as-errors

if $sanitizers; then
  # Optimised, as the code ships (its vector paths, its inlining) and several times faster than
  # debug builds; SANITIZED turns off the heap-counting tests, which the sanitizers' own
  # allocators would confuse. Leaks reported only in the toolchain's own libraries are
  # suppressed; see .ci/lsan.supp.
  sanitized=(-c release -Xswiftc -enable-testing -Xswiftc -DSANITIZED)
  LSAN_OPTIONS="suppressions=$PWD/.ci/lsan.supp" \
    swift test "${sanitized[@]}" --sanitize=address --build-path .build-asan
  swift test "${sanitized[@]}" --sanitize=thread --build-path .build-tsan
fi
if [ -n "$fuzz_seconds" ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi
if [ ${#skipped[@]} -gt 0 ]; then
  echo "all tests run passed; skipped: ${skipped[*]}"
else
  echo "all tests passed"
fi
