#!/usr/bin/env bash
# Multi-process training under mpirun (Open MPI), every check able to fail:
#   - 2 processes × 1 thread give the checkpoint and resume state that 1 process × 2 threads
#     gives, bit for bit, over shared memory (btl vader) and over TCP (btl tcp), and the same
#     test accuracy (evaluation split across the ranks);
#   - 2 × 2 gives 1 × 4, run after run; a resume state moves between the two layouts;
#   - a resume state from another number of workers, and a batch that does not split, are
#     refused with a message; so are ranks started with different specs or options;
#   - SIGTERM to a rank stops every rank after the same step with a consistent save (resuming it
#     reaches the checkpoint an uninterrupted run reaches);
#   - a rank killed, or hung (SIGSTOP, with --step-timeout), ends the job instead of hanging it.
# Usage: scripts/mpi-check.sh   (after the README's test command, whose build it reuses)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/mpi/setup.sh
lenet=$root/Models/lenet.yaml
stateful=$root/scripts/mpi/lenet-dropout-bn.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

mpi=(timeout 300 mpirun --oversubscribe -np 2)
shm=(--mca btl self,vader)
tcp=(--mca btl self,tcp)
failures=0
pass() { echo "ok: $1"; }
fail() {
  echo "FAIL: $1"
  failures=$((failures + 1))
}
same() {  # checkpoint a, checkpoint b, what
  if cmp -s "$1" "$2" && cmp -s "$1.resume" "$2.resume"; then pass "$3"; else fail "$3"; fi
}
accuracy() { grep -o '"test_accuracy":[^,}]*' "$1"; }
same_accuracy() {  # --json of 1 process, --json of 2 ranks, what
  if [ "$(accuracy "$1")" = "$(accuracy "$2")" ] && [ -n "$(accuracy "$2")" ]; then
    pass "the same test accuracy $3 ($(accuracy "$2"))"
  else
    fail "test accuracy $3: 1 process $(accuracy "$1"), 2 ranks $(accuracy "$2")"
  fi
}
run() { timeout 300 "$cnnc" run "$@" --train --json 2>/dev/null; }
mpirun_run() { "${mpi[@]}" "$@" 2>/dev/null; }

# 1. Shared memory, LeNet.
run "$lenet" --steps 40 --threads 2 --out t2.safetensors >t2.json
mpirun_run "${shm[@]}" "$cnnc" run "$lenet" --train --json --steps 40 --out m2.safetensors >m2.json
same t2.safetensors m2.safetensors "2 ranks x 1 thread (shared memory) = 1 process x 2 threads"
same_accuracy t2.json m2.json "evaluated across 2 ranks"

# 2. TCP, with batchnorm running statistics and dropout random states.
run "$stateful" --steps 40 --threads 2 --out s2.safetensors >s2.json
mpirun_run "${tcp[@]}" "$cnnc" run "$stateful" --train --json --steps 40 --out sm.safetensors >sm.json
same s2.safetensors sm.safetensors "2 ranks x 1 thread (TCP) = 1 process x 2 threads, batchnorm + dropout"
# Rank 1 evaluates with rank 0's running statistics, or this differs.
same_accuracy s2.json sm.json "with batchnorm"

# 3. 2 ranks x 2 threads = 1 process x 4 threads, twice.
run "$stateful" --steps 30 --threads 4 --out s4.safetensors >/dev/null
for attempt in 1 2; do
  mpirun_run "${shm[@]}" "$cnnc" run "$stateful" --train --steps 30 --threads 2 \
    --out "m4-$attempt.safetensors" >/dev/null
  same s4.safetensors "m4-$attempt.safetensors" "2 ranks x 2 threads = 1 process x 4 threads (run $attempt)"
done

# 4. A resume state moves between 1 x 2 and 2 x 1.
run "$lenet" --steps 20 --threads 2 --out r.safetensors >/dev/null
mpirun_run "${shm[@]}" "$cnnc" run "$lenet" --train --steps 40 --resume r.safetensors \
  --out r40.safetensors >/dev/null
same t2.safetensors r40.safetensors "resumed under 2 ranks from 1 process x 2 threads"

# 5. Refusals.
if "${mpi[@]}" "${shm[@]}" "$cnnc" run "$lenet" --train --steps 40 --threads 2 \
  --resume r.safetensors --out bad.safetensors >bad.out 2>&1; then
  fail "a resume state of 2 workers taken by 4"
elif grep -q "saved by 2 workers, but this run has 2 processes × 2 threads = 4" bad.out; then
  pass "a resume state of 2 workers is refused by 2 x 2, naming both"
else
  fail "the refusal of a resume state of 2 workers says: $(grep error bad.out | head -2)"
fi
if "${mpi[@]}" "${shm[@]}" "$cnnc" run "$lenet" --train --steps 5 --batch 63 \
  --out odd.safetensors >odd.out 2>&1; then
  fail "batch 63 over 2 ranks"
elif grep -q "batch 63 does not split evenly across 2 processes × 1 thread = 2 workers" odd.out; then
  pass "batch 63 over 2 ranks is refused, naming the numbers"
else
  fail "the refusal of batch 63 says: $(grep error odd.out | head -2)"
fi

