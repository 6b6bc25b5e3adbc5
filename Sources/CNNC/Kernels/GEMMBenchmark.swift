import Foundation

/// What `cnnc bench --gemm` measures: one product's speed on one kernel path, beside that
/// path's FMA peak measured on the same core.
public struct GEMMBenchmark: Sendable {
  public var isa: KernelISA
  public var m: Int
  public var n: Int
  public var k: Int
  public var repeats: Int

  public init(isa: KernelISA, m: Int, n: Int, k: Int, repeats: Int = 7) {
    self.isa = isa
    self.m = m
    self.n = n
    self.k = k
    self.repeats = repeats
  }

  /// One orientation's measured speed.
  public struct Result: Sendable {
    /// "NN", "NT" (B transposed), "TN" (A transposed).
    public var orientation: String
    /// The median over the repeats.
    public var gflops: Double
  }

  /// The median GFLOP/s of each orientation training uses, each repeat timing enough products
  /// to make at least 20 MFLOP (one product of 256×256×256 is 34 MFLOP).
  public func run() -> [Result] {
    let a = (0..<(m * k)).map { Float($0 % 7) * 0.1 }
    let b = (0..<(k * n)).map { Float($0 % 5) * 0.1 }
    var c = [Float](repeating: 0, count: m * n)
    var workspace = [Float](repeating: 0, count: max(gemmWorkspaceFloats(m: m, n: n, k: k), 1))
    let flops = 2 * Double(m) * Double(n) * Double(k)
    let perRepeat = max(1, Int(2e9 * 0.01 / max(flops, 1)))
    return [("NN", false, false), ("NT", false, true), ("TN", true, false)].map {
      name, transposeA, transposeB in
      let (lda, ldb) = (transposeA ? m : k, transposeB ? k : n)
      func product() {
        gemm(
          isa, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda,
          b: b, ldb: ldb, beta: 0, c: &c, ldc: n, workspace: &workspace)
      }
      product()
      let times = (0..<repeats).map { _ -> Double in
        let start = monotonicNanoseconds()
        for _ in 0..<perRepeat { product() }
        return Double(monotonicNanoseconds() - start) / Double(perRepeat)
      }
      let sorted = times.sorted()
      return Result(orientation: name, gflops: flops / sorted[sorted.count / 2])
    }
  }
}

/// Facts about this machine that speed figures are quoted with.
public enum Machine {
  /// The CPU's model name as `lscpu` prints it ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8488C"),
  /// or "unknown".
  public static var cpuModel: String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
      return "unknown"
    }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
      if let colon = line.firstIndex(of: ":") {
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      }
    }
    return "unknown"
  }
}
