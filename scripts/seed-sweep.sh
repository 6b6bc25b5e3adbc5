#!/bin/bash
# Trains SPEC for its shipped epochs once per seed FIRST..LAST and prints each seed's test
# accuracy, then the median, the mean and how many seeds reached TARGET (default 98.0%).
#   scripts/seed-sweep.sh Models/lenet.yaml 1 20 [WEIGHT_INIT] [TARGET]
# With WEIGHT_INIT (glorot_uniform, lecun_uniform, he_uniform) a copy of the spec with that
# `weight_init` is trained instead, beside the original so its data path still resolves.
# LOWERING=gemm (or auto) in the environment passes `--lowering` to every run.
set -euo pipefail
spec=$1 first=$2 last=$3 init=${4:-} target=${5:-98.0}
cnnc=${CNNC:-.build/release/cnnc}
work=$(mktemp -d)
trap 'rm -rf "$work" "${variant:-}"' EXIT
if [ -n "$init" ]; then
  variant="$(dirname "$spec")/.seed-sweep-$init-$$.yaml"
  # Drop any weight_init line, then add ours right after `train:`.
  grep -v '^  weight_init:' "$spec" | sed "s/^train:\$/train:\n  weight_init: $init/" > "$variant"
  spec=$variant
fi
for seed in $(seq "$first" "$last"); do
  # Progress goes to stderr; shown only when a run fails.
  if ! "$cnnc" run "$spec" --train --seed "$seed" ${LOWERING:+--lowering "$LOWERING"} --json \
    --out "$work/seed.safetensors" \
    > "$work/run.json" 2> "$work/run.err"; then
    cat "$work/run.err" >&2
    exit 1
  fi
  sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p' "$work/run.json" |
    awk -v s="$seed" '{printf "seed %d: %.2f%%\n", s, 100 * $1}'
done | tee "$work/accuracies"
awk '{sub("%", "", $3); print $3}' "$work/accuracies" | sort -n | awk -v t="$target" '
  { x[NR] = $1; sum += $1; if ($1 >= t) hits++ }
  END { m = NR % 2 ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
        printf "median %.2f%%, mean %.2f%% over %d seeds; %d reached %.1f%%\n", m, sum / NR, NR, hits, t }'
