#!/usr/bin/env bash
# Prints docs/memory.md's table: arena, naive and lower-bound bytes of every model in
# Models/, both modes, at the batch given (default 64). Run from the repository root.
set -euo pipefail
batch=${1:-64}
swift build -c release >/dev/null
echo "| model | mode | arena bytes | naive bytes | lower bound | arena / bound |"
echo "|---|---|---:|---:|---:|---:|"
for spec in Models/*.yaml; do
  .build/release/cnnc check "$spec" --batch "$batch" --json 2>/dev/null | python3 -c '
import json, sys
report = json.load(sys.stdin)
for mode in ("inference", "training"):
    m = report["memory"][mode]
    ratio = m["arena_bytes"] / m["lower_bound_bytes"]
    cells = [report["name"], mode] + ["{:,}".format(m[k]) for k in ("arena_bytes", "naive_bytes", "lower_bound_bytes")]
    print("| " + " | ".join(cells) + " | %.3f |" % ratio)
'
done