# 6. Ranks started differently are refused by every rank before any exchange, naming the
#    field (before, a different spec corrupted the heap and different --steps crashed MPI).
sed -e "s#path: data/mnist#path: $root/Models/data/mnist#" -e 's/filters: 20/filters: 16/' \
  "$lenet" >narrow.yaml
disagree() {  # what, rank 1's extra arguments (rank 0 runs lenet.yaml), expected message part
  local what=$1 expected=$3
  read -r -a rank1 <<<"$2"
  if timeout 120 mpirun --oversubscribe "${shm[@]}" \
    -np 1 "$cnnc" run "$lenet" --train --steps 3 --out d.safetensors : \
    -np 1 "$cnnc" run "${rank1[@]}" --train --out d.safetensors >d.out 2>&1; then
    fail "ranks with a different $what ran"
  # Rank 0's line at least: mpirun may end rank 1 before its own line is printed.
  elif grep -q "^error: the ranks were not started alike: $expected" d.out; then
    pass "a different $what is refused, naming it"
  else
    fail "a different $what: $(grep -i error d.out | head -2)"
  fi
}
disagree "step count" "$lenet --steps 5" "rank 0 and rank 1 differ in the step limit: 3 on rank 0, 5 on rank 1"
disagree "batch" "$lenet --steps 3 --batch 32" "rank 0 and rank 1 differ in the batch: 64 on rank 0, 32 on rank 1"
disagree "seed" "$lenet --steps 3 --seed 7" "rank 0 and rank 1 differ in the seed"
disagree "thread count" "$lenet --steps 3 --threads 2" "rank 0 and rank 1 differ in the thread count: 1 on rank 0, 2 on rank 1"
disagree "network" "narrow.yaml --steps 3" "rank 0 and rank 1 differ in the spec's network"

# Starts an epoch of LeNet on 2 ranks in the background (pid in $job); returns once a step
# has been reported.
start_job() {
  # The last job's log must not answer for this one.
  rm -f job.out job.err
  "${mpi[@]}" "${shm[@]}" "$cnnc" run "$lenet" --train "$@" >job.out 2>job.err &
  job=$!
  for _ in $(seq 600); do
    grep -q "step" job.err 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# The newest rank of the background job (a child of its mpirun, which is a child of timeout),
# so that no other cnnc on the machine is touched.
job_rank() {
  local launcher
  launcher=$(pgrep -P "$job" -x mpirun)
  pgrep -n -P "$launcher" -x cnnc
}
# Waits up to $1 seconds for the background job; its exit status, or 255 when it hangs.
wait_job() {
  for _ in $(seq $(($1 * 10))); do
    kill -0 "$job" 2>/dev/null || {
      wait "$job" && return 0 || return $?
    }
    sleep 0.1
  done
  # Still running: end the whole job (ranks, mpirun, timeout), not just its first process.
  local launcher
  launcher=$(pgrep -P "$job" -x mpirun || true)
  [ -n "$launcher" ] && pkill -9 -P "$launcher" 2>/dev/null
  [ -n "$launcher" ] && kill -9 "$launcher" 2>/dev/null
  kill -9 "$job" 2>/dev/null
  return 255
}

# 6. SIGTERM to one rank (as a scheduler or a person may send it): its wish to stop travels in
# the step's exchange, every rank stops after the same step, and rank 0's save is consistent.
# (SIGTERM to mpirun reaches every rank the same way, but mpirun follows it with SIGKILL 1 s
# later, odls_base_sigkill_timeout, which a loaded machine's step and save can overrun.)
start_job --out term.safetensors
kill -TERM "$(job_rank)"
status=0
wait_job 60 || status=$?
if [ "$status" -ne 255 ] && grep -q "interrupted at step" job.err; then
  pass "SIGTERM: $(grep -o 'interrupted at step [0-9]*' job.err), exit $status"
  mpirun_run "${shm[@]}" "$cnnc" run "$lenet" --train --steps 700 --resume term.safetensors \
    --out term-700.safetensors >/dev/null
  run "$lenet" --steps 700 --threads 2 --out straight-700.safetensors >/dev/null
  same straight-700.safetensors term-700.safetensors "resuming the interrupted run reaches the uninterrupted one"
else
  fail "SIGTERM: status $status; $(tr '\r' '\n' <job.err | tail -3)"
fi

# 7. A rank killed ends the job.
start_job --out kill.safetensors
kill -9 "$(job_rank)"
status=0
wait_job 60 || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 255 ]; then
  pass "a rank killed with SIGKILL ends the job (mpirun exit $status)"
else
  fail "a rank killed: mpirun status $status (255: still running after 60 s)"
fi

# 8. A rank that hangs ends the job through --step-timeout.
start_job --out hang.safetensors --step-timeout 3
stopped_rank=$(job_rank)
kill -STOP "$stopped_rank"
status=0
wait_job 60 || status=$?
kill -9 "$stopped_rank" 2>/dev/null || true
if [ "$status" -ne 0 ] && [ "$status" -ne 255 ] && grep -q "no training step finished in 3 s" job.err; then
  pass "a rank stopped with SIGSTOP ends the job after --step-timeout 3 (exit $status)"
else
  fail "a hung rank: mpirun status $status (255: still running after 60 s)"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures MPI check(s) failed"
  exit 1
fi
echo "all MPI checks passed"
