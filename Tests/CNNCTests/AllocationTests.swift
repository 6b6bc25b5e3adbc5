import MallocCounter
import Testing

@testable import CNNC

/// Debug builds allocate in places release builds do not (unspecialised generics, exclusivity
/// checks), so the count is only meaningful in an optimised build: the README's test command
/// builds the tests in release mode. The sanitizer runs are optimised too (scripts/test.sh
/// defines SANITIZED there) but keep their own allocators, so they do not count.
#if DEBUG
  let isOptimizedBuild = false
#else
  let isOptimizedBuild = true
#endif
#if DEBUG || SANITIZED
  let heapIsCounted = false
#else
  let heapIsCounted = true
#endif

@Suite struct AllocationTests {
  /// A net whose second convolution runs by Winograd's F(2×2, 3×3) (64 channels, 64 filters).
  static let winogradNet = """
    input: [3, 12, 12]
    layers:
      - {type: conv, filters: 64, kernel: 3, pad: 1}
      - {type: relu}
      - {type: conv, filters: 64, kernel: 3, pad: 1}
      - {type: maxpool, kernel: 2}
      - {type: dense, units: 10}
      - {type: softmax}
    """

  /// A shipped model's spec by file name, or a spec given inline.
  static func specText(_ model: String) throws -> String {
    model.hasSuffix(".yaml")
      ? try String(contentsOfFile: modelPath(model), encoding: .utf8) : model
  }

  @Test(
    .enabled(
      if: heapIsCounted, "heap counts are only meaningful in release builds without sanitizers"),
    .enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"),
    arguments: [
      "lenet.yaml", "inception.yaml", "residual.yaml", "mobilenet-mnist.yaml", winogradNet,
    ], KernelISA.supported)
  func trainingAndInferenceStepsAllocateNothing(_ model: String, _ isa: KernelISA) throws {
    let network = try InferredNetwork(yaml: try Self.specText(model))
    for mode in PlanMode.allCases {
      let executor = try Executor(
        plan: try Planner.plan(network, PlanOptions(mode: mode, batch: 8, isa: isa)))
      _ = executor.input.update(fromContentsOf: randomValues(executor.input.count, seed: 1))
      if let labels = executor.labels {
        _ = labels.update(fromContentsOf: (0..<8).map { Int32($0 % 10) })
      }
      // The first step is a warm-up, as a caller would run it.
      if mode == .training { executor.trainStep() } else { executor.forward() }
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
    .enabled(
      if: heapIsCounted, "heap counts are only meaningful in release builds without sanitizers"),
    .enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"),
    arguments: ["lenet.yaml", "inception.yaml", "residual.yaml", winogradNet])
  func batchOneSplitAcrossThreads(_ model: String) throws {
    let network = try InferredNetwork(yaml: try Self.specText(model))
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

  /// Reading a batch of PNG samples (open, read, decode by libpng into its arena, normalise,
  /// augment) allocates nothing once the buffers have grown, as training's read-ahead does it.
  @Test(
    .enabled(
      if: heapIsCounted, "heap counts are only meaningful in release builds without sanitizers"),
    .enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"))
  func readingPNGSamplesAllocatesNothing() throws {
    let folder = try DataFileWriters.folder()
    for index in 0..<6 {
      try DataFileWriters.makeFolder("\(folder)/\(index % 2)")
      try DataFileWriters.png(
        (0..<784).map { UInt8(($0 * (index + 1)) % 256) }, height: 28, width: 28,
        to: "\(folder)/\(index % 2)/\(index).png")
    }
    let shape = Shape(channels: 1, height: 28, width: 28)
    // Held as the trainer holds it: an existential made once, not at every call.
    let data: any ImageDataset = try ImageFolder(classes: folder, shape: shape)
    let samples = WorkerSamples(
      Preprocessing(scale: 1 / 255, mean: [0.5], std: [0.25], randomCrop: .init(pad: 2)),
      shape: shape, capacity: 6)
    let position = WorkerSamples.Position(epoch: 0, batchInEpoch: 0)
    let order = [5, 3, 1, 0, 2, 4]
    samples.stage(data, order[...], at: position, seed: 1)  // warm-up
    malloc_counter_start()
    for epoch in 1...3 {
      samples.stage(data, order[...], at: .init(epoch: epoch, batchInEpoch: 0), seed: 1)
    }
    let calls = malloc_counter_stop()
    #expect(calls == 0, "\(calls) heap allocations reading 18 PNG samples")
    // And what was read is the images (a failure would have been kept, not thrown).
    let executor = try Executor(
      plan: try Planner.plan(
        InferredNetwork(yaml: DataFormatTests.spec("{format: mnist, path: x}")),
        PlanOptions(mode: .training, batch: 6)))
    try samples.deliver(to: executor)
    // Class folders "0" (files 0, 2, 4: samples 0-2) and "1" (files 1, 3, 5: samples 3-5).
    #expect(executor.labels.map(Array.init) == [1, 1, 0, 0, 0, 1])
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
