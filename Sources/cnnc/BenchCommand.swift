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

  @OptionGroup var batchOption: BatchOption
  /// Training and inference throughput are measured at this batch.
  var batch: Int { batchOption.batch ?? 64 }

  @OptionGroup var threadsOption: ThreadsOption
  var threads: Int { threadsOption.threads }

  @Option(parsing: .unconditional, help: "Timed repetitions; medians are reported.")
  var repeats: Int = 7

  @OptionGroup var jsonOption: JSONOption
  var json: Bool { jsonOption.json }

  @Flag(help: "Measure inference only: throughput at the batch and batch-1 latency.")
  var inferenceOnly = false

  @Option(
    help: ArgumentHelp(
      "How training plans compute convolutions: auto (Winograd and direct dW where faster) or "
        + "gemm (im2col + GEMM everywhere); default: the spec's train.lowering.",
      valueName: "lowering"))
  var lowering: ConvolutionLowering?

  @Option(
    help: ArgumentHelp(
      "Time this int8 checkpoint (from cnnc quantize) on the int8 kernels, beside the float "
        + "network's inference in the same run.",
      valueName: "int8-checkpoint"))
  var weights: String?

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
      if weights != nil {
        throw ValidationError("--gemm measures a matrix product; drop --weights")
      }
    }
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
    if let weights { return try runInt8(network, spec: spec, weights: weights) }
    do {
      let report = try Benchmark(
        network: network, batch: batch, threads: threads, repeats: repeats,
        inferenceOnly: inferenceOnly, lowering: lowering
      ).run()
      print(json ? report.json.text : report.text)
    } catch {
      throw CommandFailure("\(spec): \(error)")
    }
  }
}

extension BenchCommand {
  /// `--weights INT8`: the int8 network's inference and batch-1 latency beside the float one's.
  func runInt8(_ network: InferredNetwork, spec: String, weights: String) throws {
    let report: Int8Benchmark.Report
    do {
      let file = try SafeTensors.read(weights)
      guard QuantizedNetwork.isCheckpoint(file) else {
        throw CommandFailure(
          "\(weights): not an int8 checkpoint (make one with cnnc quantize); float speed does "
            + "not depend on the weights: cnnc bench \(spec)")
      }
      let quantized = try QuantizedNetwork(network, checkpoint: file, path: weights)
      report = try Int8Benchmark(quantized, batch: batch, threads: threads, repeats: repeats)
        .run(isa: try KernelISA.fromEnvironment(ProcessInfo.processInfo.environment))
    } catch let failure as CommandFailure {
      throw failure
    } catch {
      throw CommandFailure("\(spec): \(error)")
    }
    if json {
      print(
        JSON.object([
          ("cpu", .string(Machine.cpuModel)), ("isa", .string(report.isa.rawValue)),
          ("batch", .integer(batch)), ("threads", .integer(threads)),
          ("int8_images_per_second", .number(report.int8ImagesPerSecond)),
          ("float_images_per_second", .number(report.floatImagesPerSecond)),
          ("int8_batch1_latency_us", .number(report.int8Batch1LatencyMicroseconds)),
          ("float_batch1_latency_us", .number(report.floatBatch1LatencyMicroseconds)),
        ]).text)
      return
    }
    print(
      """
      \(network.name) int8: batch \(batch), \(threads) thread(s), medians of \(repeats)
      cpu: \(Machine.cpuModel); int8 kernel path: \(report.isa.rawValue)
      """)
    print(
      String(
        format: "int8 inference   %10.0f images/s  (%.2f× float)\nfloat inference  %10.0f images/s",
        report.int8ImagesPerSecond, report.int8ImagesPerSecond / report.floatImagesPerSecond,
        report.floatImagesPerSecond))
    print(
      String(
        format: "int8 batch 1     %10.1f µs\nfloat batch 1    %10.1f µs",
        report.int8Batch1LatencyMicroseconds, report.floatBatch1LatencyMicroseconds))
  }

  /// `--gemm M N K`: GFLOP/s of each orientation and its fraction of the FMA peak.
  func runGEMM() throws {
    let isa: KernelISA
    do {
      isa = try KernelISA.fromEnvironment(ProcessInfo.processInfo.environment)
    } catch {
      throw CommandFailure(error)
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

/// `cnnc bench`'s two ways of printing a report.
extension Benchmark.Report {
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
