import Dispatch

/// Runs `body(0..<count)` on up to `count` threads, inline when there is one: the workers of a
/// data-parallel step. Each iteration must touch only its own part of shared state.
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
  guard count > 1 else {
    if count == 1 { body(0) }
    return
  }
  withoutActuallyEscaping(body) { body in
    let shared = UncheckedSendable(value: body)
    DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
  }
}

/// Hands state to concurrent iterations that each use a disjoint part of it.
struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
}

/// How a batch is split across data-parallel workers: up to `threads` slices of consecutive
/// samples, as even as they can be (the first `batch % workers` take one more).
func workerSlices(batch: Int, threads: Int) -> [(start: Int, count: Int)] {
  let workers = max(1, min(threads, batch))
  var slices: [(start: Int, count: Int)] = []
  var start = 0
  for worker in 0..<workers {
    let count = batch / workers + (worker < batch % workers ? 1 : 0)
    slices.append((start, count))
    start += count
  }
  return slices
}
