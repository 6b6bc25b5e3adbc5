import MallocCounter
import Testing

@testable import CNNC

/// Debug builds allocate in places release builds do not (unspecialised generics, exclusivity
/// checks), so the count is only meaningful in an optimised build: the README's test command
/// builds the tests in release mode.
#if DEBUG
  let isOptimizedBuild = false
#else
  let isOptimizedBuild = true
#endif

@Suite struct AllocationTests {
  @Test(
    .enabled(if: isOptimizedBuild, "heap counts are only meaningful in release builds"),
    .enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"),
    arguments: ["lenet.yaml", "inception.yaml", "residual.yaml"], KernelISA.supported)
  func trainingAndInferenceStepsAllocateNothing(_ model: String, _ isa: KernelISA) throws {
    let text = try String(contentsOfFile: modelPath(model), encoding: .utf8)
    let network = try InferredNetwork(yaml: text)
    for mode in PlanMode.allCases {
      let executor = try Executor(
        plan: try Planner.plan(network, PlanOptions(mode: mode, batch: 8, isa: isa)))
      _ = executor.input.update(fromContentsOf: randomValues(executor.input.count, seed: 1))
      if let labels = executor.labels {
        _ = labels.update(fromContentsOf: (0..<8).map { Int32($0 % 10) })
      }
      // The first step is a warm-up, as a caller would run it.
      mode == .training ? _ = executor.trainStep() : executor.forward()
      malloc_counter_start()
      for _ in 0..<3 {
        if mode == .training { executor.trainStep() } else { executor.forward() }
      }
      let calls = malloc_counter_stop()
      #expect(calls == 0, "\(model) \(mode) \(isa): \(calls) heap allocations in 3 steps")
    }
  }

  /// Batch-1 inference split across a team of threads: the same outputs, bit for bit, as one
  /// thread, and no allocation on the calling thread.
  @Test(
    .enabled(if: isOptimizedBuild, "heap counts are only meaningful in release builds"),
    .enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"),
    arguments: ["lenet.yaml", "inception.yaml", "residual.yaml"])
  func batchOneSplitAcrossThreads(_ model: String) throws {
    let text = try String(contentsOfFile: modelPath(model), encoding: .utf8)
    let network = try InferredNetwork(yaml: text)
    let single = try Executor(
      plan: try Planner.plan(network, PlanOptions(mode: .inference, batch: 1)))
    let split = try Executor(
      plan: try Planner.plan(network, PlanOptions(mode: .inference, batch: 1, imageThreads: 2)))
    _ = split.weights.update(fromContentsOf: single.weights)
    let image = randomValues(single.input.count, seed: 4)
    _ = single.input.update(fromContentsOf: image)
    _ = split.input.update(fromContentsOf: image)
    single.forward()
    split.forward()
    #expect(single.output.map(\.bitPattern) == split.output.map(\.bitPattern), "\(model)")
    malloc_counter_start()
    for _ in 0..<3 { split.forward() }
    let calls = malloc_counter_stop()
    #expect(calls == 0, "\(model): \(calls) heap allocations in 3 split forward passes")
  }

  /// The counter itself works: an allocation between start and stop is seen.
  @Test(.enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"))
  func counterSeesAnAllocation() {
    malloc_counter_start()
    let pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1000)
    let calls = malloc_counter_stop()
    pointer.deallocate()
    #expect(calls >= 1)
  }
}
