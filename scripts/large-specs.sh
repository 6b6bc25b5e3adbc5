#!/usr/bin/env bash
# Times `cnnc check` on the largest specs it takes, with every output option: a 10,000-layer
# chain, the same with one 100,000-character layer name, and 9,996 branches into one concat.
# Prints seconds and peak memory (GNU time's %M) per run; docs/robustness.md's promise is < 2 s and
# < 200 MB each. Run from the repository root.
set -euo pipefail
swift build -c release >/dev/null
cnnc=.build/release/cnnc
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
python3 - "$folder" <<'PY'
import sys
folder = sys.argv[1]
tail = "  - {type: dense, units: 10}\n  - {type: softmax}\n"
head = "input: [1, 8, 8]\nlayers:\n"
open(folder + "/chain.yaml", "w").write(head + "  - {type: relu}\n" * 9998 + tail)
open(folder + "/long-name.yaml", "w").write(
    head + "  - {type: relu, name: %s}\n" % ("n" * 100000) + "  - {type: relu}\n" * 9997 + tail)
names = ["b%d" % i for i in range(9996)]
open(folder + "/wide.yaml", "w").write(
    head + "".join("  - {type: relu, name: %s, input: input}\n" % n for n in names)
    + "  - {type: concat, input: [%s]}\n" % ", ".join(names) + "  - {type: flatten}\n" + tail)
PY
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
printf "%-15s %-36s %8s %10s %12s\n" spec options seconds "peak MB" "output bytes"
for spec in chain long-name wide; do
  for options in "" "--json" "--dot" "--batch 64" "--json --batch 64" "--plan" \
    "--plan --batch 64" "--plan --batch 64 --mode inference"; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e %M" -o "$folder/time" $cnnc check "$folder/$spec.yaml" $options \
      >"$folder/out" 2>"$folder/err" || { echo "failed: $spec $options"; cat "$folder/err"; exit 1; }
    read -r seconds kilobytes <"$folder/time"
    printf "%-15s %-36s %8s %10d %12d\n" "$spec" "${options:-(none)}" "$seconds" \
      $((kilobytes / 1024)) "$(stat -c %s "$folder/out")"
  done
done
