#!/usr/bin/env bash
# `cnnc compile` on every shipped MNIST model, every check able to fail:
#   - each model trained for a few steps, compiled with --test, and its C built with GCC and
#     with Clang under -std=c99 -O2 -Wall -Wextra -Werror -pedantic; the self-test (the C's
#     outputs against cnnc's own executor's) run natively and, built with
#     arm-linux-gnueabihf-gcc, as a 32-bit ARM program under qemu-arm;
#   - the object built for a Cortex-M4 (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2, and
#     Clang for the same target, both with the strict flags), its text, data and bss printed
#     beside the arena and the plan's lower bound;
#   - LeNet trained for an epoch, compiled, and run over MNIST's 10,000 test images one at a
#     time: the same largest output as `cnnc run --weights` on every image, and LENET_ARENA_BYTES
#     at most 28,800;
#   - LeNet quantized to int8 and compiled: its self-test natively and under qemu-arm, an arena
#     of at most 8,000 bytes and constants of at most 440,000, and the same largest output as
#     `cnnc run --weights` of the int8 checkpoint on every test image.
# Usage: scripts/compile-check.sh   (after the README's test command, whose build it reuses;
# needs the compilers and qemu-user that scripts/setup.sh installs)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
swift build -c release -Xswiftc -enable-testing --product cnnc
cnnc="$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/cnnc"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "ok: $1"; }
fail() {
  echo "FAIL: $1"
  failures=$((failures + 1))
}
strict=(-std=c99 -O2 -Wall -Wextra -Werror -pedantic)

