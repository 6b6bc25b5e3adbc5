import Foundation
import Testing

@testable import CNNC

/// `cnnc bench` reports the kernel path and CPU beside its figures.
@Suite struct BenchCommandTests {
  typealias CLI = CommandLineTests

  static func json(_ run: CLI.Run) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
  }

  @Test func gemmReportsEachOrientationAgainstThePeak() throws {
    let run = try CLI.run(["bench", "--gemm", "20", "30", "40", "--repeats", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try Self.json(run)
    #expect(
      report["isa"] as? String
        == (try KernelISA.fromEnvironment(ProcessInfo.processInfo.environment)).rawValue)
    #expect(report["cpu"] as? String == Machine.cpuModel)
    #expect((report["fma_peak_gflops"] as? Double ?? 0) > 0)
    let products = try #require(report["products"] as? [[String: Any]])
    #expect(products.compactMap { $0["orientation"] as? String } == ["NN", "NT", "TN"])
    for product in products { #expect((product["gflops"] as? Double ?? 0) > 0) }
  }

  @Test func aForcedPathIsUsedOrRefused() throws {
    for isa in KernelISA.allCases {
      let run = try CLI.run(
        ["bench", "--gemm", "8", "8", "8", "--repeats", "1", "--json"],
        environment: ["CNNC_ISA": isa.rawValue])
      if isa.isSupported {
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.json(run)["isa"] as? String == isa.rawValue)
      } else {
        #expect(run.status == 1)
        #expect(run.stderr.contains("lacks the \(isa.rawValue) instructions"), "\(run.stderr)")
      }
    }
  }

  @Test func networkBenchNamesPathAndCPU() throws {
    let (spec, _) = try RunCommandTests.specFile()
    let run = try CLI.run(["bench", spec, "--batch", "8", "--repeats", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try Self.json(run)
    #expect(
      report["isa"] as? String
        == (try KernelISA.fromEnvironment(ProcessInfo.processInfo.environment)).rawValue)
    #expect(report["cpu"] as? String == Machine.cpuModel)
    #expect((report["train_images_per_second"] as? Double ?? 0) > 0)
    for key in [
      "batch", "threads", "infer_images_per_second", "batch1_latency_us", "gflops", "step_ms",
      "layers_sum_ms", "loss_ms", "layers",
    ] {
      #expect(report[key] != nil, "no \(key)")
    }
    // The reported sum is the rows' sum (forward and backward of every layer, and the loss).
    let layers = try #require(report["layers"] as? [[String: Any]])
    #expect(
      layers.map { $0["name"] as? String }
        == (try InferredNetwork(yaml: smallNet)).layers.map(\.name))
    let rows = layers.reduce(report["loss_ms"] as? Double ?? .nan) {
      $0 + ($1["forward_ms"] as? Double ?? .nan) + ($1["backward_ms"] as? Double ?? .nan)
    }
    let sum = try #require(report["layers_sum_ms"] as? Double)
    #expect(abs(rows - sum) <= 1e-9 * sum, "\(rows) vs \(sum)")
  }
}
