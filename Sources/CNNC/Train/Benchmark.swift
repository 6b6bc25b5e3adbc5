import Dispatch

/// What `cnnc bench` measures, after a warm-up, as medians of repeated runs on random pixels:
/// training images/s (whole optimizer steps), inference images/s at the batch, batch-1 latency
/// (one image's layers split across the threads), and a per-layer profile timed inside the same
/// steps it is compared with.
///
/// ```swift
/// let report = try Benchmark(network: network, batch: 64, threads: 2).run()
/// print(report.trainImagesPerSecond, report.batch1LatencyMicroseconds)
/// ```
public struct Benchmark: Sendable {
  public let network: InferredNetwork
  public let batch: Int
  public let threads: Int
  public let repeats: Int
  /// Skip training throughput and the per-layer profile (big nets, inference comparisons).
  public var inferenceOnly: Bool
  /// How the training plans compute convolutions (default: the spec's train.lowering); inference
  /// plans choose by shape, as `run` and the evaluator do.
  public var lowering: ConvolutionLowering

  public init(
    network: InferredNetwork, batch: Int = 64, threads: Int = 1, repeats: Int = 7,
    inferenceOnly: Bool = false, lowering: ConvolutionLowering? = nil
  ) {
    self.network = network
    self.batch = batch
    self.threads = threads
    self.repeats = repeats
    self.inferenceOnly = inferenceOnly
    self.lowering = lowering ?? network.train?.lowering ?? .auto
  }

  /// One row of the per-layer profile: median milliseconds per batch for each pass.
  public struct LayerTime: Sendable {
    public var name: String
    public var type: String
    public var forwardMilliseconds: Double
    public var backwardMilliseconds: Double
  }

  /// Figures an inference-only run does not measure are NaN.
  public struct Report: Sendable {
    public var benchmark: Benchmark
    public var trainImagesPerSecond: Double
    public var inferImagesPerSecond: Double
    public var batch1LatencyMicroseconds: Double
    public var gflops: Double
    public var layers: [LayerTime]
    public var lossMilliseconds: Double
    public var stepMilliseconds: Double
    public var isa: KernelISA

    /// The per-layer times and the loss, added up: compare with `stepMilliseconds`.
    public var layersSumMilliseconds: Double {
      layers.reduce(lossMilliseconds) { $0 + $1.forwardMilliseconds + $1.backwardMilliseconds }
    }
  }

  public func run() throws -> Report {
    if inferenceOnly {
      let plan = try Planner.plan(
        network, PlanOptions(mode: .inference, batch: batch))
      try plan.checkFitsInMemory()
      let inference = try inferenceThroughput()
      return Report(
        benchmark: self, trainImagesPerSecond: .nan, inferImagesPerSecond: inference,
        batch1LatencyMicroseconds: try batchOneLatency(), gflops: .nan, layers: [],
        lossMilliseconds: .nan, stepMilliseconds: .nan, isa: plan.isa)
    }
    // Refuse what cannot fit before the synthetic images (4 batches) are made.
    let pixels = checkedProduct([batch, 4, network.input.elementCount ?? 0]) ?? Int.max
    let plan = try Planner.plan(
      network, PlanOptions(mode: .training, batch: batch, lowering: lowering))
    try plan.checkFitsInMemory(extraBytes: pixels)
    let images = syntheticImages(count: batch * 4)
    let training = try trainingThroughput(images)
    let inference = try inferenceThroughput()
    let latency = try batchOneLatency()
    let (layers, loss, step) = try profile()
    return Report(
      benchmark: self, trainImagesPerSecond: training.imagesPerSecond,
      inferImagesPerSecond: inference, batch1LatencyMicroseconds: latency,
      gflops: Double(plan.flopsPerSample) * training.imagesPerSecond / 1e9, layers: layers,
      lossMilliseconds: loss, stepMilliseconds: step, isa: plan.isa)
  }

  /// How many runs of `body` take about `seconds`, from one timed run (at least one).
  static func repetitions(toFill seconds: Double, _ body: () throws -> Void) rethrows -> Int {
    let start = monotonicNanoseconds()
    try body()
    let once = Double(monotonicNanoseconds() - start) / 1e9
    return max(1, min(100_000, Int(seconds / max(once, 1e-9))))
  }

  /// Random images and labels of the network's input shape (no data loading is timed).
  func syntheticImages(count: Int) -> LabelledImages {
    var generator = SplitMix64(seed: 1)
    let input = network.input
    let classes = max(1, network.layers.last?.output?.elementCount ?? 1)
    return LabelledImages(
      images: (0..<(count * (input.elementCount ?? 0))).map { _ in
        UInt8.random(in: 0...255, using: &generator)
      },
      labels: (0..<count).map { _ in UInt8(Int.random(in: 0..<min(classes, 256), using: &generator))
      },
      channels: input.channels, rows: input.height, columns: input.width)
  }

