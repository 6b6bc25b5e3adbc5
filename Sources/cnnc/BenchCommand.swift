import ArgumentParser
import CNNC
import Dispatch
import Foundation

/// `cnnc bench`: like `caffe time`, with warm-up excluded, medians of repeated runs, and a
/// per-layer table measured inside the same steps it is compared with.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure training and inference speed, batch-1 latency and a per-layer profile.")

  @Argument(help: "The spec file (YAML); not needed with --gemm.")
  var spec: String?

  @Option(parsing: .unconditional, help: "Batch size for training and inference throughput.")
  var batch: Int = 64

  @Option(parsing: .unconditional, help: "Worker threads (each runs its slice of every batch).")
  var threads: Int = 1

  @Option(parsing: .unconditional, help: "Timed repetitions; medians are reported.")
  var repeats: Int = 7

  @Flag(help: "Print one JSON object.")
  var json = false

  @Flag(help: "Measure inference only: throughput at the batch and batch-1 latency.")
  var inferenceOnly = false

  @Option(
    parsing: .upToNextOption,
    help: "Instead of a network: time one M×N×K matrix product on the kernel path a plan would use."
  )
  var gemm: [Int] = []

  func validate() throws {
    if gemm.isEmpty && spec == nil { throw ValidationError("give a SPEC, or --gemm M N K") }
    if !gemm.isEmpty {
      guard gemm.count == 3, gemm.allSatisfy({ (1...8192).contains($0) }) else {
        throw ValidationError("--gemm takes three sizes M N K, each between 1 and 8192")
      }
      if spec != nil { throw ValidationError("--gemm measures a matrix product, not a SPEC") }
    }
    if batch < 1 || batch > 65_536 { throw ValidationError("--batch must be between 1 and 65536") }
    if threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256") }
    if repeats < 1 || repeats > 1000 {
      throw ValidationError("--repeats must be between 1 and 1000")
    }
  }

  func run() throws {
    guard let spec else { return try runGEMM() }
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    file.printDiagnostics(result.diagnostics.errors)
    guard result.isValid, let network = result.network else { throw ExitCode(1) }
    do {
      let report = try Benchmark(
        network: network, batch: batch, threads: threads, repeats: repeats,
        inferenceOnly: inferenceOnly
      ).run()
      print(json ? report.json.text : report.text)
    } catch {
      fail("\(spec): \(error)")
    }
  }
}

extension BenchCommand {
  /// `--gemm M N K`: GFLOP/s of each orientation and its fraction of the FMA peak.
  func runGEMM() throws {
    let isa: KernelISA
    do {
      isa = try KernelISA.fromEnvironment(ProcessInfo.processInfo.environment)
    } catch {
      fail("\(error)")
    }
    let (m, n, k) = (gemm[0], gemm[1], gemm[2])
    let peak = measuredFMAPeakGFLOPS(isa)
    let results = GEMMBenchmark(isa: isa, m: m, n: n, k: k, repeats: repeats).run()
    if json {
      print(
        JSON.object([
          ("cpu", .string(Machine.cpuModel)), ("isa", .string(isa.rawValue)),
          ("m", .integer(m)), ("n", .integer(n)), ("k", .integer(k)),
          ("fma_peak_gflops", .number(peak)),
          (
            "products",
            .array(
              results.map {
                .object([
                  ("orientation", .string($0.orientation)), ("gflops", .number($0.gflops)),
                  ("fraction_of_peak", .number($0.gflops / peak)),
                ])
              })
          ),
        ]).text)
      return
    }
    print("cpu: \(Machine.cpuModel); kernel path: \(isa.rawValue)")
    print(String(format: "FMA peak (one core, register-only FMA loop): %.1f GFLOP/s", peak))
    for result in results {
      print(
        String(
          format: "%@ %d×%d×%d: %6.1f GFLOP/s  (%.0f%% of peak)", result.orientation, m, n, k,
          result.gflops, 100 * result.gflops / peak))
    }
  }
}

/// The measurements behind `cnnc bench`.
struct Benchmark {
  let network: InferredNetwork
  let batch: Int
  let threads: Int
  let repeats: Int
  /// Skip training throughput and the per-layer profile (big nets, inference comparisons).
  var inferenceOnly = false

  struct LayerTime {
    var name: String
    var type: String
    var forwardMilliseconds: Double
    var backwardMilliseconds: Double
  }

  struct Report {
    var benchmark: Benchmark
    var trainImagesPerSecond: Double
    var inferImagesPerSecond: Double
    var batch1LatencyMicroseconds: Double
    var gflops: Double
    var layers: [LayerTime]
    var lossMilliseconds: Double
    var stepMilliseconds: Double
    var isa: KernelISA

