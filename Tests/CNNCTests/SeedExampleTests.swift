import Testing

@testable import CNNC

/// The worked example of the CNN notes cnnc started from (a note on forward and backward
/// passes, kept outside this repository; the formulas are all here): a 3×3 input X = [a b c; d e f; g h j]
/// and a 2×2 kernel W = [w x; y z] give Y = [p q; r s] with p = aw + bx + dy + ez, and so on;
/// δX = δY ⊗ Rot(W) (full correlation), and ∂E/∂w = Σ δ_ij · z_{i+m, j+n}.
@Suite struct SeedExampleTests {
  // X = [1 2 3; 4 5 6; 7 8 9], W = [1 2; 3 4] (w = 1, x = 2, y = 3, z = 4), δY = [1 2; 3 4].
  static let spec = "input: [1, 3, 3]\nlayers:\n  - {type: conv, name: c, filters: 1, kernel: 2}\n"

  @Test func forwardAndBackwardMatchTheHandWorkedNumbers() throws {
    let network = try InferredNetwork(yaml: Self.spec)
    let plan = try Planner.plan(
      network, PlanOptions(mode: .training, batch: 1, loss: .outputGradient, inputGradient: true))
    let executor = try Executor(plan: plan)
    _ = executor.input.update(fromContentsOf: [1, 2, 3, 4, 5, 6, 7, 8, 9] as [Float])
    _ = try #require(executor.parameter("c.weight")).update(
      fromContentsOf: [1, 2, 3, 4] as [Float])
    _ = try #require(executor.parameter("c.bias")).update(fromContentsOf: [0.5] as [Float])
    executor.forward()
    // p = 1·1 + 2·2 + 4·3 + 5·4 = 37, q = 2 + 6 + 15 + 24 = 47, r = 4 + 10 + 21 + 32 = 67,
    // s = 5 + 12 + 24 + 36 = 77; plus the bias 0.5.
    #expect(Array(executor.output) == [37.5, 47.5, 67.5, 77.5])

    _ = try #require(executor.lossGradient).update(fromContentsOf: [1, 2, 3, 4] as [Float])
    executor.backward()
    // δa = δp·w = 1; δb = δp·x + δq·w = 2 + 2; δc = δq·x = 4; δd = δp·y + δr·w = 3 + 3;
    // δe = δp·z + δq·y + δr·x + δs·w = 4 + 6 + 6 + 4; δf = δq·z + δs·x = 8 + 8; δg = δr·y = 9;
    // δh = δr·z + δs·y = 12 + 12; δj = δs·z = 16.
    #expect(Array(try #require(executor.inputGradient)) == [1, 4, 4, 6, 20, 16, 9, 24, 16])
    // ∂E/∂w = δp·a + δq·b + δr·d + δs·e = 1 + 4 + 12 + 20; ∂E/∂x = 2 + 6 + 15 + 24;
    // ∂E/∂y = 4 + 10 + 21 + 32; ∂E/∂z = 5 + 12 + 24 + 36; ∂E/∂b = Σ δ = 10.
    #expect(Array(try #require(executor.parameterGradient("c.weight"))) == [37, 47, 67, 77])
    #expect(Array(try #require(executor.parameterGradient("c.bias"))) == [10])
  }

  /// The note's im2col matrix for the same example: columns are the four windows.
  @Test func im2colOfTheExample() {
    let geometry = WindowGeometry(
      channels: 1, inputHeight: 3, inputWidth: 3, kernelHeight: 2, kernelWidth: 2,
      strideHeight: 1, strideWidth: 1, padHeight: 0, padWidth: 0, outputHeight: 2, outputWidth: 2)
    let image: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    var columns = [Float](repeating: -1, count: 16)
    image.withUnsafeBufferPointer { x in
      columns.withUnsafeMutableBufferPointer { im2col(x.baseAddress!, $0.baseAddress!, geometry) }
    }
    // Rows are kernel positions (w, x, y, z), columns the windows (p, q, r, s):
    // X = [a b d e; b c e f; d e g h; e f h j] transposed into row-major rows.
    #expect(columns == [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9])

    var folded = [Float](repeating: 0, count: 9)
    columns.withUnsafeBufferPointer { c in
      folded.withUnsafeMutableBufferPointer {
        col2imAdding(c.baseAddress!, $0.baseAddress!, geometry)
      }
    }
    // Each pixel comes back once per window that holds it: the corners 1×, edges 2×, centre 4×.
    #expect(folded == [1, 4, 3, 8, 20, 12, 7, 16, 9])
  }
}
