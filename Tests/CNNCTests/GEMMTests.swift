import Testing

@testable import CNNC

/// cnnc's GEMM on every instruction-set path this machine has, against a plain triple loop in
/// Double, on shapes that exercise the edges: sizes 1 and primes, sizes that are not multiples
/// of any register tile, sizes past the cache blocks (KC = 256, NC = 512, MC = 96), all four
/// transposes, leading dimensions wider than the matrices, and beta 0, 1 and ½.
@Suite struct GEMMTests {
  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (1, 17, 3), (5, 1, 7), (13, 31, 29), (12, 32, 8), (97, 37, 300), (7, 600, 5),
    (100, 33, 257), (6, 16, 1), (50, 64, 500), (4, 9, 33), (2, 40, 17), (3, 5, 300),
  ]

  static func reference(
    _ a: [Float], _ b: [Float], _ c: [Float], m: Int, n: Int, k: Int, transposeA: Bool,
    transposeB: Bool, lda: Int, ldb: Int, ldc: Int, beta: Float
  ) -> [Double] {
    var result = [Double](repeating: 0, count: m * ldc)
    for i in 0..<m {
      for j in 0..<n {
        var sum = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
        for p in 0..<k {
          let x = transposeA ? a[p * lda + i] : a[i * lda + p]
          let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
          sum += Double(x) * Double(y)
        }
        result[i * ldc + j] = sum
      }
    }
    return result
  }

  @Test(arguments: KernelISA.supported)
  func matchesTheReference(_ isa: KernelISA) {
    var seed: UInt64 = 1
    for (m, n, k) in Self.shapes {
      for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
        for beta: Float in [0, 1, 0.5] {
          seed += 1
          let (rowsA, columnsA) = transposeA ? (k, m) : (m, k)
          let (rowsB, columnsB) = transposeB ? (n, k) : (k, n)
          // Leading dimensions three wider than the matrices: strides, not just widths.
          let (lda, ldb, ldc) = (columnsA + 3, columnsB + 3, n + 3)
          let a = randomValues(rowsA * lda, seed: seed)
          let b = randomValues(rowsB * ldb, seed: seed + 1000)
          // With beta 0, C must be written without being read: fill it with NaN.
          let c =
            beta == 0
            ? [Float](repeating: .nan, count: m * ldc) : randomValues(m * ldc, seed: seed + 2000)
          var actual = c
          var workspace = [Float](
            repeating: .nan, count: max(gemmWorkspaceFloats(m: m, n: n, k: k), 1))
          a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
              actual.withUnsafeMutableBufferPointer { c in
                workspace.withUnsafeMutableBufferPointer { w in
                  gemm(
                    isa, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                    a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb, beta: beta,
                    c: c.baseAddress!, ldc: ldc, workspace: w.baseAddress!)
                }
              }
            }
          }
          let expected = Self.reference(
            a, b, c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, lda: lda,
            ldb: ldb, ldc: ldc, beta: beta)
          var worst = 0.0
          for i in 0..<m {
            for j in 0..<n {
              // Float32 sums of k products of values in [-1, 1]: error grows like √k·ε.
              let error = abs(Double(actual[i * ldc + j]) - expected[i * ldc + j])
              worst = max(worst, error / (1e-5 * Double(k).squareRoot() + 1e-6))
            }
            // The padding columns of C are never touched.
            for j in n..<ldc {
              #expect(
                actual[i * ldc + j].bitPattern == c[i * ldc + j].bitPattern,
                "\(isa) wrote past column \(n)")
            }
          }
          #expect(
            worst <= 1,
            "\(isa) \(m)×\(n)×\(k) \(transposeA ? "T" : "N")\(transposeB ? "T" : "N") beta \(beta)")
        }
      }
    }
  }

  /// A prepacked A gives bit for bit what packing it inside the product gives.
  @Test(arguments: KernelISA.supported)
  func prepackedMatchesUnpacked(_ isa: KernelISA) throws {
    for (m, n, k) in Self.shapes {
      for transposeA in [false, true] {
        let lda = transposeA ? m : k
        let a = randomValues(m * k, seed: 5)
        let b = randomValues(k * n, seed: 6)
        var plain = [Float](repeating: 0, count: m * n)
        var prepacked = plain
        var workspace = [Float](repeating: 0, count: max(gemmWorkspaceFloats(m: m, n: n, k: k), 1))
        var packed = [Float](repeating: 0, count: max(try #require(packedAFloats(m: m, k: k)), 1))
        gemm(
          isa, transposeA: transposeA, transposeB: false, m: m, n: n, k: k, a: a, lda: lda, b: b,
          ldb: n, beta: 0, c: &plain, ldc: n, workspace: &workspace)
        packA(isa, transpose: transposeA, m: m, k: k, a: a, lda: lda, into: &packed)
        gemm(
          isa, packedA: packed, transposeB: false, m: m, n: n, k: k, b: b, ldb: n, beta: 0,
          c: &prepacked, ldc: n, workspace: &workspace)
        #expect(plain.map(\.bitPattern) == prepacked.map(\.bitPattern), "\(isa) \(m)×\(n)×\(k)")
      }
    }
  }

  /// A bias per column joins the product (a dense layer's forward), on the packed route and on
  /// the dot-product route of products with few rows.
  @Test(arguments: KernelISA.supported)
  func columnBiasJoinsTheProduct(_ isa: KernelISA) {
    for (m, n, k) in [(1, 37, 300), (8, 45, 17), (13, 70, 260), (64, 33, 9)] {
      let a = randomValues(m * k, seed: 21)
      let b = randomValues(n * k, seed: 22)
      let bias = randomValues(n, seed: 23)
      var c = [Float](repeating: .nan, count: m * n)
      var workspace = [Float](repeating: 0, count: gemmWorkspaceFloats(m: m, n: n, k: k))
      gemm(
        isa, transposeA: false, transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k,
        columnBias: bias, c: &c, ldc: n, workspace: &workspace)
      let expected = Self.reference(
        a, b, [], m: m, n: n, k: k, transposeA: false, transposeB: true, lda: k, ldb: k, ldc: n,
        beta: 0)
      for i in 0..<m {
        for j in 0..<n {
          let error = abs(Double(c[i * n + j]) - (expected[i * n + j] + Double(bias[j])))
          #expect(
            error <= 1e-5 * Double(k).squareRoot() + 1e-5, "\(isa) \(m)×\(n)×\(k) at \(i),\(j)")
        }
      }
    }
  }

  /// The same product twice gives the same bits (no dependence on leftover workspace).
  @Test(arguments: KernelISA.supported)
  func repeatsBitForBit(_ isa: KernelISA) {
    let (m, n, k) = (37, 70, 300)
    let a = randomValues(m * k, seed: 8)
    let b = randomValues(k * n, seed: 9)
    var first = [Float](repeating: 0, count: m * n)
    var second = first
    var workspace = [Float](repeating: 0, count: gemmWorkspaceFloats(m: m, n: n, k: k))
    gemm(
      isa, transposeA: false, transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k,
      beta: 0, c: &first, ldc: n, workspace: &workspace)
    workspace = workspace.map { _ in .nan }
    gemm(
      isa, transposeA: false, transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k,
      beta: 0, c: &second, ldc: n, workspace: &workspace)
    #expect(first.map(\.bitPattern) == second.map(\.bitPattern))
  }

  @Test func environmentChoosesThePath() throws {
    #expect(try KernelISA.fromEnvironment([:]) == KernelISA.best)
    #expect(try KernelISA.fromEnvironment(["CNNC_ISA": "portable"]) == .portable)
    #expect(throws: PlanError.self) { try KernelISA.fromEnvironment(["CNNC_ISA": "sse9"]) }
    for isa in KernelISA.allCases where !isa.isSupported {
      #expect(throws: PlanError.self) { try KernelISA.fromEnvironment(["CNNC_ISA": isa.rawValue]) }
    }
    #expect(KernelISA.supported.contains(.portable))
  }
}
