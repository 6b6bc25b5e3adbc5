/// `cnnc bench SPEC --weights INT8`: the int8 network's inference at the batch and its batch-1
/// latency on `Int8Executor`, beside the float network's inference measured in the same run
/// (the same spec on cnnc's float kernels), so the ratio is taken on one machine at one moment.
/// Medians of repeated runs after a warm-up, on random pixels; the int8 times include
/// quantizing the float input, as a caller with float images pays it.
public struct Int8Benchmark: Sendable {
  public let network: QuantizedNetwork
  public let batch: Int
  public let threads: Int
  public let repeats: Int

  public init(_ network: QuantizedNetwork, batch: Int = 64, threads: Int = 1, repeats: Int = 7) {
    self.network = network
    self.batch = batch
    self.threads = threads
    self.repeats = repeats
  }

  public struct Report: Sendable {
    public var int8ImagesPerSecond: Double
    public var int8Batch1LatencyMicroseconds: Double
    public var floatImagesPerSecond: Double
    public var floatBatch1LatencyMicroseconds: Double
    /// The int8 kernels' path.
    public var isa: KernelISA
  }

  public func run(isa: KernelISA = .best) throws -> Report {
    let float = Benchmark(
      network: network.plan.network, batch: batch, threads: threads, repeats: repeats,
      inferenceOnly: true)
    // The float network first: a batch its plan cannot hold is refused before any timing.
    let floatImagesPerSecond = try float.inferenceThroughput()
    let floatLatency = try float.batchOneLatency()
    let executor = try Int8Executor(network, batch: batch, threads: threads, isa: isa)
    let latencyExecutor = try Int8Executor(network, batch: 1, threads: threads, isa: isa)
    let images = float.syntheticImages(count: batch).images.map { Float($0) / 256 }
    return images.withUnsafeBufferPointer { images in
      let base = images.baseAddress!
      let int8 = throughput { _ = executor.run(base, count: batch) }
      let latency = median(
        samples(of: { _ = latencyExecutor.run(base, count: 1) }, atLeast: repeats * 30))
      return Report(
        int8ImagesPerSecond: Double(batch) / (int8 / 1e9),
        int8Batch1LatencyMicroseconds: latency / 1e3,
        floatImagesPerSecond: floatImagesPerSecond,
        floatBatch1LatencyMicroseconds: floatLatency, isa: executor.isa)
    }
  }

  /// Median nanoseconds per call of `body`, over `repeats` rounds of about 0.2 s each.
  private func throughput(_ body: () -> Void) -> Double {
    for _ in 0..<3 { body() }
    let callsPerRound = Benchmark.repetitions(toFill: 0.2, body)
    let rounds = (0..<repeats).map { _ -> Double in
      let start = monotonicNanoseconds()
      for _ in 0..<callsPerRound { body() }
      return Double(monotonicNanoseconds() - start) / Double(callsPerRound)
    }
    return median(rounds)
  }

  /// Nanoseconds of single calls of `body`: as many as fill half a second, at least `count`.
  private func samples(of body: () -> Void, atLeast count: Int) -> [Double] {
    for _ in 0..<3 { body() }
    let calls = max(count, min(count * 30, Benchmark.repetitions(toFill: 0.5, body)))
    return (0..<calls).map { _ in
      let start = monotonicNanoseconds()
      body()
      return Double(monotonicNanoseconds() - start)
    }
  }
}