printf '%-16s %10s %12s %10s %6s %5s\n' model arena lower-bound text data bss
for model in lenet lenet-adam allconv allconv-bn inception residual mobilenet-mnist; do
  name=${model//-/_}
  dir=$work/$name
  mkdir -p "$dir"
  "$cnnc" run "Models/$model.yaml" --train --steps 20 --out "$dir/weights.safetensors" \
    >"$dir/train.log" 2>&1 || { fail "$model: training for 20 steps"; continue; }
  if ! "$cnnc" compile "Models/$model.yaml" --weights "$dir/weights.safetensors" -o "$dir" \
    --name "$name" --test >"$dir/compile.log" 2>&1; then
    fail "$model: cnnc compile"; cat "$dir/compile.log"; continue
  fi
  for cc in gcc clang; do
    if "$cc" "${strict[@]}" "$dir/$name.c" "$dir/${name}_test.c" -lm -o "$dir/test-$cc" \
      && "$dir/test-$cc" >"$dir/test-$cc.log"; then
      pass "$model: built by $cc without a warning, self-test: $(cat "$dir/test-$cc.log")"
    else
      fail "$model: $cc build or self-test"; cat "$dir/test-$cc.log" 2>/dev/null || true
    fi
  done
  if arm-linux-gnueabihf-gcc "${strict[@]}" -static "$dir/$name.c" "$dir/${name}_test.c" -lm \
    -o "$dir/test-arm" && qemu-arm "$dir/test-arm" >"$dir/test-arm.log"; then
    pass "$model: 32-bit ARM under qemu-arm, self-test: $(cat "$dir/test-arm.log")"
  else
    fail "$model: 32-bit ARM build or self-test under qemu-arm"
  fi
  if arm-none-eabi-gcc "${strict[@]}" -mcpu=cortex-m4 -mthumb -c "$dir/$name.c" -o "$dir/m4.o"
  then
    arena=$(grep -o '_ARENA_BYTES *[0-9]*' "$dir/$name.h" | grep -o '[0-9]*$')
    bound=$(grep -o "lower bound: [0-9]*" "$dir/$name.c" | grep -o '[0-9]*$')
    read -r text data bss _ < <(arm-none-eabi-size "$dir/m4.o" | tail -1)
    printf '%-16s %10s %12s %10s %6s %5s\n' "$model" "$arena" "$bound" "$text" "$data" "$bss"
  else
    fail "$model: Cortex-M4 build by arm-none-eabi-gcc"
  fi
  if ! clang --target=arm-none-eabi -mcpu=cortex-m4 -mthumb "${strict[@]}" \
    -isystem /usr/lib/arm-none-eabi/include -c "$dir/$name.c" -o "$dir/m4-clang.o"; then
    fail "$model: Cortex-M4 build by clang"
  fi
done

# LeNet over the whole test set, against cnnc run --weights.
dir=$work/accuracy
mkdir -p "$dir"
"$cnnc" run Models/lenet.yaml --train --out "$dir/lenet.safetensors" >"$dir/train.log" 2>&1
"$cnnc" compile Models/lenet.yaml --weights "$dir/lenet.safetensors" -o "$dir" >/dev/null
"$cnnc" run Models/lenet.yaml --weights "$dir/lenet.safetensors" --output "$dir/outputs.npy" \
  >"$dir/run.log"
gzip -dc Models/data/mnist/t10k-images-idx3-ubyte.gz >"$dir/images"
gzip -dc Models/data/mnist/t10k-labels-idx1-ubyte.gz >"$dir/labels"
gcc "${strict[@]}" -I"$dir" -include lenet.h -DRUN=lenet_run -DPREFIX=LENET_ \
  scripts/compile/mnist_accuracy.c "$dir/lenet.c" -lm -o "$dir/accuracy"
result=$("$dir/accuracy" "$dir/images" "$dir/labels" "$dir/outputs.npy")
echo "cnnc run --weights: $(grep -o 'accuracy [0-9.]*%' "$dir/run.log" | head -1)"
echo "compiled LeNet:     $result"
if [[ $result == *"differs from cnnc run's on 0 images"* ]]; then
  pass "compiled LeNet: the same largest output as cnnc run --weights on every test image"
else
  fail "compiled LeNet: argmax differs from cnnc run --weights"
fi
arena=$(grep -o 'LENET_ARENA_BYTES *[0-9]*' "$dir/lenet.h" | grep -o '[0-9]*$')
if [ "$arena" -le 28800 ]; then
  pass "LENET_ARENA_BYTES $arena <= 28,800"
else
  fail "LENET_ARENA_BYTES $arena > 28,800"
fi

# LeNet in int8: quantized (cnnc quantize -o), compiled, its self-test (bit for bit against the
# integer reference) natively and under qemu-arm, its Cortex-M4 size, and the whole test set
# against cnnc run --weights of the int8 checkpoint.
"$cnnc" quantize Models/lenet.yaml --weights "$dir/lenet.safetensors" --test-images 100 \
  -o "$dir/lenet-int8.safetensors" >/dev/null
mkdir -p "$dir/int8"
"$cnnc" compile Models/lenet.yaml --weights "$dir/lenet-int8.safetensors" -o "$dir/int8" --test \
  >"$dir/int8/compile.log"
for cc in gcc clang; do
  if "$cc" "${strict[@]}" "$dir/int8/lenet.c" "$dir/int8/lenet_test.c" -lm -o "$dir/int8/test-$cc" \
    && "$dir/int8/test-$cc" >"$dir/int8/test.log"; then
    pass "int8 LeNet: built by $cc, self-test: $(cat "$dir/int8/test.log")"
  else
    fail "int8 LeNet: $cc build or self-test"
  fi
done
if arm-linux-gnueabihf-gcc "${strict[@]}" -static "$dir/int8/lenet.c" "$dir/int8/lenet_test.c" -lm \
  -o "$dir/int8/test-arm" && qemu-arm "$dir/int8/test-arm" >"$dir/int8/test-arm.log"; then
  pass "int8 LeNet: 32-bit ARM under qemu-arm, self-test: $(cat "$dir/int8/test-arm.log")"
else
  fail "int8 LeNet: 32-bit ARM build or self-test under qemu-arm"
fi
arm-none-eabi-gcc "${strict[@]}" -mcpu=cortex-m4 -mthumb -c "$dir/int8/lenet.c" -o "$dir/int8/m4.o"
echo "int8 LeNet, Cortex-M4 object: $(arm-none-eabi-size "$dir/int8/m4.o" | tail -1)"
grep '^arena' "$dir/int8/compile.log"
arena=$(grep -o 'LENET_ARENA_BYTES *[0-9]*' "$dir/int8/lenet.h" | grep -o '[0-9]*$')
constants=$(grep -o '^arena.*constants [0-9,]*' "$dir/int8/compile.log" | grep -o '[0-9,]*$' | tr -d ,)
if [ "$arena" -le 8000 ] && [ "$constants" -le 440000 ]; then
  pass "int8 LENET_ARENA_BYTES $arena <= 8,000, constants $constants <= 440,000 bytes"
else
  fail "int8 LeNet: arena $arena (target 8,000) or constants $constants (target 440,000)"
fi
"$cnnc" run Models/lenet.yaml --weights "$dir/lenet-int8.safetensors" \
  --output "$dir/int8/outputs.npy" >"$dir/int8/run.log"
gcc "${strict[@]}" -I"$dir/int8" -include lenet.h -DRUN=lenet_run -DPREFIX=LENET_ \
  scripts/compile/mnist_accuracy.c "$dir/int8/lenet.c" -lm -o "$dir/int8/accuracy"
result=$("$dir/int8/accuracy" "$dir/images" "$dir/labels" "$dir/int8/outputs.npy")
echo "cnnc run --weights (int8): $(grep -o 'accuracy [0-9.]*%' "$dir/int8/run.log" | head -1)"
echo "compiled int8 LeNet:       $result"
if [[ $result == *"differs from cnnc run's on 0 images"* ]]; then
  pass "compiled int8 LeNet: the same largest output as cnnc run --weights on every test image"
else
  fail "compiled int8 LeNet: argmax differs from cnnc run --weights"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all compile checks passed"