  /// Random pixels (and labels), as real data would be: on an all-zero input every branch in a
  /// kernel predicts perfectly and the figures flatter.
  func fill(_ executor: Executor) {
    let images = syntheticImages(count: executor.plan.options.batch)
    for index in executor.input.indices {
      executor.input[index] = Float(images.images[index]) / 256
    }
    if let labels = executor.labels {
      for index in labels.indices { labels[index] = Int32(images.labels[index]) }
    }
  }

  /// Whole optimizer steps (batch copy, forward, loss, backward, gradient averaging, SGD).
  func trainingThroughput(_ images: LabelledImages) throws -> (
    imagesPerSecond: Double, stepNanoseconds: Double
  ) {
    var options = TrainingOptions(network.train ?? TrainSpec.defaults)
    options.batch = batch
    options.threads = threads
    options.lowering = lowering
    options.epochs = .max
    let trainer = try Trainer(network: network, data: images, options: options)
    for _ in 0..<3 { try trainer.trainStep() }
    let stepsPerRound = try Self.repetitions(toFill: 0.2) { try trainer.trainStep() }
    let rounds = try (0..<repeats).map { _ -> Double in
      let start = monotonicNanoseconds()
      for _ in 0..<stepsPerRound { try trainer.trainStep() }
      return Double(monotonicNanoseconds() - start) / Double(stepsPerRound)
    }
    let step = median(rounds)
    return (Double(batch) / (step / 1e9), step)
  }

  /// Forward passes at `batch`, split across the threads like training.
  func inferenceThroughput() throws -> Double {
    let slices = workerSlices(batch: batch, threads: threads)
    let workers = slices.count
    let executors = try slices.map { _, count -> Executor in
      try Executor(
        plan: try Planner.plan(
          network, PlanOptions(mode: .inference, batch: count)))
    }
    for executor in executors { fill(executor) }
    let shared = UncheckedSendable(value: executors)
    func pass() {
      if workers == 1 {
        executors[0].forward()
      } else {
        DispatchQueue.concurrentPerform(iterations: workers) { shared.value[$0].forward() }
      }
    }
    for _ in 0..<3 { pass() }
    let passesPerRound = Self.repetitions(toFill: 0.2) { pass() }
    let rounds = (0..<repeats).map { _ -> Double in
      let start = monotonicNanoseconds()
      for _ in 0..<passesPerRound { pass() }
      return Double(monotonicNanoseconds() - start) / Double(passesPerRound)
    }
    return Double(batch) / (median(rounds) / 1e9)
  }

  /// One image at a time, its layers split across the threads: the median time of a forward
  /// pass.
  func batchOneLatency() throws -> Double {
    let executor = try Executor(
      plan: try Planner.plan(
        network, PlanOptions(mode: .inference, batch: 1, imageThreads: threads))
    )
    fill(executor)
    for _ in 0..<3 { executor.forward() }
    let count = max(
      repeats, min(repeats * 30, Self.repetitions(toFill: 0.5) { executor.forward() }))
    let samples = (0..<count).map { _ -> Double in
      let start = monotonicNanoseconds()
      executor.forward()
      return Double(monotonicNanoseconds() - start)
    }
    return median(samples) / 1e3
  }

  /// Per-layer times from the steps of one executor at `batch`, and the whole step measured
  /// without the timers around the same executor.
  func profile() throws -> ([LayerTime], loss: Double, step: Double) {
    let plan = try Planner.plan(
      network, PlanOptions(mode: .training, batch: batch, lowering: lowering))
    let executor = try Executor(plan: plan)
    fill(executor)
    for _ in 0..<3 { executor.trainStep() }
    var perStep = [[Double]](repeating: [], count: plan.steps.count)
    var wholeSteps: [Double] = []
    var buffer = [UInt64](repeating: 0, count: plan.steps.count)
    for _ in 0..<repeats {
      buffer.withUnsafeMutableBufferPointer { times in
        times.update(repeating: 0)
        executor.profileSteps(into: times)
      }
      for (index, time) in buffer.enumerated() { perStep[index].append(Double(time)) }
      let start = monotonicNanoseconds()
      executor.trainStep()
      wholeSteps.append(Double(monotonicNanoseconds() - start))
    }
    // A fused ReLU's time is in the row of the layer that applies it.
    let applying = Set(plan.fusedReLUs.values)
    var layers = network.layers.enumerated().map { index, layer in
      let type =
        plan.fusedReLUs[index] != nil
        ? "relu, fused" : layer.typeName + (applying.contains(index) ? "+relu" : "")
      return LayerTime(
        name: layer.name, type: type, forwardMilliseconds: 0, backwardMilliseconds: 0)
    }
    var loss = 0.0
    for (index, step) in plan.steps.enumerated() {
      let milliseconds = median(perStep[index]) / 1e6
      switch (step.phase, step.layer) {
      case (.forward, let layer?): layers[layer].forwardMilliseconds += milliseconds
      case (.backward, let layer?): layers[layer].backwardMilliseconds += milliseconds
      default: loss += milliseconds
      }
    }
    return (layers, loss, median(wholeSteps) / 1e6)
  }
}

/// The middle value (the mean of the middle two for an even count); NaN for none.
func median(_ values: [Double]) -> Double {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return .nan }
  let middle = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