    var layersSumMilliseconds: Double {
      layers.reduce(lossMilliseconds) { $0 + $1.forwardMilliseconds + $1.backwardMilliseconds }
    }

    var json: JSON {
      // Figures an --inference-only run does not measure are null.
      func measured(_ value: Double) -> JSON { value.isNaN ? .null : .number(value) }
      return .object([
        ("cpu", .string(Machine.cpuModel)), ("isa", .string(isa.rawValue)),
        ("batch", .integer(benchmark.batch)), ("threads", .integer(benchmark.threads)),
        ("train_images_per_second", measured(trainImagesPerSecond)),
        ("infer_images_per_second", .number(inferImagesPerSecond)),
        ("batch1_latency_us", .number(batch1LatencyMicroseconds)), ("gflops", measured(gflops)),
        ("step_ms", measured(stepMilliseconds)), ("layers_sum_ms", measured(layersSumMilliseconds)),
        ("loss_ms", measured(lossMilliseconds)),
        (
          "layers",
          .array(
            layers.map { layer in
              .object([
                ("name", .string(layer.name)), ("type", .string(layer.type)),
                ("forward_ms", .number(layer.forwardMilliseconds)),
                ("backward_ms", .number(layer.backwardMilliseconds)),
              ])
            })
        ),
      ])
    }

    var text: String {
      var lines = [
        "\(benchmark.network.name): batch \(benchmark.batch), \(benchmark.threads) thread(s), medians of \(benchmark.repeats)",
        "cpu: \(Machine.cpuModel); kernel path: \(isa.rawValue)",
        String(format: "training   %10.0f images/s  (%.1f GFLOP/s)", trainImagesPerSecond, gflops),
        String(
          format: inferImagesPerSecond < 100
            ? "inference  %10.2f images/s" : "inference  %10.0f images/s",
          inferImagesPerSecond),
        String(format: "batch 1    %10.1f µs", batch1LatencyMicroseconds),
      ]
      if benchmark.inferenceOnly {
        lines.remove(at: 2)
        return lines.joined(separator: "\n")
      }
      lines += ["", "per layer, one training step at batch \(benchmark.batch) on one thread (ms):"]
      var rows = [["layer", "type", "forward", "backward"]]
      for layer in layers {
        rows.append([
          layer.name, layer.type, String(format: "%.3f", layer.forwardMilliseconds),
          String(format: "%.3f", layer.backwardMilliseconds),
        ])
      }
      rows.append(["loss", "", String(format: "%.3f", lossMilliseconds), ""])
      lines += CheckReport.aligned(rows, rightAligned: [2, 3])
      lines.append(
        String(
          format: "layers add up to %.3f ms; the whole step measured %.3f ms (%+.1f%%)",
          layersSumMilliseconds, stepMilliseconds,
          100 * (layersSumMilliseconds / stepMilliseconds - 1)))
      return lines.joined(separator: "\n")
    }
  }

  func run() throws -> Report {
    if inferenceOnly {
      let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: batch))
      try plan.checkFitsInMemory()
      let inference = try inferenceThroughput()
      return Report(
        benchmark: self, trainImagesPerSecond: .nan, inferImagesPerSecond: inference,
        batch1LatencyMicroseconds: try batchOneLatency(), gflops: .nan, layers: [],
        lossMilliseconds: .nan, stepMilliseconds: .nan, isa: plan.isa)
    }
    // Refuse what cannot fit before the synthetic images (4 batches) are made.
    let pixels = checkedProduct([batch, 4, network.input.elementCount ?? 0]) ?? Int.max
    let plan = try Planner.plan(network, PlanOptions(mode: .training, batch: batch))
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
    let workers = max(1, min(threads, batch))
    let executors = try (0..<workers).map { worker -> Executor in
      let count = batch / workers + (worker < batch % workers ? 1 : 0)
      return try Executor(
        plan: try Planner.plan(network, PlanOptions(mode: .inference, batch: count)))
    }
    for executor in executors { fill(executor) }
    let shared = SharedExecutors(executors: executors)
    func pass() {
      if workers == 1 {
        executors[0].forward()
      } else {
        DispatchQueue.concurrentPerform(iterations: workers) { shared.executors[$0].forward() }
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
        network, PlanOptions(mode: .inference, batch: 1, imageThreads: threads)))
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
    let plan = try Planner.plan(network, PlanOptions(mode: .training, batch: batch))
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
    var layers = network.layers.map {
      LayerTime(name: $0.name, type: $0.typeName, forwardMilliseconds: 0, backwardMilliseconds: 0)
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

/// Executors handed to concurrent iterations, each of which uses only its own.
private struct SharedExecutors: @unchecked Sendable {
  let executors: [Executor]
}

func median(_ values: [Double]) -> Double {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return .nan }
  let middle = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
