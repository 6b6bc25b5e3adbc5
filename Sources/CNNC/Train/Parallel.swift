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
